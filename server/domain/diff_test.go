package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
	"pgregory.net/rapid"
)

// TestTextDiffProperty: the inserted and deleted text a reviewer is shown
// are exactly what turns the old text into the new one (around a common
// prefix and suffix), for any texts.
func TestTextDiffProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		before := rapid.StringMatching(`[a-cé😀 ]{0,20}`).Draw(t, "before")
		after := rapid.StringMatching(`[a-cé😀 ]{0,20}`).Draw(t, "after")
		ins, del := textDiff(before, after)
		b, d := []rune(before), len([]rune(del))
		for k := 0; k+d <= len(b); k++ {
			if string(b[k:k+d]) == del && string(b[:k])+ins+string(b[k+d:]) == after {
				return
			}
		}
		t.Fatalf("before %q after %q: inserted %q deleted %q do not turn one into the other", before, after, ins, del)
	})
}

// FuzzDiffChangeset: the diff is computed from a changeset a phone sent,
// so any bytes that decode must produce a diff without panicking, and no
// displayed value may exceed the display bound.
func FuzzDiffChangeset(f *testing.F) {
	rep, err := syncengine.NewReplica(syncengine.Config{ID: syncengine.ReplicaID{1}, Now: func() time.Time { return time.Unix(1e9, 0) },
		Rand: strings.NewReader(strings.Repeat("x", 1<<12)), Store: syncengine.NewMemStore()})
	if err != nil {
		f.Fatal(err)
	}
	cs, err := rep.Edit("w", func(tx *syncengine.Txn) error {
		id, err := tx.Create(syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		for k, v := range map[string]any{"area": "park", "team_id": "a", "started_at": time.Unix(1e9, 0)} {
			if err := tx.Set(id, k, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, "hello")
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(syncengine.EncodeChangeset(cs))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := syncengine.DecodeChangeset(b)
		if err != nil {
			return
		}
		none := func(syncengine.RecordID) (*syncengine.Record, error) { return nil, nil }
		var after []*syncengine.Record
		if res, err := syncengine.Apply(cs, none); err == nil {
			after = res.Records
		}
		for _, vis := range []bool{true, false} {
			for _, rc := range DiffChangeset(cs, map[syncengine.RecordID]*syncengine.Record{}, after, func(syncengine.RecordID) bool { return vis }) {
				for _, fc := range rc.Fields {
					for _, s := range []string{fc.Before, fc.After, fc.Inserted, fc.Deleted} {
						if len([]rune(s)) > maxShown+64 {
							t.Fatalf("shown value of %d runes", len([]rune(s)))
						}
					}
				}
			}
		}
	})
}
