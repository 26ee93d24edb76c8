package text

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// Dropped is where the tombstones compaction dropped lay: for each dropped
// id, the stretch of tombstones it was in, named by the stretch's kept ends
// (the first and last tombstone, which Compact keeps). It is what a holder
// that compacts needs to take an edit made before the compaction (a phone
// restored from a backup, an edit typed while a pull was in flight) that
// names a dropped character: RepointInsert and RepointDelete re-point it
// exactly as Compact re-pointed the items it kept, so it lands in the same
// visible place. Nothing else uses it: Dropped is not part of a Doc or its
// encoding, and holders that never compact have none.
//
// A Dropped only grows (ids never come back); it costs a few bytes per
// dropped range of consecutive ids, against the tombstone's run in the
// document, and is read only when an edit names an id the document lacks.
type Dropped struct {
	reps   [][16]byte // ascending
	ranges [][]drange // by reps index: ascending, disjoint
	ends   []stretchEnds
}

type drange struct {
	lo, hi uint64
	k      uint32 // index into ends
}

type stretchEnds struct{ first, last ID }

// Len is how many dropped ranges x holds.
func (x *Dropped) Len() int {
	if x == nil {
		return 0
	}
	n := 0
	for _, rs := range x.ranges {
		n += len(rs)
	}
	return n
}

// stretch returns the ends of the stretch id was dropped from.
func (x *Dropped) stretch(id ID) (stretchEnds, bool) {
	r, ok := x.rangeOf(id)
	if !ok {
		return stretchEnds{}, false
	}
	return x.ends[r.k], true
}

// rangeOf returns the dropped range holding id.
func (x *Dropped) rangeOf(id ID) (drange, bool) {
	if x == nil {
		return drange{}, false
	}
	i, ok := slices.BinarySearchFunc(x.reps, id.Replica, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return drange{}, false
	}
	rs := x.ranges[i]
	j := sort.Search(len(rs), func(j int) bool { return rs[j].hi > id.Seq })
	if j == len(rs) || rs[j].lo > id.Seq {
		return drange{}, false
	}
	return rs[j], true
}

// CompactKeeping is Compact that also returns where the tombstones it
// dropped lay, added to prev (what earlier compactions of this document
// dropped; nil for none). prev's stretch ends that this compaction drops
// are re-pointed as the document's own items are (a first end to the new
// stretch's first, a last end to its last), so an edit naming an id dropped
// long ago lands where one naming its stretch's end would. The result is
// prev itself when nothing was dropped.
func (d *Doc) CompactKeeping(prev *Dropped) (*Dropped, int) {
	n, x := d.compact(true)
	if x == nil {
		return prev, n
	}
	if prev == nil {
		return x, n
	}
	return x.merge(prev), n
}

// droppedFrom builds a Dropped from compact's per-replica maps of dropped
// ranges to stretch numbers.
func (d *Doc) droppedFrom(drop []rmap, endsOf func(k uint32) (ID, ID)) *Dropped {
	x := &Dropped{}
	type repRanges struct {
		id [16]byte
		rs []drange
	}
	var all []repRanges
	for r := range drop {
		var rs []drange
		for _, b := range drop[r].blocks {
			for _, e := range b.e {
				rs = append(rs, drange{e.lo, e.hi, e.slot})
			}
		}
		if len(rs) > 0 {
			all = append(all, repRanges{d.reps[r], rs})
		}
	}
	slices.SortFunc(all, func(a, b repRanges) int { return bytes.Compare(a.id[:], b.id[:]) })
	used := map[uint32]uint32{}
	for _, a := range all {
		x.reps = append(x.reps, a.id)
		for i := range a.rs {
			k, ok := used[a.rs[i].k]
			if !ok {
				f, l := endsOf(a.rs[i].k)
				k = uint32(len(x.ends))
				x.ends = append(x.ends, stretchEnds{f, l})
				used[a.rs[i].k] = k
			}
			a.rs[i].k = k
		}
		x.ranges = append(x.ranges, a.rs)
	}
	return x
}

