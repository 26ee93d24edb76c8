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

// A sync's changes are planned once, after its last changeset, and their
// notifications written together: a cancel still reaches a notification
// asked for earlier in the same request or in an earlier one, and a cancel
// for a record with nothing pending changes nothing.
func TestRulesSettleARequestsChangesInOrder(t *testing.T) {
	tests := []struct {
		name               string
		requests           [][]string // each request: the encounter's area after each changeset
		pending, cancelled int
	}{
		{"asked then cancelled in one request", [][]string{{"tell", "hush"}}, 0, 1},
		{"asked, then cancelled in the next request", [][]string{{"tell"}, {"hush"}}, 0, 1},
		{"cancelled with nothing pending", [][]string{{"hush"}}, 0, 0},
		{"asked, cancelled, asked anew in one request", [][]string{{"tell", "hush", "tell2"}}, 1, 1},
		{"asked twice", [][]string{{"tell"}, {"tell2"}}, 2, 0},
		// One notification id asked for again after its cancel stays cancelled.
		{"asked, cancelled, asked again in one request", [][]string{{"tell", "hush", "tell"}}, 0, 1},
		{"asked, cancelled, asked again in the next request", [][]string{{"tell", "hush"}, {"tell"}}, 0, 1},
		{"a cancel of one kind leaves the other", [][]string{{"tell", "warn", "hushdue"}}, 1, 1},
		{"a cancel of one kind in the next request", [][]string{{"tell", "warn"}, {"hushdue"}}, 1, 1},
		{"old and new of one kind cancelled together", [][]string{{"tell"}, {"tell2", "warn", "hushdue"}}, 1, 2},
		{"a cancel reaches only what was asked before it", [][]string{{"tell"}, {"hushdue", "tell2", "warn"}}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := nodes(t, 1)[0]
			db.Rules = rulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
				if c.After.Type != syncengine.TypeEncounter {
					return domain.Intents{}, nil
				}
				id := string(c.After.ID)
				switch area := c.After.String("area"); area {
				case "hush":
					return domain.Intents{Cancel: []domain.CancelNotifications{{RecordID: id}}}, nil
				case "hushdue":
					return domain.Intents{Cancel: []domain.CancelNotifications{{RecordID: id, Kinds: []string{domain.KindFollowUpDue}}}}, nil
				case "tell", "tell2":
					return domain.Intents{Notify: []domain.Notification{{ID: "n" + id + area, RecipientKind: domain.RecipientPerson,
						RecipientID: "w_a", Kind: domain.KindFollowUpDue, RecordID: id}}}, nil
				case "warn":
					return domain.Intents{Notify: []domain.Notification{{ID: "n" + id + area, RecipientKind: domain.RecipientPerson,
						RecipientID: "w_a", Kind: domain.KindHandoff, RecordID: id}}}, nil
				}
				return domain.Intents{}, nil
			})
			p := enrol(t, db, "w_a")
			var enc syncengine.RecordID
			for _, areas := range tt.requests {
				for _, area := range areas {
					note := ""
					if enc == "" {
						note = "met"
					}
					p.setArea(&enc, area, note)
				}
				n := len(p.outbox)
				res, err := p.sync(db, true)
				must(t, err)
				if res.Accepted != n {
					t.Fatalf("accepted %d of %d: %+v", res.Accepted, n, res.Results)
				}
			}
			counts, err := db.Outbox().Counts(ctx)
			must(t, err)
			if counts[domain.StatePending] != tt.pending || counts[domain.StateCancelled] != tt.cancelled {
				t.Fatalf("outbox %v, want %d pending and %d cancelled", counts, tt.pending, tt.cancelled)
			}
		})
	}
}
