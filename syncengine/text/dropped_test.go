package text

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// hubSim is a server (hub) and phones, as JoinedUp syncs text: a phone's
// edits wait in its outbox until it pushes; the hub applies pushed ops in
// each phone's order and logs them; a phone pulls the log after its
// cursor (not its own ops). The hub compacts its document whenever it
// likes, keeping what it dropped. An op made before the last compaction
// (its author had not pulled that far) is late: an op naming a dropped
// character is re-pointed (and logged re-pointed), and after a late insert
// (which integrates among tombstones the hub no longer has, so it may land
// elsewhere than on a phone that kept them) every phone that pulls past it
// is sent the hub's document whole, which replaces its own (its outbox
// replayed on top), as the server sends a record's snapshot.
type hubSim struct {
	hub      *Doc
	dropped  *Dropped
	log      []hubOp
	rebases  []int // log positions of late inserts
	at       int   // log position of the last compaction
	phones   []*hubPhone
	inserted map[ID]bool
	deleted  map[ID]bool
	late     int // re-pointed ops
}

type hubOp struct {
	author int
	seen   int // the hub log position its author had pulled to
	ins    *Insert
	del    *Delete
}

type hubPhone struct {
	d      *Doc
	seq    uint64
	outbox []hubOp
	cursor int
}

func newHubSim(n int) *hubSim {
	s := &hubSim{hub: New(), inserted: map[ID]bool{}, deleted: map[ID]bool{}}
	for i := 0; i < n; i++ {
		s.phones = append(s.phones, &hubPhone{d: New(), seq: 1})
	}
	return s
}

func applyOp(d *Doc, op hubOp) error {
	if op.ins != nil {
		return d.ApplyInsert(*op.ins)
	}
	return d.ApplyDelete(*op.del)
}

func (s *hubSim) edit(t *rapid.T, i int) {
	p := s.phones[i]
	if p.d.Len() > 0 && rapid.IntRange(0, 2).Draw(t, "delete") == 0 {
		pos := rapid.IntRange(0, p.d.Len()-1).Draw(t, "pos")
		n := rapid.IntRange(1, min(3, p.d.Len()-pos)).Draw(t, "n")
		op, err := p.d.LocalDelete(pos, n)
		if err != nil {
			t.Fatalf("local delete: %v", err)
		}
		for _, sp := range op.Spans {
			for k := uint64(0); k < sp.Len; k++ {
				s.deleted[ID{sp.ID.Replica, sp.ID.Seq + k}] = true
			}
		}
		p.outbox = append(p.outbox, hubOp{author: i, seen: p.cursor, del: &op})
		return
	}
	txt := drawText(t)
	op, err := p.d.LocalInsert(ID{rep(byte(i + 1)), p.seq}, rapid.IntRange(0, p.d.Len()).Draw(t, "pos"), txt)
	if err != nil {
		t.Fatalf("local insert: %v", err)
	}
	n := uint64(len([]rune(txt)))
	for k := uint64(0); k < n; k++ {
		s.inserted[ID{op.ID.Replica, op.ID.Seq + k}] = true
	}
	p.seq += n
	p.outbox = append(p.outbox, hubOp{author: i, seen: p.cursor, ins: &op})
}

func (s *hubSim) push(t *rapid.T, i int) {
	p := s.phones[i]
	for _, op := range p.outbox {
		if err := applyOp(s.hub, op); err != nil {
			// A late op: made before the hub compacted.
			if !errors.Is(err, ErrMissingOrigin) && !errors.Is(err, ErrUnknownID) {
				t.Fatalf("hub: %v", err)
			}
			changed := false
			if op.ins != nil {
				ins, ok := s.hub.RepointInsert(s.dropped, *op.ins)
				op.ins, changed = &ins, ok
			} else {
				del, ok := s.hub.RepointDelete(s.dropped, *op.del, nil)
				op.del, changed = &del, ok
			}
			if !changed {
				t.Fatalf("hub cannot re-point a late op: %v", err)
			}
			if err := applyOp(s.hub, op); err != nil {
				t.Fatalf("hub: re-pointed op fails: %v", err)
			}
			s.late++
		}
		if op.ins != nil && op.seen < s.at {
			s.rebases = append(s.rebases, len(s.log))
		}
		s.log = append(s.log, op)
	}
	p.outbox = nil
}