// merge returns x (this compaction's) with prev (earlier ones') added:
// prev's ends re-pointed through x, and x's ranges first where the two
// overlap (they do not, unless the document was rebuilt from history and
// its dropped ids came back).
func (x *Dropped) merge(prev *Dropped) *Dropped {
	out := &Dropped{ends: slices.Clone(x.ends)}
	endIdx := map[stretchEnds]uint32{}
	for i, e := range out.ends {
		endIdx[e] = uint32(i)
	}
	remap := make([]uint32, len(prev.ends))
	for i, e := range prev.ends {
		if s, ok := x.stretch(e.first); ok {
			e.first = s.first
		}
		if s, ok := x.stretch(e.last); ok {
			e.last = s.last
		}
		k, ok := endIdx[e]
		if !ok {
			k = uint32(len(out.ends))
			out.ends = append(out.ends, e)
			endIdx[e] = k
		}
		remap[i] = k
	}
	reps := append(slices.Clone(x.reps), prev.reps...)
	slices.SortFunc(reps, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	reps = slices.Compact(reps)
	for _, rep := range reps {
		var mine, old []drange
		if i, ok := slices.BinarySearchFunc(x.reps, rep, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }); ok {
			mine = x.ranges[i]
		}
		if i, ok := slices.BinarySearchFunc(prev.reps, rep, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }); ok {
			old = prev.ranges[i]
		}
		rs := slices.Clone(mine)
		for _, o := range old {
			o.k = remap[o.k]
			rs = append(rs, subtract(o, mine)...)
		}
		slices.SortFunc(rs, func(a, b drange) int { return cmp.Compare(a.lo, b.lo) })
		// Coalesce neighbours of one stretch.
		merged := rs[:0]
		for _, r := range rs {
			if n := len(merged); n > 0 && merged[n-1].hi == r.lo && merged[n-1].k == r.k {
				merged[n-1].hi = r.hi
				continue
			}
			merged = append(merged, r)
		}
		out.reps = append(out.reps, rep)
		out.ranges = append(out.ranges, merged)
	}
	return out
}

// subtract returns what of o no range of cut (ascending, disjoint) covers.
func subtract(o drange, cut []drange) []drange {
	var out []drange
	lo := o.lo
	i := sort.Search(len(cut), func(i int) bool { return cut[i].hi > lo })
	for ; i < len(cut) && cut[i].lo < o.hi && lo < o.hi; i++ {
		if cut[i].lo > lo {
			out = append(out, drange{lo, cut[i].lo, o.k})
		}
		lo = max(lo, cut[i].hi)
	}
	if lo < o.hi {
		out = append(out, drange{lo, o.hi, o.k})
	}
	return out
}

// present reports whether the document holds id, and if so up to which
// seq (exclusive) it holds that replica's ids from there without a gap in
// its id index entry.
func (d *Doc) present(id ID) (uint64, bool) {
	r, ok := d.repIdx[id.Replica]
	if !ok {
		return 0, false
	}
	m := &d.index[r]
	b, i := m.locate(id.Seq)
	if i < 0 {
		return 0, false
	}
	e := m.blocks[b].e[i]
	if id.Seq >= e.hi {
		return 0, false
	}
	return e.hi, true
}

// RepointInsert re-points an insert's origins that name characters x
// dropped from d (and d does not hold): a left origin to its stretch's
// first end, a right origin to its last, as Compact re-pointed the items it
// kept. It reports whether it changed anything. An origin d lacks that x
// does not know either is left as it is (applying it fails as before).
func (d *Doc) RepointInsert(x *Dropped, op Insert) (Insert, bool) {
	changed := false
	if !op.OriginLeft.IsZero() {
		if _, ok := d.present(op.OriginLeft); !ok {
			if s, ok := x.stretch(op.OriginLeft); ok {
				op.OriginLeft, changed = s.first, true
			}
		}
	}
	if !op.OriginRight.IsZero() {
		if _, ok := d.present(op.OriginRight); !ok {
			if s, ok := x.stretch(op.OriginRight); ok {
				op.OriginRight, changed = s.last, true
			}
		}
	}
	return op, changed
}

// RepointDelete replaces the parts of a delete's spans that name characters
// x dropped from d with the first end of their stretch: a tombstone d keeps,
// deleted already, so deleting it again changes nothing, as deleting the
// dropped (deleted) characters would have. It reports whether it changed
// anything; a span naming an id neither d nor x knows leaves the op as it
// is (applying it fails as before). fresh are ids the op may name that d
// does not hold yet: inserted earlier in the same change.
func (d *Doc) RepointDelete(x *Dropped, op Delete, fresh []Span) (Delete, bool) {
	if x == nil {
		return op, false
	}
	var out []Span
	changed := false
	for _, sp := range op.Spans {
		seq, end := sp.ID.Seq, sp.ID.Seq+sp.Len
		if end < seq {
			return op, false
		}
		for seq < end {
			id := ID{sp.ID.Replica, seq}
			hi, ok := d.present(id)
			for _, f := range fresh {
				if !ok && f.ID.Replica == id.Replica && seq >= f.ID.Seq && seq-f.ID.Seq < f.Len {
					hi, ok = f.ID.Seq+f.Len, true
				}
			}
			if ok {
				hi = min(hi, end)
				out = appendSpan(out, Span{id, hi - seq})
				seq = hi
				continue
			}
			r, ok := x.rangeOf(id)
			if !ok {
				return op, false
			}
			first := x.ends[r.k].first
			if n := len(out); n == 0 || out[n-1] != (Span{first, 1}) {
				out = append(out, Span{first, 1})
			}
			changed = true
			seq = min(r.hi, end)
		}
	}
	if !changed {
		return op, false
	}
	return Delete{Spans: out}, true
}

