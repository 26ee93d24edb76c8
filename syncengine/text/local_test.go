package text

import (
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyLocalEditsAcrossChunks types into a document of many chunks
// (a rune at a time, so runs stay short and chunks split), at the start,
// the end, near the last edit and anywhere, forking now and then, and checks
// the text against a plain rune slice after every edit. Typing keeps a
// cached chunk position between edits (visChunk's hint); a stale one puts
// an edit in the wrong place, which the small documents of the convergence
// properties never span enough chunks to show.
func TestPropertyLocalEditsAcrossChunks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := New()
		var want []rune
		var seq uint64
		last := 0
		for range rapid.IntRange(maxRuns*4, maxRuns*12).Draw(t, "edits") {
			var pos int
			switch rapid.IntRange(0, 5).Draw(t, "where") {
			case 0:
				pos = 0
			case 1:
				pos = len(want)
			case 2, 3:
				pos = min(max(last+rapid.IntRange(-2, 2).Draw(t, "near"), 0), len(want))
			default:
				pos = rapid.IntRange(0, len(want)).Draw(t, "pos")
			}
			if len(want) > 0 && rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
				pos = min(pos, len(want)-1)
				n := rapid.IntRange(1, min(3, len(want)-pos)).Draw(t, "n")
				if _, err := d.LocalDelete(pos, n); err != nil {
					t.Fatalf("delete %d at %d: %v", n, pos, err)
				}
				want = append(want[:pos], want[pos+n:]...)
			} else {
				r := alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, "rune")]
				if _, err := d.LocalInsert(ID{rep(1), seq}, pos, string(r)); err != nil {
					t.Fatalf("insert at %d: %v", pos, err)
				}
				seq++
				want = append(want[:pos], append([]rune{r}, want[pos:]...)...)
			}
			last = pos
			if rapid.IntRange(0, 20).Draw(t, "fork") == 0 {
				d = d.Fork()
			}
			if got := d.String(); got != string(want) || d.Len() != len(want) {
				t.Fatalf("after an edit at %d: got %q (len %d), want %q", pos, got, d.Len(), string(want))
			}
		}
		if len(d.chunks) < 3 {
			t.Fatalf("the edits made %d chunks; the test needs several", len(d.chunks))
		}
	})
}
