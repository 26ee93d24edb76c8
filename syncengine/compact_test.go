package syncengine

import (
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Two phones edit a note, sync, and one compacts its text once both hold
// everything; then both go on editing concurrently and sync again: they
// show the same text, as they would have without compaction.
func TestPropertyCompactTextThenMerge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)
		var reps [2]*Replica
		var stores [2]*MemStore
		for i := range reps {
			reps[i], stores[i] = seededReplica(t, i, 1, now)
		}
		id := RecordID("0123456789abcdef0123456789abcdef")
		cs := createEncounter(t, reps[0], id, now)
		if _, err := reps[1].Apply(cs); err != nil {
			t.Fatal(err)
		}
		// exchange delivers every changeset each replica made since the
		// last exchange to the other.
		var sent [2]int
		exchange := func() {
			for i := range reps {
				log := stores[i].Log()
				for _, c := range log[sent[i]:] {
					if c.Replica != reps[i].ID() {
						continue
					}
					if _, err := reps[1-i].Apply(c); err != nil {
						t.Fatal(err)
					}
				}
				sent[i] = len(stores[i].Log())
			}
			for i := range reps {
				sent[i] = len(stores[i].Log())
			}
		}
		edits := func(label string) {
			for k := rapid.IntRange(1, 30).Draw(t, label); k > 0; k-- {
				i := rapid.IntRange(0, 1).Draw(t, "replica")
				cur, _ := reps[i].Record(id)
				fn := drawEdit(t, id, cur.Fields["note"].textLen())
				_, _ = reps[i].Edit("w1", fn)
			}
		}
		edits("before")
		exchange()
		exchange()
		a, _ := reps[0].Record(id)
		b, _ := reps[1].Record(id)
		stable := Stable(a.VV, b.VV)
		c := a.cow()
		c.CompactText(stable)
		if c.String("note") != a.String("note") {
			t.Fatalf("compaction changed the note: %q -> %q", a.String("note"), c.String("note"))
		}
		// Stored and read back, as a server or phone would.
		c2, err := DecodeRecord(EncodeRecord(c))
		if err != nil || c2.String("note") != a.String("note") {
			t.Fatalf("compacted record does not decode: %v", err)
		}
		stores[0].Put(c2)
		for round := rapid.IntRange(1, 4).Draw(t, "rounds"); round > 0; round-- {
			edits("after")
			exchange()
		}
		exchange()
		a, _ = reps[0].Record(id)
		b, _ = reps[1].Record(id)
		if a.String("note") != b.String("note") {
			t.Fatalf("after compaction the replicas show %q and %q", a.String("note"), b.String("note"))
		}
	})
}

// fataler is what the test helpers here need of a *testing.T or *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// seededReplica is phone i of a test: replica i+1 on a store of its own,
// its randomness from seed, its clock stopped at now.
func seededReplica(t fataler, i int, seed uint64, now time.Time) (*Replica, *MemStore) {
	t.Helper()
	st := NewMemStore()
	r, err := NewReplica(Config{ID: ReplicaID{byte(i + 1)}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(seed, uint64(i)))}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

// createEncounter creates encounter id on r, in the team of its own id.
func createEncounter(t fataler, r *Replica, id RecordID, now time.Time) *Changeset {
	t.Helper()
	cs, err := r.Edit("w1", func(tx *Txn) error {
		if err := tx.CreateWithID(id, TypeEncounter); err != nil {
			return err
		}
		for _, kv := range [][2]any{{"team_id", string(id)}, {"area", "park"}, {"started_at", now}} {
			if err := tx.Set(id, kv[0].(string), kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
