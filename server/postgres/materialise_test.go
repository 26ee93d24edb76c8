package postgres_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// setArea edits the phone's encounter (made on the first call) to area,
// inserting note first if given, and keeps the changeset for the next sync.
func (p *phone) setArea(enc *syncengine.RecordID, area, note string) *syncengine.Changeset {
	p.t.Helper()
	return p.edit(func(tx *syncengine.Txn) (err error) {
		if *enc == "" {
			if *enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			must(p.t, tx.Set(*enc, "team_id", "team_a"))
			must(p.t, tx.Set(*enc, "started_at", time.Now().Add(-time.Hour)))
		}
		if note != "" {
			if err := tx.InsertText(*enc, "note", 0, note); err != nil {
				return err
			}
		}
		return tx.Set(*enc, "area", area)
	})
}

// A sync whose changesets edit one record several times (its row written
// once, at the end of the request) leaves the record as the phone has it,
// filed under the last changeset's seq, linked to every changeset that
// touched it, and findable by its last words only; a second phone pulling
// the log rebuilds the same record.
func TestRequestStoresEachRecordsLastState(t *testing.T) {
	ctx := context.Background()
	db := nodes(t, 1)[0]
	p := enrol(t, db, "w_a")
	var enc syncengine.RecordID
	for _, area := range []string{"park", "pier", "station"} {
		p.setArea(&enc, area, area+"side ")
	}
	n := len(p.outbox)
	res, err := p.sync(db, true)
	must(t, err)
	if res.Accepted != n {
		t.Fatalf("accepted %d of %d: %+v", res.Accepted, n, res.Results)
	}
	want, err := p.store.Record(enc)
	must(t, err)
	got, err := db.RecordState(ctx, string(enc))
	must(t, err)
	if got == nil || !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(want)) {
		t.Fatalf("stored record differs from the phone's: %+v", got)
	}
	var updated, links int64
	must(t, db.Pool().QueryRow(ctx, `SELECT updated_seq FROM records WHERE id = $1`, string(enc)).Scan(&updated))
	if last := res.Results[n-1].Seq; updated != last {
		t.Errorf("updated_seq %d, want the last changeset's %d", updated, last)
	}
	must(t, db.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM changeset_records WHERE record_id = $1`, string(enc)).Scan(&links))
	if links != int64(n) {
		t.Errorf("%d changeset_records rows, want %d", links, n)
	}
	hits, _, err := db.Search(ctx, domain.SearchQuery{Text: "stationside", All: true, Limit: 10})
	must(t, err)
	if len(hits) != 1 || hits[0].RecordID != string(enc) {
		t.Errorf("search for the last words found %+v", hits)
	}

	q := enrol(t, db, "w_a")
	q.syncAll(db)
	pulled, err := q.store.Record(enc)
	must(t, err)
	if pulled == nil || !bytes.Equal(syncengine.EncodeRecord(pulled), syncengine.EncodeRecord(want)) {
		t.Fatalf("the second phone's copy differs: %+v", pulled)
	}
}