func (s *hubSim) pull(t *rapid.T, i int) {
	p := s.phones[i]
	rebase := slices.ContainsFunc(s.rebases, func(at int) bool { return at >= p.cursor })
	if rebase {
		p.d = s.hub.Clone()
		// The outbox replayed on the hub's document; what names text the
		// hub dropped stays queued (it is pushed, re-pointed, and comes
		// back in the next rebase).
		for _, op := range p.outbox {
			_ = applyOp(p.d, op)
		}
	} else {
		for _, op := range s.log[p.cursor:] {
			if op.author == i {
				continue
			}
			if err := applyOp(p.d, op); err != nil {
				t.Fatalf("phone %d cannot apply the hub's op: %v", i, err)
			}
		}
	}
	p.cursor = len(s.log)
}

func (s *hubSim) compact(t *rapid.T) {
	before := s.hub.String()
	enc := len(s.hub.AppendBinary(nil))
	var n int
	s.dropped, n = s.hub.CompactKeeping(s.dropped)
	if n > 0 {
		s.at = len(s.log)
	}
	if got := s.hub.String(); got != before {
		t.Fatalf("compaction changed %q to %q", before, got)
	}
	if after := len(s.hub.AppendBinary(nil)); after > enc {
		t.Fatalf("compaction dropped %d tombstones but the encoding went %d -> %d bytes", n, enc, after)
	}
	if s.dropped != nil {
		b := s.dropped.AppendBinary(nil)
		x, err := DecodeDropped(b)
		if err != nil || string(x.AppendBinary(nil)) != string(b) {
			t.Fatalf("dropped text does not round-trip: %v", err)
		}
		s.dropped = x
	}
}

// Random concurrent editing with the hub compacting at random points, some
// of them safe (every phone has pulled everything; edits still in outboxes
// are the late ones), some not (a phone far behind, as one restored from a
// backup): every phone ends with the hub's text, and the hub shows exactly
// the characters inserted and never deleted.
func TestPropertyHubCompactionWithLateEdits(t *testing.T) {
	late := 0
	rapid.Check(t, func(t *rapid.T) {
		s := newHubSim(rapid.IntRange(2, 4).Draw(t, "phones"))
		for step := rapid.IntRange(20, 200).Draw(t, "steps"); step > 0; step-- {
			i := rapid.IntRange(0, len(s.phones)-1).Draw(t, "phone")
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1, 2, 3, 4:
				s.edit(t, i)
			case 5:
				s.push(t, i)
			case 6:
				s.pull(t, i)
			case 7, 8:
				safe := true
				for _, p := range s.phones {
					safe = safe && p.cursor == len(s.log)
				}
				if safe || rapid.Bool().Draw(t, "unsafe") {
					s.compact(t)
				}
			case 9:
				for k := range s.phones {
					s.push(t, k)
				}
				for k := range s.phones {
					s.pull(t, k)
				}
			}
		}
		for k := range s.phones {
			s.push(t, k)
		}
		for k := range s.phones {
			s.pull(t, k)
		}
		want := s.hub.String()
		for k, p := range s.phones {
			if got := p.d.String(); got != want {
				t.Fatalf("phone %d shows %q, the hub %q (%d late ops)", k, got, want, s.late)
			}
		}
		vis := s.hub.VisibleIDs(0, s.hub.Len())
		var wantVis int
		for id := range s.inserted {
			if !s.deleted[id] {
				wantVis++
			}
		}
		if len(vis) != wantVis {
			t.Fatalf("the hub shows %d characters, %d were inserted and not deleted", len(vis), wantVis)
		}
		for _, id := range vis {
			if !s.inserted[id] || s.deleted[id] {
				t.Fatalf("the hub shows %x/%d, deleted or never inserted", id.Replica, id.Seq)
			}
		}
		late += s.late
	})
	if late == 0 {
		t.Fatal("no run had a late edit: the test tests nothing")
	}
	t.Logf("%d late ops re-pointed", late)
}

// typedBackwards types s last character first, each at the start: every
// character is a run of its own (its right origin is the one after it), as
// text typed in many places is. It returns each character's id.
func typedBackwards(t *testing.T, s string) (*Doc, map[rune]ID) {
	d := New()
	ids := map[rune]ID{}
	rs := []rune(s)
	for i := len(rs) - 1; i >= 0; i-- {
		id := ID{rep(1), uint64(len(rs) - i)}
		if _, err := d.LocalInsert(id, 0, string(rs[i])); err != nil {
			t.Fatal(err)
		}
		ids[rs[i]] = id
	}
	return d, ids
}

