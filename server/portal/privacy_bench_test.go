package portal

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// BenchmarkErasureVsEdit times a subject erasure on the demo data (profile,
// referrals and follow-ups erased, every encounter naming the young person
// redacted, history scrubbed, phones found, WAL truncated) against a plain
// one-field edit through the server replica, in the same run, and reports
// the ratio. Each iteration erases a different young person:
//
//	go test -run XXX -bench ErasureVsEdit -benchtime 40x ./server/portal/
func BenchmarkErasureVsEdit(b *testing.B) {
	db := MustOpenDemo(b)
	ctx := context.Background()
	yps, err := db.Records(ctx, domain.RecordFilter{Type: syncengine.TypeYoungPerson})
	if err != nil {
		b.Fatal(err)
	}
	yps = slices.DeleteFunc(yps, func(r *syncengine.Record) bool { return r.Erased != nil || r.Bool("safeguarding_hold") })
	encs, err := db.Records(ctx, domain.RecordFilter{Type: syncengine.TypeEncounter})
	if err != nil {
		b.Fatal(err)
	}
	if b.N > len(yps) {
		b.Fatalf("at most %d iterations (one young person each); use -benchtime %dx", len(yps), len(yps))
	}
	rep, _, err := db.ServerReplica(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var edit, erase time.Duration
	redacted := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		yp := yps[i]
		start := time.Now()
		if _, err := rep.Edit("bench", func(tx *syncengine.Txn) error {
			return tx.Set(encs[i%len(encs)].ID, "area", fmt.Sprintf("area %d", i))
		}); err != nil {
			b.Fatal(err)
		}
		edit += time.Since(start)
		req := domain.ErasureRequest{By: "bench", YoungPersonID: string(yp.ID), Reason: "benchmark erasure", Erase: []string{string(yp.ID)}}
		for _, kind := range []string{syncengine.TypeReferral, syncengine.TypeFollowUp} {
			rs, err := db.Records(ctx, domain.RecordFilter{Type: kind, YoungPersonID: string(yp.ID)})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				req.Erase = append(req.Erase, string(r.ID))
			}
		}
		for _, e := range encs {
			if slices.Contains(e.Set("young_people"), string(yp.ID)) {
				req.Redact = append(req.Redact, domain.Redaction{EncounterID: string(e.ID), Unlink: string(yp.ID), Words: []string{str(yp, "known_as")}})
			}
		}
		start = time.Now()
		res, err := db.Erase(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		erase += time.Since(start)
		redacted += len(res.Redacted)
	}
	b.ReportMetric(float64(erase.Microseconds())/float64(b.N)/1000, "ms/erasure")
	b.ReportMetric(float64(edit.Microseconds())/float64(b.N)/1000, "ms/edit")
	b.ReportMetric(float64(erase)/float64(edit), "erasure/edit")
	b.ReportMetric(float64(redacted)/float64(b.N), "encounters/erasure")
}
