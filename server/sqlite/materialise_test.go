package sqlite_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestRequestStoresEachRecordsLastState: a sync whose changesets edit one
// record several times (its row is written once, at the end of the
// request) leaves the record as the phone has it, filed under the last
// changeset's seq, linked to every changeset that touched it, and a second
// phone pulling the log rebuilds the same record.
func TestRequestStoresEachRecordsLastState(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustOrg(t, db)
	phones := groupPhones(t, db, 2)
	p := phones[0]
	rep, mine := p.replica(t, db)
	var enc syncengine.RecordID
	var css []*syncengine.Changeset
	for _, area := range []string{"park", "pier", "station"} {
		css = append(css, setArea(t, db, rep, &enc, area, area+" "))
	}
	res := p.push(t, db, css)
	want, err := mine.Record(enc)
	must(t, err)
	got, err := db.RecordState(ctx, string(enc))
	must(t, err)
	if got == nil || !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(want)) {
		t.Fatalf("stored record differs from the phone's: %+v", got)
	}
	var updated, links int64
	must(t, db.SQL().QueryRow(`SELECT updated_seq FROM records WHERE id = ?`, string(enc)).Scan(&updated))
	if last := res.Results[len(res.Results)-1].Seq; updated != last {
		t.Errorf("updated_seq %d, want the last changeset's %d", updated, last)
	}
	must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM changeset_records WHERE record_id = ?`, string(enc)).Scan(&links))
	if links != int64(len(css)) {
		t.Errorf("%d changeset_records rows, want %d", links, len(css))
	}

	// Another phone of the team pulls the log and rebuilds the same record.
	q := phones[1]
	other, theirs := q.replica(t, db)
	cursor := ""
	for range 100 {
		r, err := db.Sync(ctx, domain.SyncRequest{Device: q.dev, Person: q.person, Cursor: cursor})
		must(t, err)
		for _, b := range r.Snapshots {
			recs, err := syncengine.DecodeSnapshot(b)
			must(t, err)
			for _, rec := range recs {
				theirs.Put(rec)
			}
		}
		for _, b := range r.Changesets {
			cs, err := syncengine.DecodeChangeset(b)
			must(t, err)
			_, err = other.Apply(cs)
			must(t, err)
		}
		cursor = r.Cursor
		if !r.More {
			break
		}
	}
	pulled, err := theirs.Record(enc)
	must(t, err)
	if pulled == nil || !bytes.Equal(syncengine.EncodeRecord(pulled), syncengine.EncodeRecord(want)) {
		t.Fatalf("the second phone's copy differs: %+v", pulled)
	}
}
