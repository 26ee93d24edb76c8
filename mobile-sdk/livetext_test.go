package mobilesdk

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func applyOps(s string, ops []textOp) string {
	r := []rune(s)
	for _, op := range ops {
		r = append(append(append([]rune{}, r[:op.pos]...), []rune(op.ins)...), r[op.pos+op.del:]...)
	}
	return string(r)
}

// TestRebaseLiveEdit: the editor's change, made against the text it last
// saw, lands where its worker typed it in a text another worker changed
// meanwhile, and keeps the other worker's words.
func TestRebaseLiveEdit(t *testing.T) {
	tests := []struct{ name, base, local, remote, want string }{
		{"apart, local after", "Base note.", "Base note. A: home.", "B: seen. Base note.", "B: seen. Base note. A: home."},
		{"apart, local before", "Base note.", "A: x Base note.", "Base note. B: y", "A: x Base note. B: y"},
		{"nothing remote", "abc", "abXc", "abc", "abXc"},
		{"nothing local", "abc", "abc", "aYbc", "aYbc"},
		{"same point", "ab", "aXb", "aYb", "aYXb"},
		{"local deletes around remote edit", "one two three", "one three", "one tWo three", "one tWhree"},
		{"local deletes after remote", "one two three", "one two", "ONE two three", "ONE two"},
		{"multibyte", "café ok", "café ok!", "¡café ok", "¡café ok!"},
		{"local replaces remote's stretch", "abcdef", "aXf", "abYcdef", "aXYf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []rune(tt.base)
			got := applyOps(tt.remote, rebase(span(b, []rune(tt.local)), span(b, []rune(tt.remote))))
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRebaseKeepsBothInserts: for random concurrent edits of one text, the
// rebased local edit keeps the remote insert whole and adds its own whole,
// and never reaches outside the text.
func TestRebaseKeepsBothInserts(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 2))
	word := func(n int) string {
		r := make([]rune, n)
		for i := range r {
			r[i] = []rune("abé ")[rng.IntN(4)]
		}
		return string(r)
	}
	edit := func(b []rune, ins string) textOp {
		p := rng.IntN(len(b) + 1)
		return textOp{pos: p, del: rng.IntN(len(b) - p + 1), ins: ins}
	}
	for i := range 5000 {
		b := []rune(word(rng.IntN(12)))
		l, r := edit(b, "<L"+word(rng.IntN(3))+">"), edit(b, "[R"+word(rng.IntN(3))+"]")
		remote := applyOps(string(b), []textOp{r})
		got := applyOps(remote, rebase(l, r))
		if !strings.Contains(got, r.ins) || !strings.Contains(got, l.ins) {
			t.Fatalf("case %d: base %q, local %+v, remote %+v: got %q, lost an insert", i, string(b), l, r, got)
		}
	}
}
