package text

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
)

// Encoding, version 2 (columnar, so that the snappy frame the engine ships
// text in sees long runs of similar bytes):
//
//	byte    version (2)
//	uvarint replica count, then that many 16-byte replica ids, strictly ascending
//	uvarint run count n
//	then n runs (document order, maximally coalesced) as columns:
//	  flags     n bytes (flag* below; flagText is not used)
//	  replicas  uvarint replica index, per run without flagSameRep
//	  lengths   uvarint rune count, per run
//	  seqs      per run: with flagSameRep a zigzag delta from the previous
//	            run's end, else a uvarint
//	  left      uvarint replica index, zigzag (origin seq - run seq),
//	            per run without flagLeftNone|flagLeftPrev
//	  right     the same for right origins, per run without
//	            flagRightNone|flagRightNext
//	  text      the UTF-8 text of the visible runs, back to back; each run
//	            takes as many runes as its length says
//
// Version 1 (still decoded) had the same fields run by run, with a byte
// length before each visible run's text and flagText on visible runs.
//
// Runs are coalesced whenever one char continues the previous one (same
// replica, next seq, left origin = previous char, same right origin and
// state), a property of char pairs only, so any two docs holding the same
// ops produce the same bytes however their runs happened to be split.
// Deleted runs carry no text, so purging never changes the bytes.
const (
	encVersion   = 2
	encVersionV1 = 1

	flagDel       = 1 << 0
	flagText      = 1 << 1 // version 1 only
	flagSameRep   = 1 << 2
	flagLeftPrev  = 1 << 3
	flagLeftNone  = 1 << 4
	flagRightNone = 1 << 5
	flagRightNext = 1 << 6
	flagAll       = 1<<7 - 1
)

// coalesced returns the runs of d maximally merged, text copied. Deleted
// runs carry no text: their content can never be shown again, and whether a
// replica has purged it yet (PurgeDeletedContent) must not change the bytes.
//
// The runs returned carry no text (the text column is the visible runs'
// text in document order, which merging does not change: AppendBinary
// writes it from d), so encoding a long note copies its text once, into
// the output.
func (d *Doc) coalesced(out []run) []run {
	for _, c := range d.chunks {
		out = coalesceRuns(out, c.runs)
	}
	return out
}

// runBufs recycles the coalesced runs AppendBinary works from: a
// long-edited note has thousands, and the server encodes it per push.
var runBufs = sync.Pool{New: func() any { return new([]run) }}

// AppendBinary appends the canonical encoding of d to b.
//
// A forked Doc (a stored state being edited: the server's push, the
// phone's save) reuses what encoding its parent wrote for the chunks the
// fork still shares with it, so encoding a long-edited note costs what
// changed plus copying bytes (memo.go). Both paths give the same bytes.
func (d *Doc) AppendBinary(b []byte) []byte {
	if d.gen != 0 {
		return d.appendMemo(b)
	}
	return d.appendFlat(b)
}

