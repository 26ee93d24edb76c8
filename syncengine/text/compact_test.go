package text

import (
	"testing"

	"pgregory.net/rapid"
)

// Compacting, whenever every replica holds every op, never changes the
// visible text, survives an encoding round trip, and never changes how
// later concurrent edits merge: compacted replicas and replicas that kept
// every tombstone end with the same text as the naive oracle fed every op.
func TestPropertyCompactKeepsTextAndMerges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(rapid.IntRange(2, 4).Draw(t, "replicas"))
		dropped := 0
		for round := rapid.IntRange(1, 4).Draw(t, "rounds"); round > 0; round-- {
			for i := rapid.IntRange(1, 60).Draw(t, "steps"); i > 0; i-- {
				s.step(t)
			}
			s.syncAll(t)
			for i, r := range s.reps {
				if !rapid.Bool().Draw(t, "compact") {
					continue
				}
				s.noDups = true
				before := r.d.String()
				dropped += r.d.Compact()
				if got := r.d.String(); got != before {
					t.Fatalf("replica %d: compaction changed %q to %q", i, before, got)
				}
				if rapid.Bool().Draw(t, "roundTrip") {
					enc := r.d.AppendBinary(nil)
					d2, n, err := Decode(enc)
					if err != nil || n != len(enc) || d2.String() != before {
						t.Fatalf("replica %d: compacted doc does not decode: %v", i, err)
					}
					r.d = d2
				}
			}
		}
		for i := rapid.IntRange(0, 60).Draw(t, "stepsAfter"); i > 0; i-- {
			s.step(t)
		}
		s.syncAll(t)
		want := s.oracle()
		for i, r := range s.reps {
			if got := r.d.String(); got != want {
				t.Fatalf("replica %d has %q, the oracle %q (%d tombstones dropped)", i, got, want, dropped)
			}
		}
	})
}

// A note typed with corrections, once every replica has it, loses its
// tombstones but the ends of each run of them, and encodes smaller.
func TestCompactShrinksLongEditedNote(t *testing.T) {
	d := New()
	seq := uint64(1)
	for i := 0; i < 2000; i++ {
		if i%5 == 4 {
			if _, err := d.LocalDelete(d.Len()-1, 1); err != nil {
				t.Fatal(err)
			}
			if i%50 == 49 {
				// a whole word rubbed out
				if _, err := d.LocalDelete(d.Len()-5, 5); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if _, err := d.LocalInsert(ID{rep(1), seq}, d.Len(), "abc"); err != nil {
			t.Fatal(err)
		}
		seq += 3
	}
	text := d.String()
	before := len(d.AppendBinary(nil))
	n := d.Compact()
	after := len(d.AppendBinary(nil))
	if d.String() != text || n == 0 || after >= before {
		t.Fatalf("compaction dropped %d tombstones, %d -> %d bytes, text kept: %v", n, before, after, d.String() == text)
	}
	t.Logf("dropped %d tombstones: %d -> %d bytes", n, before, after)
}
