package protocol_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A partial phone applies the ops on records it holds and on records a
// changeset creates; ops on an older record it never received are set
// aside, and the rest of the changeset still applies.
func TestHeldPart(t *testing.T) {
	now := time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: syncengine.ReplicaID{1}, Now: func() time.Time { return now }, Rand: rand.Reader, Store: syncengine.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	var held, old syncengine.RecordID
	if _, err := rep.Edit("w", func(tx *syncengine.Txn) (err error) {
		if held, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if old, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		for _, id := range []syncengine.RecordID{held, old} {
			if err := tx.Set(id, "team_id", "t"); err != nil {
				return err
			}
			if err := tx.Set(id, "known_as", "Jo"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var fresh syncengine.RecordID
	both, err := rep.Edit("w", func(tx *syncengine.Txn) (err error) {
		if err := tx.Set(held, "area", "Northgate"); err != nil {
			return err
		}
		if err := tx.Set(old, "area", "Southgate"); err != nil {
			return err
		}
		if fresh, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(fresh, "team_id", "t"); err != nil {
			return err
		}
		return tx.Set(fresh, "known_as", "Sam")
	})
	if err != nil {
		t.Fatal(err)
	}
	onlyOld, err := rep.Edit("w", func(tx *syncengine.Txn) error { return tx.Set(old, "area", "Eastgate") })
	if err != nil {
		t.Fatal(err)
	}
	holds := func(id syncengine.RecordID) bool { return id == held }
	for _, tc := range []struct {
		name   string
		cs     *syncengine.Changeset
		ok     bool
		keep   []syncengine.RecordID
		setOff []syncengine.RecordID
	}{
		{"held, old and created", both, true, []syncengine.RecordID{held, fresh}, []syncengine.RecordID{old}},
		{"only an old record", onlyOld, false, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			part, ok := protocol.HeldPart(tc.cs, holds)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			has := map[syncengine.RecordID]bool{}
			for _, d := range part.Deps {
				has[d.Record] = true
			}
			for _, id := range tc.keep {
				if !has[id] {
					t.Errorf("the part lacks %s", id)
				}
			}
			for _, id := range tc.setOff {
				if has[id] {
					t.Errorf("the part keeps old record %s", id)
				}
			}
			if part.Replica != tc.cs.Replica || part.Start != tc.cs.Start || part.Span() != tc.cs.Span() {
				t.Error("the part lost the changeset's identity")
			}
		})
	}
}