// appendFlat encodes every run afresh.
func (d *Doc) appendFlat(b []byte) []byte {
	buf := runBufs.Get().(*[]run)
	runs := d.coalesced((*buf)[:0])
	defer func() {
		if cap(runs) <= 1<<16 {
			*buf = runs[:0]
			runBufs.Put(buf)
		}
	}()
	used := make([]bool, len(d.reps))
	for i := range runs {
		used[runs[i].rep] = true
		used[runs[i].left.rep] = true
		used[runs[i].right.rep] = true
	}
	var order []uint32
	for i := 1; i < len(d.reps); i++ {
		if used[i] {
			order = append(order, uint32(i))
		}
	}
	slices.SortFunc(order, func(a, b uint32) int { return bytes.Compare(d.reps[a][:], d.reps[b][:]) })
	remap := make([]uint64, len(d.reps))
	b = append(b, encVersion)
	b = binary.AppendUvarint(b, uint64(len(order)))
	for i, r := range order {
		remap[r] = uint64(i)
		b = append(b, d.reps[r][:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(runs)))
	// The flags column is written in place.
	fstart := len(b)
	b = slices.Grow(b, len(runs))[:fstart+len(runs)]
	flags := b[fstart:]
	for i := range runs {
		r := &runs[i]
		var f byte
		if r.del {
			f |= flagDel
		}
		if i > 0 && runs[i-1].rep == r.rep && smallDelta(runs[i-1].seq+uint64(runs[i-1].n), r.seq) {
			f |= flagSameRep
		}
		switch {
		case r.left.rep == zeroRep:
			f |= flagLeftNone
		case i > 0 && r.left == runs[i-1].last():
			f |= flagLeftPrev
		}
		switch {
		case r.right.rep == zeroRep:
			f |= flagRightNone
		case i+1 < len(runs) && r.right == (oid{runs[i+1].rep, runs[i+1].seq}):
			f |= flagRightNext
		}
		flags[i] = f
	}
	for i := range runs {
		if flags[i]&flagSameRep == 0 {
			b = binary.AppendUvarint(b, remap[runs[i].rep])
		}
	}
	for i := range runs {
		b = binary.AppendUvarint(b, uint64(runs[i].n))
	}
	for i := range runs {
		if flags[i]&flagSameRep != 0 {
			p := &runs[i-1]
			b = binary.AppendVarint(b, int64(runs[i].seq-(p.seq+uint64(p.n))))
		} else {
			b = binary.AppendUvarint(b, runs[i].seq)
		}
	}
	for i := range runs {
		if flags[i]&(flagLeftNone|flagLeftPrev) == 0 {
			b = binary.AppendUvarint(b, remap[runs[i].left.rep])
			b = binary.AppendVarint(b, int64(runs[i].left.seq-runs[i].seq))
		}
	}
	for i := range runs {
		if flags[i]&(flagRightNone|flagRightNext) == 0 {
			b = binary.AppendUvarint(b, remap[runs[i].right.rep])
			b = binary.AppendVarint(b, int64(runs[i].right.seq-runs[i].seq))
		}
	}
	for _, c := range d.chunks {
		for i := range c.runs {
			if !c.runs[i].del {
				b = append(b, c.runs[i].text...)
			}
		}
	}
	return b
}

func smallDelta(from, to uint64) bool {
	if to >= from {
		return to-from < 1<<62
	}
	return from-to < 1<<62
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (dc *decoder) fail(what string) {
	if dc.err == nil {
		dc.err = fmt.Errorf("decode text at byte %d: %s: %w", dc.off, what, ErrMalformed)
	}
}

func (dc *decoder) remaining() int { return len(dc.b) - dc.off }

func (dc *decoder) byte1() byte {
	if dc.err != nil || dc.off >= len(dc.b) {
		dc.fail("truncated")
		return 0
	}
	dc.off++
	return dc.b[dc.off-1]
}

func (dc *decoder) uvarint() uint64 {
	if dc.err != nil {
		return 0
	}
	v, n := binary.Uvarint(dc.b[dc.off:])
	if n <= 0 {
		dc.fail("bad varint")
		return 0
	}
	dc.off += n
	return v
}

func (dc *decoder) varint() int64 {
	if dc.err != nil {
		return 0
	}
	v, n := binary.Varint(dc.b[dc.off:])
	if n <= 0 {
		dc.fail("bad varint")
		return 0
	}
	dc.off += n
	return v
}

func (dc *decoder) bytes(n uint64) []byte {
	if dc.err != nil {
		return nil
	}
	if n > uint64(dc.remaining()) {
		dc.fail("truncated")
		return nil
	}
	s := dc.b[dc.off : dc.off+int(n)]
	dc.off += int(n)
	return s
}

// Decode reads one encoded document from the front of b and returns it with
// the number of bytes consumed. Every bad input gives an error wrapping
// ErrMalformed; allocation is bounded by len(b).
func Decode(b []byte) (*Doc, int, error) {
	dc := &decoder{b: b}
	version := dc.byte1()
	if dc.err == nil && version != encVersion && version != encVersionV1 {
		dc.fail(fmt.Sprintf("unknown version %d", version))
	}
	nreps := dc.uvarint()
	if dc.err == nil && nreps > uint64(dc.remaining()/16) {
		dc.fail("replica count exceeds input")
	}
	if dc.err != nil {
		return nil, 0, dc.err
	}
	d := New()
	for i := uint64(0); i < nreps; i++ {
		var r [16]byte
		copy(r[:], dc.bytes(16))
		if r == ([16]byte{}) {
			dc.fail("zero replica id")
		} else if i > 0 && bytes.Compare(d.reps[i][:], r[:]) >= 0 {
			dc.fail("replica ids not ascending")
		}
		if dc.err != nil {
			return nil, 0, dc.err
		}
		d.addRep(r)
	}
	nruns := dc.uvarint()
	if dc.err == nil && nruns > uint64(dc.remaining()/3) {
		dc.fail("run count exceeds input")
	}
	if dc.err != nil {
		return nil, 0, dc.err
	}
	var runs []run
	var flagsOf []byte
	if version == encVersionV1 {
		runs, flagsOf = dc.runsV1(nreps, nruns)
	} else {
		runs, flagsOf = dc.runsV2(nreps, nruns)
	}
	if dc.err != nil {
		return nil, 0, dc.err
	}
	for i := range runs {
		if flagsOf[i]&flagRightNext != 0 {
			runs[i].right = oid{runs[i+1].rep, runs[i+1].seq}
		}
	}
	// Build chunks half full so early inserts do not split at once.
	const fill = maxRuns / 2
	d.chunks = d.chunks[:0]
	d.slots = d.slots[:0]
	for i := 0; i < len(runs); i += fill {
		part := runs[i:min(i+fill, len(runs))]
		c := &chunk{runs: make([]run, len(part), maxRuns+1), idx: len(d.chunks), slot: uint32(len(d.slots))}
		copy(c.runs, part)
		d.chunks = append(d.chunks, c)
		d.slots = append(d.slots, c)
		for j := range c.runs {
			r := &c.runs[j]
			if d.index[r.rep].overlaps(r.seq, r.seq+uint64(r.n)) {
				return nil, 0, fmt.Errorf("decode text: duplicate id %x/%d: %w", d.reps[r.rep], r.seq, ErrMalformed)
			}
			d.index[r.rep].set(r.seq, r.seq+uint64(r.n), c.slot)
			if !r.del {
				c.vis += int(r.n)
			}
		}
		d.vis += c.vis
	}
	if len(d.chunks) == 0 {
		c := &chunk{}
		d.chunks, d.slots = []*chunk{c}, []*chunk{c}
	}
	for i := range runs {
		for _, o := range [2]oid{runs[i].left, runs[i].right} {
			if o.rep == zeroRep {
				continue
			}
			if _, ok := d.index[o.rep].get(o.seq); !ok {
				return nil, 0, fmt.Errorf("decode text: origin %x/%d not present: %w", d.reps[o.rep], o.seq, ErrMalformed)
			}
		}
	}
	return d, dc.off, nil
}

func (dc *decoder) rep(nreps uint64) uint32 {
	i := dc.uvarint()
	if dc.err == nil && i >= nreps {
		dc.fail("replica index out of range")
		return 0
	}
	return uint32(i) + 1
}

// checkFlags validates the flags of run i of n.
func (dc *decoder) checkFlags(flags byte, all byte, i, n uint64) {
	if flags&^all != 0 || flags&(flagLeftNone|flagLeftPrev) == flagLeftNone|flagLeftPrev ||
		flags&(flagRightNone|flagRightNext) == flagRightNone|flagRightNext {
		dc.fail("bad flags")
	}
	if i == 0 && flags&(flagSameRep|flagLeftPrev) != 0 {
		dc.fail("first run refers to a previous one")
	}
	if i+1 == n && flags&flagRightNext != 0 {
		dc.fail("last run refers to a next one")
	}
}

// seqAfter applies a zigzag delta to the end of the previous run.
func (dc *decoder) seqAfter(p *run, delta int64) uint64 {
	end := p.seq + uint64(p.n)
	if delta >= 0 {
		s := end + uint64(delta)
		if s < end {
			dc.fail("seq overflows")
		}
		return s
	}
	back := uint64(-(delta + 1)) + 1
	if back > end {
		dc.fail("seq underflows")
	}
	return end - back
}

func (dc *decoder) runLen(seq uint64) uint32 {
	n := dc.uvarint()
	if dc.err == nil && (n == 0 || n > maxRun || seq+n < seq) {
		dc.fail("bad run length")
	}
	return uint32(n)
}

// runsV2 reads the columns of a version 2 encoding.
func (dc *decoder) runsV2(nreps, nruns uint64) ([]run, []byte) {
	flags := dc.bytes(nruns)
	if dc.err != nil {
		return nil, nil
	}
	flags = append([]byte(nil), flags...)
	for i, f := range flags {
		dc.checkFlags(f, flagAll&^flagText, uint64(i), nruns)
	}
	if dc.err != nil {
		return nil, nil
	}
	runs := make([]run, nruns)
	for i := range runs {
		runs[i].del = flags[i]&flagDel != 0
		if flags[i]&flagSameRep == 0 {
			runs[i].rep = dc.rep(nreps)
		} else {
			runs[i].rep = runs[i-1].rep
		}
	}
	// Lengths come before seqs: a seq delta is from the previous run's end.
	// The overflow check on seq+n waits until both are known.
	for i := range runs {
		runs[i].n = dc.runLen(0)
	}
	for i := range runs {
		if flags[i]&flagSameRep != 0 {
			runs[i].seq = dc.seqAfter(&runs[i-1], dc.varint())
		} else {
			runs[i].seq = dc.uvarint()
		}
		if dc.err == nil && runs[i].seq+uint64(runs[i].n) < runs[i].seq {
			dc.fail("bad run length")
		}
	}
	if dc.err != nil {
		return nil, nil
	}
	for i := range runs {
		switch {
		case flags[i]&flagLeftNone != 0:
		case flags[i]&flagLeftPrev != 0:
			runs[i].left = runs[i-1].last()
		default:
			runs[i].left.rep = dc.rep(nreps)
			runs[i].left.seq = runs[i].seq + uint64(dc.varint())
		}
	}
	for i := range runs {
		if flags[i]&(flagRightNone|flagRightNext) == 0 {
			runs[i].right.rep = dc.rep(nreps)
			runs[i].right.seq = runs[i].seq + uint64(dc.varint())
		}
	}
	for i := range runs {
		if runs[i].del || dc.err != nil {
			continue
		}
		// Take n runes of text.
		start, need := dc.off, int(runs[i].n)
		for need > 0 && dc.off < len(dc.b) {
			c := dc.b[dc.off]
			if c < utf8.RuneSelf {
				dc.off++
			} else {
				r, sz := utf8.DecodeRune(dc.b[dc.off:])
				if r == utf8.RuneError && sz <= 1 {
					dc.fail("run text is not UTF-8")
					break
				}
				dc.off += sz
			}
			need--
		}
		if need > 0 {
			dc.fail("run text truncated")
			break
		}
		runs[i].text = append([]byte(nil), dc.b[start:dc.off]...)
	}
	return runs, flags
}

// runsV1 reads the run-by-run version 1 encoding.
func (dc *decoder) runsV1(nreps, nruns uint64) ([]run, []byte) {
	runs := make([]run, 0, nruns)
	flagsOf := make([]byte, 0, nruns)
	for i := uint64(0); i < nruns && dc.err == nil; i++ {
		var r run
		flags := dc.byte1()
		dc.checkFlags(flags, flagAll, i, nruns)
		if dc.err != nil {
			break
		}
		r.del = flags&flagDel != 0
		if flags&flagSameRep != 0 {
			r.rep = runs[i-1].rep
			r.seq = dc.seqAfter(&runs[i-1], dc.varint())
		} else {
			r.rep = dc.rep(nreps)
			r.seq = dc.uvarint()
		}
		r.n = dc.runLen(r.seq)
		switch {
		case flags&flagLeftNone != 0:
		case flags&flagLeftPrev != 0:
			r.left = runs[i-1].last()
		default:
			r.left.rep = dc.rep(nreps)
			r.left.seq = dc.uvarint()
		}
		if flags&(flagRightNone|flagRightNext) == 0 {
			r.right.rep = dc.rep(nreps)
			r.right.seq = dc.uvarint()
		}
		if flags&flagText != 0 {
			t := dc.bytes(dc.uvarint())
			if dc.err == nil && (!utf8.Valid(t) || utf8.RuneCount(t) != int(r.n)) {
				dc.fail("run text does not match its length")
			}
			r.text = append([]byte(nil), t...)
		} else if !r.del {
			dc.fail("visible run without text")
		}
		runs = append(runs, r)
		flagsOf = append(flagsOf, flags)
	}
	return runs, flagsOf
}
