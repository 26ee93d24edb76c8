package syncengine

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// A local save's records are taken from its working copies (not copied and
// applied again): they must be byte-identical to what another replica
// computes from the changeset, including saves where the working copy was
// touched by something Apply drops (text after an erase in the same save, an
// op refused part-way).
func TestLocalSaveMatchesRemoteApply(t *testing.T) {
	now := time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		edit func(tx *Txn, id RecordID) error
	}{
		{"type a word", func(tx *Txn, id RecordID) error { return tx.InsertText(id, "note", 3, "hello ") }},
		{"delete and insert", func(tx *Txn, id RecordID) error {
			if err := tx.DeleteText(id, "note", 0, 4); err != nil {
				return err
			}
			return tx.InsertText(id, "note", 0, "One")
		}},
		{"set, add, count", func(tx *Txn, id RecordID) error {
			if err := tx.Set(id, "area", "Riverside park"); err != nil {
				return err
			}
			if err := tx.Add(id, "topics", Topics[0]); err != nil {
				return err
			}
			return tx.Increment(id, "tallies", AgeBands[0]+"/"+Genders[0], 2)
		}},
		{"erase then type", func(tx *Txn, id RecordID) error {
			if err := tx.Erase(id, "erasure request"); err != nil {
				return err
			}
			return tx.InsertText(id, "note", 0, "after the erase")
		}},
		{"a refused op, then a kept one", func(tx *Txn, id RecordID) error {
			_ = tx.Set(id, "note", nil) // a register write to a text field: refused
			return tx.InsertText(id, "note", 0, "kept ")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var reps [2]*Replica
			var stores [2]*MemStore
			for i := range reps {
				stores[i] = NewMemStore()
				var id ReplicaID
				seededReader{rng}.Read(id[:])
				r, err := NewReplica(Config{ID: id, Now: func() time.Time { return now }, Rand: seededReader{rng}, Store: stores[i]})
				if err != nil {
					t.Fatal(err)
				}
				reps[i] = r
			}
			var id RecordID
			cs, err := reps[0].Edit("w-0", func(tx *Txn) (err error) {
				id, err = newEncounterAt(tx, now, "Northgate estate", "Two young people. ")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reps[1].Apply(cs); err != nil {
				t.Fatal(err)
			}
			cs, err = reps[0].Edit("w-0", func(tx *Txn) error { return tt.edit(tx, id) })
			if err != nil {
				t.Fatalf("save: %v", err)
			}
			if _, err := reps[1].Apply(cs); err != nil {
				t.Fatal(err)
			}
			local, _ := stores[0].Record(id)
			remote, _ := stores[1].Record(id)
			if a, b := EncodeRecord(local), EncodeRecord(remote); !bytes.Equal(a, b) {
				t.Errorf("author's record differs from the receiver's:\n%s\nvs\n%s", local.Values(), remote.Values())
			}
		})
	}
}
