package text

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

type simOp struct {
	author int
	deps   []int // ops of each author seen by the author when it made this op
	ins    *Insert
	del    *Delete
}

type simReplica struct {
	d         *Doc
	delivered []int // per author, ops applied in that author's order
	seq       uint64
}

// sim is a set of replicas exchanging ops with causal (per-author FIFO plus
// dependency) delivery in random order, with duplicates.
type sim struct {
	reps []*simReplica
	log  [][]*simOp // per author
	// frozen are docs a replica forked from, with their bytes and text then:
	// nothing the fork does may change them.
	frozen []frozenDoc
	// noDups stops re-delivering applied ops once a replica has compacted:
	// the text of a compacted doc relies on syncengine's version vectors
	// to keep duplicates away.
	noDups bool
}

type frozenDoc struct {
	d    *Doc
	enc  string
	text string
}

func newSim(n int) *sim {
	s := &sim{log: make([][]*simOp, n)}
	for i := 0; i < n; i++ {
		s.reps = append(s.reps, &simReplica{d: New(), delivered: make([]int, n)})
	}
	return s
}

func (s *sim) ready(r *simReplica, op *simOp) bool {
	for a, k := range op.deps {
		if r.delivered[a] < k {
			return false
		}
	}
	return true
}

func (s *sim) apply(t *rapid.T, r *simReplica, op *simOp) {
	var err error
	if op.ins != nil {
		err = r.d.ApplyInsert(*op.ins)
	} else {
		err = r.d.ApplyDelete(*op.del)
	}
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func (s *sim) deliverOne(t *rapid.T, ri, a int) bool {
	r := s.reps[ri]
	if a == ri || r.delivered[a] >= len(s.log[a]) {
		return false
	}
	op := s.log[a][r.delivered[a]]
	if !s.ready(r, op) {
		return false
	}
	s.apply(t, r, op)
	r.delivered[a]++
	return true
}

func (s *sim) syncAll(t *rapid.T) {
	for progress := true; progress; {
		progress = false
		for ri := range s.reps {
			for a := range s.reps {
				for s.deliverOne(t, ri, a) {
					progress = true
				}
			}
		}
	}
}

var alphabet = []rune("abcdeé€😀xyz")

func drawText(t *rapid.T) string {
	n := rapid.IntRange(1, 4).Draw(t, "textLen")
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, "rune")])
	}
	return b.String()
}

func (s *sim) step(t *rapid.T) {
	ri := rapid.IntRange(0, len(s.reps)-1).Draw(t, "replica")
	r := s.reps[ri]
	switch rapid.IntRange(0, 9).Draw(t, "action") {
	case 0, 1, 2: // insert
		pos := rapid.IntRange(0, r.d.Len()).Draw(t, "pos")
		txt := drawText(t)
		op, err := r.d.LocalInsert(ID{rep(byte(ri + 1)), r.seq}, pos, txt)
		if err != nil {
			t.Fatalf("local insert: %v", err)
		}
		r.seq += uint64(len([]rune(txt))) + uint64(rapid.IntRange(0, 2).Draw(t, "gap"))
		s.record(ri, &simOp{ins: &op})
	case 3: // delete
		if r.d.Len() == 0 {
			return
		}
		pos := rapid.IntRange(0, r.d.Len()-1).Draw(t, "pos")
		n := rapid.IntRange(1, min(4, r.d.Len()-pos)).Draw(t, "n")
		op, err := r.d.LocalDelete(pos, n)
		if err != nil {
			t.Fatalf("local delete: %v", err)
		}
		s.record(ri, &simOp{del: &op})
	case 4: // duplicate of something already applied
		if s.noDups {
			return
		}
		a := rapid.IntRange(0, len(s.reps)-1).Draw(t, "author")
		limit := r.delivered[a]
		if a == ri {
			limit = len(s.log[a])
		}
		if limit == 0 {
			return
		}
		s.apply(t, r, s.log[a][rapid.IntRange(0, limit-1).Draw(t, "dup")])
	case 5: // clone (or fork) and purge must not change anything visible
		if rapid.Bool().Draw(t, "fork") {
			s.frozen = append(s.frozen, frozenDoc{r.d, string(r.d.AppendBinary(nil)), r.d.String()})
			r.d = r.d.Fork()
		}
		if rapid.Bool().Draw(t, "purge") {
			before := r.d.String()
			r.d = r.d.Clone()
			r.d.PurgeDeletedContent()
			if r.d.String() != before {
				t.Fatalf("purge changed text")
			}
		}
	default: // deliver
		a := rapid.IntRange(0, len(s.reps)-1).Draw(t, "from")
		for k := rapid.IntRange(1, 3).Draw(t, "count"); k > 0; k-- {
			s.deliverOne(t, ri, a)
		}
	}
}

func (s *sim) record(ri int, op *simOp) {
	op.author = ri
	op.deps = make([]int, len(s.reps))
	for a := range s.reps {
		op.deps[a] = s.reps[ri].delivered[a]
	}
	s.log[ri] = append(s.log[ri], op)
	s.reps[ri].delivered[ri] = len(s.log[ri])
}