// droppedVersion is the first byte of an encoded Dropped.
const droppedVersion = 1

// AppendBinary appends x's encoding:
//
//	byte    version (1)
//	uvarint replica count, then the 16-byte ids, strictly ascending
//	uvarint stretch count, then per stretch its first and last end, each
//	        as uvarint replica index and uvarint seq
//	per replica: uvarint range count, then per range uvarint (lo - the
//	        previous range's hi), uvarint (hi - lo) >= 1, uvarint stretch
//
// Replicas are those of the ranges and the ends together.
func (x *Dropped) AppendBinary(b []byte) []byte {
	reps := slices.Clone(x.reps)
	for _, e := range x.ends {
		reps = append(reps, e.first.Replica, e.last.Replica)
	}
	slices.SortFunc(reps, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	reps = slices.Compact(reps)
	idx := make(map[[16]byte]uint64, len(reps))
	b = append(b, droppedVersion)
	b = binary.AppendUvarint(b, uint64(len(reps)))
	for i, r := range reps {
		idx[r] = uint64(i)
		b = append(b, r[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(x.ends)))
	for _, e := range x.ends {
		for _, id := range []ID{e.first, e.last} {
			b = binary.AppendUvarint(b, idx[id.Replica])
			b = binary.AppendUvarint(b, id.Seq)
		}
	}
	for _, r := range reps {
		var rs []drange
		if i, ok := slices.BinarySearchFunc(x.reps, r, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) }); ok {
			rs = x.ranges[i]
		}
		b = binary.AppendUvarint(b, uint64(len(rs)))
		prev := uint64(0)
		for _, g := range rs {
			b = binary.AppendUvarint(b, g.lo-prev)
			b = binary.AppendUvarint(b, g.hi-g.lo)
			b = binary.AppendUvarint(b, uint64(g.k))
			prev = g.hi
		}
	}
	return b
}

// DecodeDropped decodes what AppendBinary wrote. It is bounded by the
// input (every count is checked against the bytes left) and fails with an
// error wrapping ErrMalformed on anything AppendBinary could not have
// written.
func DecodeDropped(b []byte) (*Dropped, error) {
	dc := &decoder{b: b}
	if v := dc.byte1(); dc.err == nil && v != droppedVersion {
		dc.fail(fmt.Sprintf("unknown dropped-text version %d", v))
	}
	nreps := dc.uvarint()
	if dc.err == nil && nreps > uint64(dc.remaining()/16) {
		dc.fail("replica count exceeds input")
	}
	var reps [][16]byte
	for i := uint64(0); dc.err == nil && i < nreps; i++ {
		var r [16]byte
		copy(r[:], dc.bytes(16))
		if r == ([16]byte{}) {
			dc.fail("zero replica id")
		} else if i > 0 && bytes.Compare(reps[i-1][:], r[:]) >= 0 {
			dc.fail("replica ids not ascending")
		}
		reps = append(reps, r)
	}
	nends := dc.uvarint()
	if dc.err == nil && nends > uint64(dc.remaining()/4) {
		dc.fail("stretch count exceeds input")
	}
	x := &Dropped{}
	for i := uint64(0); dc.err == nil && i < nends; i++ {
		var e [2]ID
		for j := range e {
			r := dc.uvarint()
			seq := dc.uvarint()
			if dc.err == nil && r >= nreps {
				dc.fail("stretch end names an unknown replica")
			}
			if dc.err == nil {
				e[j] = ID{reps[r], seq}
			}
		}
		x.ends = append(x.ends, stretchEnds{e[0], e[1]})
	}
	for i := uint64(0); dc.err == nil && i < nreps; i++ {
		n := dc.uvarint()
		if dc.err == nil && n > uint64(dc.remaining()/3) {
			dc.fail("range count exceeds input")
		}
		var rs []drange
		prev := uint64(0)
		for j := uint64(0); dc.err == nil && j < n; j++ {
			gap, length, k := dc.uvarint(), dc.uvarint(), dc.uvarint()
			lo := prev + gap
			hi := lo + length
			switch {
			case dc.err != nil:
			case lo < prev || hi <= lo:
				dc.fail("ranges overlap, overflow or are empty")
			case k >= nends:
				dc.fail("range names an unknown stretch")
			}
			rs = append(rs, drange{lo, hi, uint32(k)})
			prev = hi
		}
		if len(rs) > 0 {
			x.reps = append(x.reps, reps[i])
			x.ranges = append(x.ranges, rs)
		}
	}
	if dc.err == nil && dc.remaining() != 0 {
		dc.fail("trailing bytes")
	}
	if dc.err != nil {
		return nil, dc.err
	}
	return x, nil
}
