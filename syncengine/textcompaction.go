package syncengine

import (
	"errors"
	"maps"
	"slices"
	"sort"

	"github.com/joinedup/joinedup/syncengine/text"
)

// TextCompaction is what a holder that drops text tombstones (the server)
// keeps per record beside its state: the record's version vector when its
// text was last compacted (C), and per text field where the dropped
// tombstones lay (text.Dropped). Replicas that never compact have none.
//
// With it a changeset made before the compaction is still applied, never
// lost (docs/architecture.md, "History compaction and tombstones"):
//   - its ops that name dropped characters are re-pointed as the stored
//     items were (RepointText);
//   - an insert whose author had not seen C (its Dep does not cover C) is
//     late: it integrates among tombstones this holder no longer has, so
//     it may land elsewhere than on a replica that kept them, and the
//     record's state must be sent to every holder (LateText).
type TextCompaction struct {
	VV     VV
	Fields map[string]*text.Dropped
}

// CompactTextKeeping drops from r's text fields the tombstones no edit made
// after this point can name (text.Doc.Compact) and returns what it dropped
// added to prev (nil for none), with r's version vector as C, and how many
// tombstones went. The caller decides it is worth it: every replica that
// may edit r has r's whole state and none has an edit of r still on its
// way, as far as the caller can tell; edits that arrive later all the same
// are what TextCompaction is for. With nothing dropped, prev is returned.
func (r *Record) CompactTextKeeping(prev *TextCompaction) (*TextCompaction, int) {
	if r.Erased != nil {
		return prev, 0
	}
	var names []string
	for name, f := range r.Fields {
		if f.Kind == KindText && f.Text != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := &TextCompaction{VV: r.VV.Clone(), Fields: map[string]*text.Dropped{}}
	if prev != nil {
		for name, x := range prev.Fields {
			out.Fields[name] = x
		}
	}
	total := 0
	for _, name := range names {
		x, n := r.mutable(name).Text.CompactKeeping(out.Fields[name])
		if n > 0 {
			out.Fields[name] = x
			total += n
		}
	}
	if total == 0 {
		return prev, 0
	}
	return out, total
}

// LateText names the records cs inserts text into whose text was compacted
// (at returns the version vector it was last compacted at, C; nil if
// never) at a version cs's author had not seen: the records whose state
// every holder must be sent once cs is applied.
func LateText(cs *Changeset, at func(RecordID) (VV, error)) ([]RecordID, error) {
	var late []RecordID
	for _, d := range cs.Deps {
		inserts := false
		for i := range cs.Ops {
			if op := &cs.Ops[i]; op.Kind == OpInsertText && op.Record == d.Record {
				inserts = true
				break
			}
		}
		if !inserts {
			continue
		}
		c, err := at(d.Record)
		if err != nil {
			return nil, err
		}
		if c != nil && !d.VV.Covers(c) {
			late = append(late, d.Record)
		}
	}
	return late, nil
}

// RepointText rewrites the text ops of cs that name characters compaction
// dropped from records (get returns a record's state before cs, comp its
// TextCompaction): an insert's origins as the stored items were re-pointed
// (text.Doc.RepointInsert), a delete's dropped ids to a kept tombstone of
// their stretch (text.Doc.RepointDelete). It returns cs itself when nothing
// names dropped text, and otherwise a copy and the records whose ops it
// re-pointed (whose state every holder must be sent, as for LateText). Ids
// neither the record nor its TextCompaction know are left as they are:
// applying them fails as it did before.
func RepointText(cs *Changeset, get RecordGetter, comp func(RecordID) (*TextCompaction, error)) (*Changeset, []RecordID, error) {
	out := cs
	var moved []RecordID
	var ids []ID
	for i := range cs.Ops {
		op := &cs.Ops[i]
		if op.Kind != OpInsertText && op.Kind != OpDeleteText {
			continue
		}
		if ids == nil {
			ids = cs.OpIDs()
		}
		tc, err := comp(op.Record)
		if err != nil {
			return nil, nil, err
		}
		if tc == nil || tc.Fields[op.Field] == nil {
			continue
		}
		r, err := get(op.Record)
		if err != nil {
			return nil, nil, err
		}
		if r == nil || r.Fields[op.Field] == nil || r.Fields[op.Field].Text == nil {
			continue
		}
		doc, x := r.Fields[op.Field].Text, tc.Fields[op.Field]
		nop := *op
		changed := false
		if op.Kind == OpInsertText {
			ins, ok := doc.RepointInsert(x, text.Insert{OriginLeft: op.Left.text(), OriginRight: op.Right.text(), Text: op.Text})
			if ok {
				nop.Left, nop.Right, changed = fromText(ins.OriginLeft), fromText(ins.OriginRight), true
			}
		} else {
			del := text.Delete{Spans: make([]text.Span, len(op.Spans))}
			for k, s := range op.Spans {
				del.Spans[k] = text.Span{ID: s.ID.text(), Len: s.Len}
			}
			// Text inserted earlier in cs is not in the record yet.
			var fresh []text.Span
			for k := 0; k < i; k++ {
				if o := &cs.Ops[k]; o.Kind == OpInsertText && o.Record == op.Record && o.Field == op.Field {
					fresh = append(fresh, text.Span{ID: ids[k].text(), Len: o.width()})
				}
			}
			if re, ok := doc.RepointDelete(x, del, fresh); ok {
				nop.Spans = make([]Span, len(re.Spans))
				for k, s := range re.Spans {
					nop.Spans[k] = Span{ID: fromText(s.ID), Len: s.Len}
				}
				changed = true
			}
		}
		if !changed {
			continue
		}
		// A re-pointed delete moves nothing, but its author may have been
		// sent the record whole meanwhile and could not replay the delete
		// over it, nor the saves typed after it: the record is sent again.
		if len(moved) == 0 || moved[len(moved)-1] != op.Record {
			moved = append(moved, op.Record)
		}
		if out == cs {
			c := *cs
			c.Ops = append([]Op(nil), cs.Ops...)
			out = &c
		}
		out.Ops[i] = nop
	}
	return out, moved, nil
}

// TextRecords lists the records whose text cs edits, in op order.
func TextRecords(cs *Changeset) []RecordID {
	var out []RecordID
	for i := range cs.Ops {
		if op := &cs.Ops[i]; (op.Kind == OpInsertText || op.Kind == OpDeleteText) && !slices.Contains(out, op.Record) {
			out = append(out, op.Record)
		}
	}
	return out
}

// ApplyCompacted is Apply for a holder that compacts text: at returns the
// version vector a record's text was last compacted at (nil if never), comp
// its whole TextCompaction (asked only when cs names text the record lacks,
// so a holder can keep the cheap C apart). A changeset naming dropped text
// is re-pointed and applied (RepointText), never refused for it. It returns
// the changeset to store and send on (re-pointed, if it was), and the
// records whose state every other holder must be sent once it is stored
// (LateText, and those RepointText moved). A changeset naming text nobody
// dropped fails as Apply fails.
func ApplyCompacted(cs *Changeset, get RecordGetter, at func(RecordID) (VV, error), comp func(RecordID) (*TextCompaction, error)) (*Result, *Changeset, []RecordID, error) {
	return applyCompacted(cs, get, at, comp, Apply)
}

// ApplyCompactedUnseen is ApplyCompacted for a changeset its holder knows
// it has never applied (ApplyUnseen).
func ApplyCompactedUnseen(cs *Changeset, get RecordGetter, at func(RecordID) (VV, error), comp func(RecordID) (*TextCompaction, error)) (*Result, *Changeset, []RecordID, error) {
	return applyCompacted(cs, get, at, comp, ApplyUnseen)
}

func applyCompacted(cs *Changeset, get RecordGetter, at func(RecordID) (VV, error), comp func(RecordID) (*TextCompaction, error),
	apply func(*Changeset, RecordGetter) (*Result, error)) (*Result, *Changeset, []RecordID, error) {
	late, err := LateText(cs, at)
	if err != nil {
		return nil, cs, nil, err
	}
	res, err := apply(cs, get)
	if err == nil || !(errors.Is(err, text.ErrMissingOrigin) || errors.Is(err, text.ErrUnknownID)) {
		return res, cs, late, err
	}
	re, moved, rerr := RepointText(cs, get, comp)
	if rerr != nil {
		return nil, cs, nil, rerr
	}
	if re == cs {
		return res, cs, late, err
	}
	res, err = apply(re, get)
	for _, id := range moved {
		if !slices.Contains(late, id) {
			late = append(late, id)
		}
	}
	return res, re, late, err
}

// textCompactionVersion is the version byte inside the JUT frame.
const textCompactionVersion = 1

var magicTextCompaction = [3]byte{'J', 'U', 'T'}

// EncodeTextCompaction encodes tc (a JUT frame: C, then per field in name
// order its name and its text.Dropped encoding).
func EncodeTextCompaction(tc *TextCompaction) []byte {
	e := newEncoder()
	e.uvarint(textCompactionVersion)
	e.vv(tc.VV)
	names := slices.Sorted(maps.Keys(tc.Fields))
	e.uvarint(uint64(len(names)))
	for _, name := range names {
		e.str(name)
		e.bytes(tc.Fields[name].AppendBinary(nil))
	}
	return frame(magicTextCompaction, e.b)
}

// DecodeTextCompaction decodes what EncodeTextCompaction wrote, from bytes
// it does not trust (a stored row may be damaged): bounded like every
// decoder here, failing with code malformed.
func DecodeTextCompaction(b []byte) (*TextCompaction, error) {
	const op = "decode text compaction"
	body, err := unframe(magicTextCompaction, b)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: body}
	if v := d.uvarint(); d.err == nil && v != textCompactionVersion {
		d.fail("unknown version")
	}
	tc := &TextCompaction{VV: d.vv(), Fields: map[string]*text.Dropped{}}
	n := d.count(2)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		name := d.str()
		raw := d.bytes()
		if d.err != nil {
			break
		}
		if name == "" || len(name) > MaxFieldName || (i > 0 && name <= prev) {
			d.fail("field names empty, too long or not ascending")
			break
		}
		x, err := text.DecodeDropped(raw)
		if err != nil {
			return nil, &Error{Code: EMALFORMED, Op: op, Message: "malformed dropped text of field " + name, Err: errors.Join(errMalformed, err)}
		}
		tc.Fields[name] = x
		prev = name
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, &Error{Code: EMALFORMED, Op: op, Message: "malformed text compaction state", Err: d.err}
	}
	return tc, nil
}
