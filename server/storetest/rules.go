package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// setArea edits the phone's encounter (made on the first call) to area,
// inserting note first if given; it is pushed at the next sync.
func (p *phone) setArea(enc *syncengine.RecordID, area, note string) {
	p.edit(func(tx *syncengine.Txn) (err error) {
		if *enc == "" {
			if *enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			if err := set(tx, *enc, "team_id", "team_a", "started_at", p.e.now.Add(-time.Hour)); err != nil {
				return err
			}
		}
		if note != "" {
			if err := tx.InsertText(*enc, "note", 0, note); err != nil {
				return err
			}
		}
		return tx.Set(*enc, "area", area)
	})
}

// A sync's changes are planned once, after its last changeset, and their
// notifications written together: a cancel still reaches a notification
// asked for earlier in the same request or in an earlier one, and a cancel
// for a record with nothing pending changes nothing.
func testRulesSettleInOrder(t *testing.T, e *env) {
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
	e.h.SetRules(domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
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
	}))
	defer e.h.SetRules(nil)
	// One store for every case (the suite opens one per test): each case
	// counts only its own outbox rows.
	before := map[string]int{}
	for _, tt := range tests {
		func() {
			p := e.enrolPhone("w_a")
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
				if res := p.sync(0); res.Accepted != n {
					t.Fatalf("%s: accepted %d of %d: %+v", tt.name, res.Accepted, n, res.Results)
				}
			}
			counts, err := e.h.Outbox.Counts(e.ctx)
			e.must(err)
			pending, cancelled := counts[domain.StatePending]-before[domain.StatePending], counts[domain.StateCancelled]-before[domain.StateCancelled]
			before = counts
			if pending != tt.pending || cancelled != tt.cancelled {
				t.Fatalf("%s: outbox %d pending and %d cancelled, want %d and %d", tt.name, pending, cancelled, tt.pending, tt.cancelled)
			}
		}()
	}
}

// A sync whose changesets edit one record several times (its row written
// once, at the end of the request) leaves the record as the phone has it,
// filed under the last changeset's seq, linked to every changeset that
// touched it, and findable by its last words only; a second phone pulling
// the log rebuilds the same record.
func testRequestStoresLastState(t *testing.T, e *env) {
	p := e.enrolPhone("w_a")
	var enc syncengine.RecordID
	for _, area := range []string{"park", "pier", "station"} {
		p.setArea(&enc, area, area+"side ")
	}
	n := len(p.outbox)
	res := p.sync(0)
	if res.Accepted != n {
		t.Fatalf("accepted %d of %d: %+v", res.Accepted, n, res.Results)
	}
	want := p.record(enc)
	got, err := e.s.RecordState(e.ctx, string(enc))
	e.must(err)
	if got == nil || !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(want)) {
		t.Fatalf("stored record differs from the phone's: %+v", got)
	}
	updated, links, err := e.h.RecordRows(string(enc))
	e.must(err)
	if last := res.Results[n-1].Seq; updated != last {
		t.Errorf("updated_seq %d, want the last changeset's %d", updated, last)
	}
	if links != int64(n) {
		t.Errorf("%d changeset_records rows, want %d", links, n)
	}
	hits, _, err := e.s.Search(e.ctx, domain.SearchQuery{Text: "stationside", All: true, Limit: 10})
	e.must(err)
	if len(hits) != 1 || hits[0].RecordID != string(enc) {
		t.Errorf("search for the last words found %+v", hits)
	}

	q := e.enrolPhone("w_a")
	q.syncAll(0)
	if pulled := q.record(enc); pulled == nil || !bytes.Equal(syncengine.EncodeRecord(pulled), syncengine.EncodeRecord(want)) {
		t.Fatalf("the second phone's copy differs: %+v", pulled)
	}
}
