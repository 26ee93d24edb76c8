package syncengine

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// The cache hands out a state only for the exact bytes it came from, a
// caller's changes to what it got never reach the cache, and it stays
// within its bound.
func TestStateCache(t *testing.T) {
	now := time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)
	st := NewMemStore()
	rep, err := NewReplica(Config{ID: ReplicaID{1}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(1, 2))}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	id := RecordID("0123456789abcdef0123456789abcdef")
	edit := func(fn func(*Txn) error) {
		t.Helper()
		if _, err := rep.Edit("w1", fn); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(tx *Txn) error {
		if err := tx.CreateWithID(id, TypeEncounter); err != nil {
			return err
		}
		for _, kv := range [][2]any{{"team_id", string(id)}, {"area", "park"}, {"started_at", now}} {
			if err := tx.Set(id, kv[0].(string), kv[1]); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, "first words")
	})
	r1, _ := st.Record(id)
	enc1 := EncodeRecord(r1)
	edit(func(tx *Txn) error { return tx.InsertText(id, "note", 5, " more") })
	r2, _ := st.Record(id)
	enc2 := EncodeRecord(r2)

	c := NewStateCache(1 << 20)
	got, err := c.DecodeRecord(id, enc1)
	if err != nil || !bytes.Equal(EncodeRecord(got), enc1) {
		t.Fatalf("decode through the cache: %v", err)
	}
	if c.Get(id, enc2) != nil {
		t.Fatal("the cache answered for bytes it was not given")
	}
	if c.Get(id, enc1[:len(enc1)-1]) != nil {
		t.Fatal("the cache answered for a prefix of its bytes")
	}
	// A caller changes what it got, through the engine (a save) and by
	// hand (a purge, a field dropped): the cache's state is unchanged.
	b := c.Get(id, enc1)
	f, err := b.field("note", KindText)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Text.LocalInsert(ID{ReplicaID{9}, 1}.text(), 0, "changed "); err != nil {
		t.Fatal(err)
	}
	delete(b.Fields, "note")
	b.PurgeDeletedText()
	if again := c.Get(id, enc1); again == nil || !bytes.Equal(EncodeRecord(again), enc1) {
		t.Fatal("a caller's change reached the cached state")
	}
	// Put freezes what it keeps: the writer's own later changes to the
	// record it put (the phone purges deleted text in place) copy first.
	c.Put(id, enc2, r2)
	if _, err := r2.mutable("note").Text.LocalInsert(ID{ReplicaID{9}, 20}.text(), 0, "x"); err != nil {
		t.Fatal(err)
	}
	if again := c.Get(id, enc2); again == nil || !bytes.Equal(EncodeRecord(again), enc2) {
		t.Fatal("the writer's change reached the cached state")
	}
	// Bounded: many records push the oldest out.
	small := NewStateCache(4 * len(enc1))
	for i := 0; i < 10; i++ {
		small.Put(RecordID(string(rune('a'+i))+string(id[1:])), enc1, r1)
	}
	if small.bytes > 4*len(enc1) || small.ll.Len() > 4 {
		t.Fatalf("cache holds %d bytes in %d entries, bound %d", small.bytes, small.ll.Len(), 4*len(enc1))
	}
}

// The server's push path (a state from the cache, Apply, EncodeRecord, the
// new state back into the cache) stores, push after push, exactly the
// canonical bytes: those a fresh decode encodes to and those the phones
// that made the edits hold. Encoding through the memo its ancestors left
// (text/memo.go) must never drift from them.
func TestServerPushPathStoresCanonicalText(t *testing.T) {
	now := time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	// The second phone's id sorts first: its first edit, once the note
	// has many chunks, renumbers the replicas the stored text names.
	var phones []*Replica
	for i := byte(2); i >= 1; i-- {
		rep, err := NewReplica(Config{ID: ReplicaID{i}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(uint64(i), 9))}, Store: NewMemStore()})
		if err != nil {
			t.Fatal(err)
		}
		phones = append(phones, rep)
	}
	id := RecordID("0123456789abcdef0123456789abcdef")
	create, err := phones[0].Edit("w1", func(tx *Txn) error {
		if err := tx.CreateWithID(id, TypeEncounter); err != nil {
			return err
		}
		for _, kv := range [][2]any{{"team_id", "team_a"}, {"area", "park"}, {"started_at", now}} {
			if err := tx.Set(id, kv[0].(string), kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := NewStateCache(32 << 20)
	var stored []byte
	push := func(cs *Changeset) {
		t.Helper()
		var rec *Record
		if stored != nil {
			if rec, err = cache.DecodeRecord(id, stored); err != nil {
				t.Fatal(err)
			}
		}
		res, err := Apply(cs, func(RecordID) (*Record, error) { return rec, nil })
		if err != nil || res.Status != Applied {
			t.Fatalf("apply: %v %v", res.Status, err)
		}
		stored = EncodeRecord(res.Records[0])
		// A deep copy is encoded afresh, with no memo.
		if want := EncodeRecord(res.Records[0].Clone()); !bytes.Equal(stored, want) {
			t.Fatalf("changeset %d: the server encoded its state otherwise than afresh", cs.Start)
		}
		cache.Put(id, stored, res.Records[0])
	}
	push(create)
	if _, err := phones[1].Apply(create); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1500; i++ {
		p := phones[0]
		if i >= 600 {
			p = phones[rng.IntN(2)]
		}
		cs, err := p.Edit("w1", func(tx *Txn) error {
			r, err := p.Record(id)
			if err != nil {
				return err
			}
			n := 0
			if f := r.Fields["note"]; f != nil {
				n = f.Text.Len()
			}
			if n > 0 && rng.IntN(400) < n {
				return tx.DeleteText(id, "note", rng.IntN(n), 1)
			}
			return tx.InsertText(id, "note", rng.IntN(n+1), string(rune('a'+rng.IntN(26))))
		})
		if err != nil {
			t.Fatal(err)
		}
		push(cs)
		other := phones[0]
		if p == phones[0] {
			other = phones[1]
		}
		if st, err := other.Apply(cs); err != nil || st != Applied {
			t.Fatalf("phone apply: %v %v", st, err)
		}
		if i%250 != 249 {
			continue
		}
		fresh, err := DecodeRecord(stored)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(EncodeRecord(fresh), stored) {
			t.Fatalf("push %d: the stored state is not what its decode encodes to", i)
		}
		for k, ph := range phones {
			r, err := ph.Record(id)
			if err != nil {
				t.Fatal(err)
			}
			// A deep copy is encoded afresh, with no memo: a drift the
			// phones' own (memoised) encodings shared would show.
			if !bytes.Equal(EncodeRecord(r.Clone()), stored) {
				t.Fatalf("push %d: phone %d holds other bytes than the server stored", i, k)
			}
		}
	}
}
