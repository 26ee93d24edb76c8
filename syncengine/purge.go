package syncengine

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// ScrubRune replaces the content of deleted characters in scrubbed history.
// One ASCII rune per character keeps every op id and origin unchanged.
const ScrubRune = '*'

// PurgeChangeset removes from a stored or queued changeset what erasure and
// redaction took out of the records it touches, as those records stand now
// (get returns nil for a record this holder does not have):
//   - ops on an erased record become OpRedacted placeholders (RedactChangeset);
//   - inserted text whose characters are now deleted in the record (a
//     redaction deleted the words an erasure request named) is overwritten
//     with ScrubRune, one per character, so the changeset keeps its identity
//     and op ids and still applies anywhere, while the words are gone.
//
// It reports whether anything changed. Deleted text never comes back in this
// CRDT, so scrubbing it loses nothing a reader could see.
func PurgeChangeset(cs *Changeset, get func(RecordID) *Record) (*Changeset, bool) {
	erased := func(id RecordID) bool {
		r := get(id)
		return r != nil && r.Erased != nil
	}
	out, changed := RedactChangeset(cs, erased)
	var ids []ID
	for i := range out.Ops {
		op := &out.Ops[i]
		if op.Kind != OpInsertText {
			continue
		}
		r := get(op.Record)
		if r == nil || r.Erased != nil {
			continue
		}
		f := r.Fields[op.Field]
		if f == nil || f.Text == nil {
			continue
		}
		if ids == nil {
			ids = out.OpIDs()
		}
		scrubbed, ok := scrubText(op.Text, ids[i], f, r.VV)
		if !ok {
			continue
		}
		if !changed || out == cs {
			c := *out
			c.Ops = append([]Op(nil), out.Ops...)
			out = &c
			op = &out.Ops[i]
		}
		op.Text = scrubbed
		changed = true
	}
	return out, changed
}

// scrubText overwrites the characters of an insert (the first has id first)
// that the field's text has since deleted: deleted there, or applied (vv,
// the record's version vector, covers them) and gone, which only text
// compaction does, to deleted characters.
func scrubText(s string, first ID, f *Field, vv VV) (string, bool) {
	var b strings.Builder
	changed := false
	k := uint64(0)
	for _, r := range s {
		id := ID{Replica: first.Replica, Seq: first.Seq + k}
		k++
		gone := f.Text.Deleted(id.text()) || (vv.Get(id.Replica) >= id.Seq && !f.Text.Contains(id.text()))
		if r != ScrubRune && gone {
			b.WriteRune(ScrubRune)
			changed = true
			continue
		}
		b.WriteRune(r)
	}
	if !changed {
		return s, false
	}
	return b.String(), true
}

// PurgeDeletedText drops the content of deleted characters from every text
// field of r (after a redaction deleted named words), so the stored state
// holds no trace of them.
func (r *Record) PurgeDeletedText() {
	for name, f := range r.Fields {
		if f.Kind == KindText && f.Text != nil {
			r.mutable(name).Text.PurgeDeletedContent()
		}
	}
}

// RedactWords plans the redaction of named words in one text field: for each
// case-insensitive occurrence of any word in the visible text, the rune
// position and length to delete. Later positions come first, so deleting in
// the returned order keeps the earlier positions valid.
func RedactWords(visible string, words []string) [][2]int {
	runes := []rune(visible)
	var spans [][2]int
	for _, w := range words {
		w = strings.TrimSpace(w)
		n := utf8.RuneCountInString(w)
		if n == 0 {
			continue
		}
		// Compared rune by rune with Unicode case folding: lower-casing the
		// whole text could change its length and shift every position.
		for i := 0; i+n <= len(runes); i++ {
			if strings.EqualFold(string(runes[i:i+n]), w) {
				spans = append(spans, [2]int{i, n})
				i += n - 1
			}
		}
	}
	// Merge overlaps (one word inside another), then order last first.
	sortSpans(spans)
	var merged [][2]int
	for _, s := range spans {
		if n := len(merged); n > 0 && s[0] <= merged[n-1][0]+merged[n-1][1] {
			if end := s[0] + s[1]; end > merged[n-1][0]+merged[n-1][1] {
				merged[n-1][1] = end - merged[n-1][0]
			}
			continue
		}
		merged = append(merged, s)
	}
	for i, j := 0, len(merged)-1; i < j; i, j = i+1, j-1 {
		merged[i], merged[j] = merged[j], merged[i]
	}
	return merged
}

func sortSpans(s [][2]int) {
	slices.SortFunc(s, func(a, b [2]int) int { return a[0] - b[0] })
}

// TextSpans lists the ids of the visible characters at rune positions
// [pos, pos+n) of a text field, as spans: what a redaction deletes, kept in
// the erasure ledger (ids only, never the words) so it can be done again.
func (f *Field) TextSpans(pos, n int) []Span {
	var out []Span
	if f == nil || f.Text == nil {
		return nil
	}
	for _, id := range f.Text.VisibleIDs(pos, n) {
		x := fromText(id)
		if k := len(out); k > 0 && out[k-1].ID.Replica == x.Replica && out[k-1].ID.Seq+out[k-1].Len == x.Seq {
			out[k-1].Len++
			continue
		}
		out = append(out, Span{ID: x, Len: 1})
	}
	return out
}

// VisiblePositions maps each visible character of a text field named by
// spans to its rune position, ascending (a redaction done again after a
// restore deletes what is still visible of the ledger's spans).
func (f *Field) VisiblePositions(spans []Span) []int {
	if f == nil || f.Text == nil {
		return nil
	}
	want := func(x ID) bool {
		for _, s := range spans {
			if s.ID.Replica == x.Replica && x.Seq >= s.ID.Seq && x.Seq < s.ID.Seq+s.Len {
				return true
			}
		}
		return false
	}
	var out []int
	for i, id := range f.Text.VisibleIDs(0, f.Text.Len()) {
		if want(fromText(id)) {
			out = append(out, i)
		}
	}
	return out
}