// Two edits made before a compaction, into one stretch of deleted text,
// arrive after it: both are applied between the same visible characters as
// their author typed them, nothing is lost, and a late delete of dropped
// text changes nothing.
func TestLateInsertsIntoDroppedStretch(t *testing.T) {
	hub, id := typedBackwards(t, "[0123456789]")
	phone := hub.Clone()
	// Typed on the phone after '3' and after '6' while the hub deleted
	// 1..8 and compacted.
	x := Insert{ID: ID{rep(2), 1}, OriginLeft: id['3'], OriginRight: id['4'], Text: "X"}
	y := Insert{ID: ID{rep(2), 2}, OriginLeft: id['6'], OriginRight: id['7'], Text: "Y"}
	for _, op := range []Insert{x, y} {
		if err := phone.ApplyInsert(op); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hub.LocalDelete(2, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.LocalDelete(2, 1); err != nil { // the phone deletes '1' too
		t.Fatal(err)
	}
	dropped, n := hub.CompactKeeping(nil)
	if n != 6 {
		t.Fatalf("dropped %d tombstones, want 6 (2..7)", n)
	}
	for _, op := range []Insert{x, y} {
		if err := hub.ApplyInsert(op); !errors.Is(err, ErrMissingOrigin) {
			t.Fatalf("a late insert naming dropped text applied without re-pointing: %v", err)
		}
		re, ok := hub.RepointInsert(dropped, op)
		if !ok || re.OriginLeft != id['1'] || re.OriginRight != id['8'] {
			t.Fatalf("re-pointed to %+v (%v), want between the stretch's ends", re, ok)
		}
		if err := hub.ApplyInsert(re); err != nil {
			t.Fatal(err)
		}
	}
	del := Delete{Spans: []Span{{id['7'], 5}}} // '7' down to '3': ids ascend right to left
	re, ok := hub.RepointDelete(dropped, del, nil)
	if !ok || len(re.Spans) != 1 || re.Spans[0] != (Span{id['1'], 1}) {
		t.Fatalf("delete re-pointed to %+v (%v)", re, ok)
	}
	if err := hub.ApplyDelete(re); err != nil {
		t.Fatal(err)
	}
	if got := hub.String(); got != "[0XY9]" && got != "[0YX9]" {
		t.Fatalf("hub shows %q", got)
	}
	if _, ok := hub.RepointInsert(dropped, Insert{ID: ID{rep(2), 9}, OriginLeft: ID{rep(7), 1}, Text: "?"}); ok {
		t.Fatal("an origin nobody ever held was re-pointed")
	}
}

// A second compaction drops the ends the first kept: an edit naming text
// the first dropped is re-pointed to the second's ends.
func TestDroppedComposesAcrossCompactions(t *testing.T) {
	d, id := typedBackwards(t, "abcdefgh")
	d.LocalDelete(2, 4) // c..f: four runs
	first, n := d.CompactKeeping(nil)
	if n != 2 {
		t.Fatalf("first compaction dropped %d, want d and e", n)
	}
	late := Insert{ID: ID{rep(3), 1}, OriginLeft: id['d'], OriginRight: id['e'], Text: "!"}
	d.LocalDelete(1, 2) // b and g: b c f g are tombstones now
	x, n := d.CompactKeeping(first)
	if n != 2 {
		t.Fatalf("second compaction dropped %d, want c and f", n)
	}
	re, ok := d.RepointInsert(x, late)
	if !ok || re.OriginLeft != id['b'] || re.OriginRight != id['g'] {
		t.Fatalf("re-pointed to %+v, want b..g", re)
	}
	if err := d.ApplyInsert(re); err != nil {
		t.Fatalf("re-pointed through both compactions: %v", err)
	}
	if got := d.String(); got != "a!h" {
		t.Fatalf("got %q", got)
	}
	b := x.AppendBinary(nil)
	if y, err := DecodeDropped(b); err != nil || y.Len() != x.Len() {
		t.Fatalf("decode: %v", err)
	}
}

func FuzzDecodeDropped(f *testing.F) {
	d := New()
	for i := 0; i < 10; i++ {
		d.LocalInsert(ID{rep(1), uint64(i + 1)}, 0, "x")
	}
	d.LocalDelete(1, 8)
	x, _ := d.CompactKeeping(nil)
	f.Add(x.AppendBinary(nil))
	f.Add((&Dropped{}).AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{droppedVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeDropped(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc := x.AppendBinary(nil)
		y, err := DecodeDropped(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if string(y.AppendBinary(nil)) != string(enc) {
			t.Fatal("encoding is not stable")
		}
		// Whatever it says, using it never panics.
		doc := New()
		doc.RepointInsert(y, Insert{ID: ID{rep(9), 1}, OriginLeft: ID{rep(1), 3}, OriginRight: ID{rep(1), 4}, Text: "z"})
		doc.RepointDelete(y, Delete{Spans: []Span{{ID{rep(1), 0}, 1 << 20}}}, []Span{{ID{rep(1), 5}, 3}})
	})
}
