package text

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// The memoised encoding of a forked Doc is byte for byte the encoding
// written afresh, through edits, merges from replicas that join later
// (which renumber the replicas), purges and compactions, however the docs
// were forked; and encoding a fork never changes what its frozen ancestors
// encode to.
func TestPropertyMemoisedEncodingIsTheEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(rapid.IntRange(1, 4).Draw(t, "replicas"))
		type kept struct {
			d   *Doc
			enc []byte
		}
		var frozen []kept
		check := func(when string) {
			for i, r := range s.reps {
				got, want := r.d.AppendBinary(nil), r.d.appendFlat(nil)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: replica %d: memoised encoding\n%x\nwant\n%x", when, i, got, want)
				}
				// Twice: the second reads the memo the first stored.
				if again := r.d.AppendBinary(nil); !bytes.Equal(again, want) {
					t.Fatalf("%s: replica %d: second memoised encoding differs", when, i)
				}
			}
		}
		for round := rapid.IntRange(1, 4).Draw(t, "rounds"); round > 0; round-- {
			// Scattered typing: a doc of many chunks, most of them shared
			// by the next fork.
			ri := rapid.IntRange(0, len(s.reps)-1).Draw(t, "typist")
			r := s.reps[ri]
			for k := rapid.IntRange(0, 400).Draw(t, "scattered"); k > 0; k-- {
				op, err := r.d.LocalInsert(ID{rep(byte(ri + 1)), r.seq}, rapid.IntRange(0, r.d.Len()).Draw(t, "at"), "x")
				if err != nil {
					t.Fatalf("local insert: %v", err)
				}
				r.seq++
				s.record(ri, &simOp{ins: &op})
			}
			for i := rapid.IntRange(1, 80).Draw(t, "steps"); i > 0; i-- {
				s.step(t)
				if rapid.IntRange(0, 3).Draw(t, "fork") == 0 {
					ri := rapid.IntRange(0, len(s.reps)-1).Draw(t, "forked")
					r := s.reps[ri]
					if rapid.Bool().Draw(t, "encodeFirst") {
						r.d.AppendBinary(nil)
					}
					frozen = append(frozen, kept{r.d, r.d.appendFlat(nil)})
					r.d = r.d.Fork()
				}
				check("step")
			}
			s.syncAll(t)
			check("synced")
			for _, r := range s.reps {
				switch rapid.IntRange(0, 3).Draw(t, "tidy") {
				case 0:
					r.d.PurgeDeletedContent()
				case 1:
					s.noDups = true
					r.d.Compact()
				}
			}
			check("tidied")
		}
		for i, k := range frozen {
			if got := k.d.AppendBinary(nil); !bytes.Equal(got, k.enc) {
				t.Fatalf("frozen doc %d encodes differently after its forks were edited", i)
			}
		}
	})
}

// A frozen doc is encoded by many readers at once (a pull's snapshot, the
// portal) while the writer forks and encodes it: run with -race.
func TestMemoisedEncodingConcurrentReaders(t *testing.T) {
	d := New()
	var seq uint64
	for i := 0; i < 3000; i++ {
		if _, err := d.LocalInsert(ID{rep(1), seq}, (i*7919)%(d.Len()+1), "x"); err != nil {
			t.Fatal(err)
		}
		seq++
		if i%3 == 2 {
			if _, err := d.LocalDelete((i*104729)%d.Len(), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	frozen := d.Fork()
	frozen.AppendBinary(nil)
	want := frozen.appendFlat(nil)
	done := make(chan []byte)
	for g := 0; g < 4; g++ {
		go func() {
			var got []byte
			for k := 0; k < 20; k++ {
				got = frozen.AppendBinary(nil)
			}
			done <- got
		}()
	}
	w := frozen.Fork()
	for k := 0; k < 20; k++ {
		if _, err := w.LocalInsert(ID{rep(2), uint64(k)}, k, "y"); err != nil {
			t.Fatal(err)
		}
		if got, flat := w.AppendBinary(nil), w.appendFlat(nil); !bytes.Equal(got, flat) {
			t.Fatalf("writer's fork %d: memoised encoding differs", k)
		}
		w = w.Fork()
	}
	for g := 0; g < 4; g++ {
		if got := <-done; !bytes.Equal(got, want) {
			t.Fatalf("reader %d: memoised encoding differs", g)
		}
	}
}

// BenchmarkEncodeLongEditedNote: encoding a note revised 20,000 times
// (about 200 characters left, thousands of tombstones) after one more
// keystroke, as the server's push does (the stored state forked, edited,
// encoded): afresh, and through the memo its parent's encoding left.
func BenchmarkEncodeLongEditedNote(b *testing.B) {
	d := New()
	var seq uint64
	x := uint64(12)
	rnd := func(n int) int { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return int(x % uint64(n)) }
	for i := 0; i < 20000; i++ {
		if d.Len() > 0 && rnd(400) < d.Len() {
			if _, err := d.LocalDelete(rnd(d.Len()), 1); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, err := d.LocalInsert(ID{rep(1), seq}, rnd(d.Len()+1), "x"); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	keystroke := func() *Doc {
		f := d.Fork()
		if _, err := f.LocalInsert(ID{rep(1), seq}, rnd(f.Len()+1), "y"); err != nil {
			b.Fatal(err)
		}
		seq++
		return f
	}
	b.Run("afresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d = keystroke()
			d.appendFlat(nil)
		}
	})
	b.Run("memoised", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d = keystroke()
			d.AppendBinary(nil)
		}
	})
}
