package main

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// editCurve: the cost of one more edit to a note after 0, 100, 1k and 10k
// prior edits, and of one keystroke into notes of 0, 2k and 20k characters,
// through Replica.Edit (the engine path the SDK's InsertText and DeleteText
// call; the SDK's own persistence is not included). Baseline: the first
// point of each curve. Goal: the last within 3x of the first.
func editCurve() error {
	stores := map[*syncengine.Replica]*syncengine.MemStore{}
	newNote := func() (*syncengine.Replica, syncengine.RecordID, error) {
		st := syncengine.NewMemStore()
		rep, err := syncengine.NewReplica(syncengine.Config{ID: syncengine.ReplicaID{1}, Now: time.Now, Rand: rand.Reader, Store: st})
		stores[rep] = st
		if err != nil {
			return nil, "", err
		}
		var id syncengine.RecordID
		_, err = rep.Edit("w1", func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": time.Now().Add(-time.Hour)} {
				if err := tx.Set(id, k, v); err != nil {
					return err
				}
			}
			return nil
		})
		return rep, id, err
	}
	keystroke := func(rep *syncengine.Replica, id syncengine.RecordID, pos int) error {
		_, err := rep.Edit("w1", func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", pos, "a") })
		return err
	}
	const measured = 200
	// per keystroke at position at: the fastest of 5 batches (the least
	// disturbed on a shared machine), and bytes allocated (not noisy).
	perEdit := func(rep *syncengine.Replica, id syncengine.RecordID, at int) (time.Duration, uint64, error) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		alloc0 := ms.TotalAlloc
		var best time.Duration
		for b := 0; b < 5; b++ {
			t0 := time.Now()
			for i := 0; i < measured/5; i++ {
				if err := keystroke(rep, id, at+b*measured/5+i); err != nil {
					return 0, 0, err
				}
			}
			if d := time.Since(t0) / (measured / 5); b == 0 || d < best {
				best = d
			}
		}
		runtime.ReadMemStats(&ms)
		return best, (ms.TotalAlloc - alloc0) / measured, nil
	}

	// Warm up (heap, caches) so the first point is not the slowest.
	if rep, id, err := newNote(); err != nil {
		return err
	} else if _, _, err := perEdit(rep, id, 0); err != nil {
		return err
	}
	fmt.Printf("\nedit cost curve: one more keystroke edit (best of 5 batches of %d) after N prior edits to one note\n", measured/5)
	var base time.Duration
	var baseAlloc uint64
	var srvBase [2]time.Duration
	var srvBaseAlloc [2]uint64
	var srvRows [2][]string
	for _, n := range []int{0, 100, 1000, 10000} {
		rep, id, err := newNote()
		if err != nil {
			return err
		}
		// Prior edits: typing with corrections (every 5th edit deletes).
		length := 0
		for i := 0; i < n; i++ {
			if i%5 == 4 && length > 0 {
				if _, err := rep.Edit("w1", func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", length-1, 1) }); err != nil {
					return err
				}
				length--
				continue
			}
			if err := keystroke(rep, id, length); err != nil {
				return err
			}
			length++
		}
		cur, err := rep.Record(id)
		if err != nil {
			return err
		}
		state0 := syncengine.EncodeRecord(cur)
		logged := len(stores[rep].Log())
		d, a, err := perEdit(rep, id, length)
		if err != nil {
			return err
		}
		if base == 0 {
			base, baseAlloc = d, a
		}
		css := stores[rep].Log()[logged:]
		for _, cached := range []bool{true, false} {
			sd, sa, err := serverApply(id, state0, css, cached)
			if err != nil {
				return err
			}
			k := 0
			if !cached {
				k = 1
			}
			if srvBase[k] == 0 {
				srvBase[k], srvBaseAlloc[k] = sd, sa
			}
			srvRows[k] = append(srvRows[k], fmt.Sprintf("  %6d prior edits: %s, %d B allocated a push = %.2fx time, %.2fx bytes the fresh note's", n, sd.Round(100*time.Nanosecond), sa, float64(sd)/float64(srvBase[k]), float64(sa)/float64(srvBaseAlloc[k])))
		}
		fmt.Printf("  %6d prior edits: %s, %d B allocated an edit = %.2fx time, %.2fx bytes the fresh note's\n", n, d.Round(100*time.Nanosecond), a, float64(d)/float64(base), float64(a)/float64(baseAlloc))
	}

	for k, title := range []string{"with the decoded-state cache (syncengine.StateCache, as server/sqlite runs)", "decoding the stored state every push (before)"} {
		fmt.Printf("server's engine work per pushed keystroke (decode, Apply, CheckChangeset, encode; SQL not included), %s:\n", title)
		for _, row := range srvRows[k] {
			fmt.Println(row)
		}
	}

	fmt.Printf("keystroke cost (a note holds at most 20,000; the measured keystrokes fill it): one keystroke (best of 5 batches of %d) in the middle of a note of N characters typed 10 at a time\n", measured/5)
	base, baseAlloc = 0, 0
	for _, n := range []int{0, 2000, 19800} {
		rep, id, err := newNote()
		if err != nil {
			return err
		}
		for at := 0; at < n; at += 10 {
			if _, err := rep.Edit("w1", func(tx *syncengine.Txn) error {
				return tx.InsertText(id, "note", at, strings.Repeat("lorem ipsu", 1))
			}); err != nil {
				return err
			}
		}
		d, a, err := perEdit(rep, id, n/2)
		if err != nil {
			return err
		}
		if base == 0 {
			base, baseAlloc = d, a
		}
		fmt.Printf("  %6d chars: %s, %d B allocated a keystroke = %.2fx time, %.2fx bytes the empty note's\n", n, d.Round(100*time.Nanosecond), a, float64(d)/float64(base), float64(a)/float64(baseAlloc))
	}
	return nil
}

// serverApply replays css (keystrokes to one record whose stored state was
// state0) the way the server's push does per changeset: read the stored
// state, Apply, check the domain rules, encode the new state to store. It
// returns the best of 5 batches per changeset and bytes allocated.
func serverApply(id syncengine.RecordID, state0 []byte, css []*syncengine.Changeset, cached bool) (time.Duration, uint64, error) {
	cache := syncengine.NewStateCache(32 << 20)
	state := state0
	var err error
	push := func(cs *syncengine.Changeset) error {
		var rec *syncengine.Record
		if cached {
			rec, err = cache.DecodeRecord(id, state)
		} else {
			rec, err = syncengine.DecodeRecord(state)
		}
		if err != nil {
			return err
		}
		res, err := syncengine.Apply(cs, func(syncengine.RecordID) (*syncengine.Record, error) { return rec, nil })
		if err != nil {
			return err
		}
		if res.Status != syncengine.Applied {
			return fmt.Errorf("server apply: %s", res.Status)
		}
		if err := syncengine.CheckChangeset(cs, res.Before, res.Records); err != nil {
			return err
		}
		state = syncengine.EncodeRecord(res.Records[0])
		if cached {
			cache.Put(id, state, res.Records[0])
		}
		return nil
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	alloc0 := ms.TotalAlloc
	var best time.Duration
	batch := len(css) / 5
	for b := 0; b < 5; b++ {
		t0 := time.Now()
		for _, cs := range css[b*batch : (b+1)*batch] {
			if err := push(cs); err != nil {
				return 0, 0, err
			}
		}
		if d := time.Since(t0) / time.Duration(batch); b == 0 || d < best {
			best = d
		}
	}
	runtime.ReadMemStats(&ms)
	return best, (ms.TotalAlloc - alloc0) / uint64(5*batch), nil
}
