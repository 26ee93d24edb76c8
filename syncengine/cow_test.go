package syncengine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// cloneStore hands out and keeps deep copies only: nothing a save does to
// what it read can reach what is stored. It is the whole-clone behaviour
// the copy-on-write saves replaced, as a reference.
type cloneStore struct {
	mu   sync.Mutex
	recs map[RecordID]*Record
}

func (s *cloneStore) Record(id RecordID) (*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.recs[id]; r != nil {
		return r.Clone(), nil
	}
	return nil, nil
}

func (s *cloneStore) Commit(_ *Changeset, recs []*Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.recs[r.ID] = r.Clone()
	}
	return nil
}

// keepStore is a MemStore that remembers every state it was given, with its
// bytes then: a state, once stored, must never change (later saves share
// its fields and text chunks).
type keepStore struct {
	*MemStore
	kept []keptState
}

type keptState struct {
	r   *Record
	enc []byte
}

func (s *keepStore) Commit(cs *Changeset, recs []*Record) error {
	for _, r := range recs {
		s.kept = append(s.kept, keptState{r, EncodeRecord(r)})
	}
	return s.MemStore.Commit(cs, recs)
}

var errAbandon = errors.New("abandoned")

// drawEdit draws one save's worth of edits to record id; some fail part-way
// (a bad position, a refused value, the caller giving up), and a failed
// save must leave no trace.
func drawEdit(t *rapid.T, id RecordID, textLen int) func(*Txn) error {
	n := rapid.IntRange(1, 4).Draw(t, "ops")
	type step struct {
		kind  int
		pos   int
		k     int
		s     string
		area  string
		topic string
	}
	steps := make([]step, n)
	for i := range steps {
		steps[i] = step{
			kind:  rapid.IntRange(0, 9).Draw(t, "kind"),
			pos:   rapid.IntRange(0, textLen+2).Draw(t, "pos"),
			k:     rapid.IntRange(1, 5).Draw(t, "k"),
			s:     rapid.SampledFrom([]string{"a", "hé", "word ", "😀", strings.Repeat("x", 30)}).Draw(t, "s"),
			area:  rapid.SampledFrom([]string{"park", "", strings.Repeat("y", 81)}).Draw(t, "area"),
			topic: rapid.SampledFrom([]string{"housing", "money", "knitting"}).Draw(t, "topic"),
		}
	}
	return func(tx *Txn) error {
		for _, st := range steps {
			var err error
			switch st.kind {
			case 0, 1, 2, 3:
				err = tx.InsertText(id, "note", st.pos, st.s)
			case 4, 5:
				err = tx.DeleteText(id, "note", st.pos, st.k)
			case 6:
				err = tx.Set(id, "area", st.area)
			case 7:
				err = tx.Add(id, "topics", st.topic)
			case 8:
				err = tx.Remove(id, "topics", "housing")
			case 9:
				err = errAbandon
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// Copy-on-write saves store exactly what whole-clone saves store, on random
// edit sequences with failures; a failed save leaves the stored record
// byte-identical; and no stored state ever changes afterwards.
func TestPropertyCopyOnWriteEqualsClone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)
		cow := &keepStore{MemStore: NewMemStore()}
		ref := &cloneStore{recs: map[RecordID]*Record{}}
		var reps [2]*Replica
		for i, st := range []RecordStore{cow, ref} {
			r, err := NewReplica(Config{ID: ReplicaID{1}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(1, 2))}, Store: st})
			if err != nil {
				t.Fatal(err)
			}
			reps[i] = r
		}
		id := RecordID("0123456789abcdef0123456789abcdef")
		for _, r := range reps {
			if _, err := r.Edit("w1", func(tx *Txn) error {
				if err := tx.CreateWithID(id, TypeEncounter); err != nil {
					return err
				}
				for _, kv := range []struct {
					k string
					v any
				}{{"team_id", "0123456789abcdef0123456789abcdef"}, {"area", "park"}, {"started_at", now}} {
					if err := tx.Set(id, kv.k, kv.v); err != nil {
						return err
					}
				}
				return tx.InsertText(id, "note", 0, "first words")
			}); err != nil {
				t.Fatal(err)
			}
		}
		for step := rapid.IntRange(1, 40).Draw(t, "saves"); step > 0; step-- {
			cur, _ := reps[0].Record(id)
			before := EncodeRecord(cur)
			fn := drawEdit(t, id, cur.Fields["note"].Text.Len())
			_, err0 := reps[0].Edit("w1", fn)
			_, err1 := reps[1].Edit("w1", fn)
			if (err0 == nil) != (err1 == nil) {
				t.Fatalf("copy-on-write save: %v, whole-clone save: %v", err0, err1)
			}
			a, _ := reps[0].Record(id)
			b, _ := reps[1].Record(id)
			if !bytes.Equal(EncodeRecord(a), EncodeRecord(b)) {
				t.Fatalf("copy-on-write and whole-clone saves stored different records (save error %v)", err0)
			}
			if err0 != nil && !bytes.Equal(EncodeRecord(a), before) {
				t.Fatalf("a failed save (%v) changed the stored record", err0)
			}
		}
		for i, k := range cow.kept {
			if !bytes.Equal(EncodeRecord(k.r), k.enc) {
				t.Fatalf("stored state %d changed after it was stored", i)
			}
		}
	})
}