// oracle feeds every op to the naive oracle in a causal order and returns
// its text.
func (s *sim) oracle() string {
	nv := &naive{}
	next := make([]int, len(s.reps))
	seen := make([]int, len(s.reps))
	for progress := true; progress; {
		progress = false
		for a := range s.log {
			for next[a] < len(s.log[a]) {
				op := s.log[a][next[a]]
				ok := true
				for b, k := range op.deps {
					if b != a && seen[b] < k {
						ok = false
					}
				}
				if !ok {
					break
				}
				if op.ins != nil {
					nv.apply(*op.ins)
				} else {
					nv.del(*op.del)
				}
				next[a]++
				seen[a] = next[a]
				progress = true
			}
		}
	}
	return nv.String()
}

func TestPropertyConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(rapid.IntRange(3, 4).Draw(t, "replicas"))
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			s.step(t)
		}
		s.syncAll(t)
		for i, f := range s.frozen {
			if string(f.d.AppendBinary(nil)) != f.enc || f.d.String() != f.text {
				t.Fatalf("doc %d changed after it was forked", i)
			}
		}
		// Purged and unpurged replicas encode deleted text differently, so
		// compare encodings after purging all of them.
		want := s.reps[0].d.String()
		var enc []byte
		for i, r := range s.reps {
			if got := r.d.String(); got != want {
				t.Fatalf("replica %d has %q, replica 0 %q", i, got, want)
			}
			r.d.PurgeDeletedContent()
			e := r.d.AppendBinary(nil)
			if i == 0 {
				enc = e
			} else if string(e) != string(enc) {
				t.Fatalf("replica %d encodes differently", i)
			}
			d2, n, err := Decode(e)
			if err != nil || n != len(e) || string(d2.AppendBinary(nil)) != string(e) || d2.String() != want {
				t.Fatalf("replica %d: decode round trip failed: %v", i, err)
			}
		}
		// The naive oracle, fed every op in a causal order, agrees.
		if got := s.oracle(); got != want {
			t.Fatalf("oracle has %q, replicas %q", got, want)
		}
	})
}

// Two replicas type different words char by char at the same place while
// offline; after merging each word must appear whole.
func TestPropertyNoInterleaving(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := New()
		btxt := rapid.StringMatching(`[a-z]{0,12}`).Draw(t, "base")
		if btxt != "" {
			if _, err := base.LocalInsert(ID{rep(9), 0}, 0, btxt); err != nil {
				t.Fatal(err)
			}
		}
		pos := rapid.IntRange(0, base.Len()).Draw(t, "pos")
		words := []string{
			rapid.StringMatching(`[A-M]{2,10}`).Draw(t, "w1"),
			rapid.StringMatching(`[N-Z]{2,10}`).Draw(t, "w2"),
		}
		docs := []*Doc{base.Clone(), base.Clone()}
		var ops [2][]Insert
		for i, w := range words {
			for k, r := range []rune(w) {
				op, err := docs[i].LocalInsert(ID{rep(byte(i + 1)), uint64(k)}, pos+k, string(r))
				if err != nil {
					t.Fatal(err)
				}
				ops[i] = append(ops[i], op)
			}
		}
		// Interleave delivery.
		for i := range docs {
			other := ops[1-i]
			for _, op := range other {
				if err := docs[i].ApplyInsert(op); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := docs[0].String()
		if got != docs[1].String() {
			t.Fatalf("diverged: %q vs %q", got, docs[1].String())
		}
		pre, post := btxt[:pos], btxt[pos:]
		if got != pre+words[0]+words[1]+post && got != pre+words[1]+words[0]+post {
			t.Fatalf("interleaved: %q from %q + %v at %d", got, btxt, words, pos)
		}
	})
}

func TestErrors(t *testing.T) {
	d := New()
	r := rep(1)
	if _, err := d.LocalInsert(ID{r, 0}, 1, "x"); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("insert past end: %v", err)
	}
	if _, err := d.LocalInsert(ID{r, 0}, 0, ""); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty insert: %v", err)
	}
	if _, err := d.LocalInsert(ID{r, 0}, 0, "\xff"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad utf8: %v", err)
	}
	op, err := d.LocalInsert(ID{r, 0}, 0, "héllo")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyInsert(op); err != nil {
		t.Fatalf("duplicate insert: %v", err)
	}
	if _, err := d.LocalInsert(ID{r, 2}, 0, "x"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("reused id: %v", err)
	}
	if err := d.ApplyInsert(Insert{ID: ID{rep(2), 0}, OriginLeft: ID{rep(3), 0}, Text: "x"}); !errors.Is(err, ErrMissingOrigin) {
		t.Fatalf("missing origin: %v", err)
	}
	if err := d.ApplyDelete(Delete{Spans: []Span{{ID{r, 3}, 5}}}); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("unknown delete: %v", err)
	}
	if d.String() != "héllo" {
		t.Fatalf("failed delete changed the text: %q", d.String())
	}
	if _, err := d.LocalDelete(3, 3); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("delete past end: %v", err)
	}
	del, err := d.LocalDelete(1, 3)
	if err != nil || d.String() != "ho" {
		t.Fatalf("delete: %v %q", err, d.String())
	}
	if err := d.ApplyDelete(del); err != nil || d.String() != "ho" {
		t.Fatalf("duplicate delete: %v", err)
	}
	runs := d.Runs()
	if len(runs) != 1 || runs[0].Replica != r || runs[0].Text != "ho" {
		t.Fatalf("runs: %+v", runs)
	}
	if !d.Contains(ID{r, 4}) || d.Contains(ID{r, 5}) {
		t.Fatal("contains")
	}
}
