package text

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Memoised encoding. A stored note is edited by forking it (Fork): the
// fork shares every chunk the edit did not touch, and those chunks' runs
// never change again (a chunk a Doc does not own is copied before it is
// changed, and a Doc that was forked is not changed). So what encoding one
// fork wrote for a shared chunk holds for every later fork that still
// shares it: appendMemo keeps it, by the chunk's runs array, and re-encodes
// only the chunks an edit copied. A long-edited note's push then costs its
// changed chunks plus a copy of bytes, not a walk of every tombstone.
//
// What a chunk's encoding keeps is its coalesced runs' columns, except the
// first and the last run: those may coalesce with the neighbouring chunks'
// runs, and their flags look at those neighbours, so they are written
// afresh each time. An interior run's flags and deltas look only at its
// neighbours' replica, first seq, end and last char, which coalescing with
// a run beyond them does not change. Replica indices in the columns are
// positions in the sorted list of replicas the document names: kept
// columns are reused only while that list is the same.

// encMemo is what one encoding kept for the next (read-only once stored:
// forks of one Doc, and readers of a frozen one, share it).
type encMemo struct {
	order  [][16]byte         // the replicas the kept columns number, in order
	chunks map[*run]*chunkEnc // by a shared chunk's runs array (its first run)
}

// chunkEnc is one chunk's encoding.
type chunkEnc struct {
	nruns       int // len(chunk.runs): with the array, names the runs
	ncr         int // coalesced runs
	first, last run // coalesced ends (text dropped; equal when ncr == 1)
	used        []uint32
	// interior: coalesced runs 1..ncr-2, as columns.
	head, tail run
	// buf holds, back to back: the flags, the five columns (replicas,
	// lengths, seqs, left, right) and, if text, the chunk's visible
	// text; part k is buf[end[k-1]:end[k]] (one allocation: a
	// long-edited note has thousands of chunks kept).
	buf  []byte
	end  [7]int
	text bool // buf holds the text
}

// part returns part k of e.buf: 0 flags, 1-5 the columns, 6 the text.
func (e *chunkEnc) part(k int) []byte {
	if k == 0 {
		return e.buf[:e.end[0]]
	}
	return e.buf[e.end[k-1]:e.end[k]]
}

// appendMemo is AppendBinary through the memo.
func (d *Doc) appendMemo(b []byte) []byte {
	old := d.enc.Load()
	ents := make([]*chunkEnc, len(d.chunks))
	used := make([]bool, len(d.reps))
	for i, c := range d.chunks {
		if len(c.runs) == 0 {
			continue
		}
		if c.rgen != d.gen && old != nil {
			if e := old.chunks[&c.runs[0]]; e != nil && e.nruns == len(c.runs) {
				ents[i] = e
				for _, r := range e.used {
					used[r] = true
				}
				continue
			}
		}
		for j := range c.runs {
			r := &c.runs[j]
			used[r.rep], used[r.left.rep], used[r.right.rep] = true, true, true
		}
	}
	order, ids, remap := d.repOrder(used)
	same := old != nil && slices.Equal(old.order, ids)
	next := &encMemo{order: ids, chunks: make(map[*run]*chunkEnc, len(d.chunks))}
	buf := runBufs.Get().(*[]run)
	scratch := (*buf)[:0]
	for i, c := range d.chunks {
		if len(c.runs) == 0 {
			continue
		}
		if ents[i] == nil || !same {
			scratch = coalesceRuns(scratch[:0], c.runs)
			// Only a kept encoding needs the text: a chunk this Doc owns
			// has its text written from its runs.
			ents[i] = newChunkEnc(scratch, c.runs, remap, c.rgen != d.gen)
		}
		if c.rgen != d.gen {
			next.chunks[&c.runs[0]] = ents[i]
		}
	}
	d.enc.Store(next)

	// The document as items: a run written afresh (fr[r]), or a chunk's
	// interior (blk). The runs reuse the coalescing buffer.
	type item struct {
		blk *chunkEnc
		r   int
	}
	fr := scratch[:0]
	defer func() {
		if cap(fr) <= 1<<16 {
			*buf = fr[:0]
			runBufs.Put(buf)
		}
	}()
	items := make([]item, 0, 3*len(ents))
	fresh := func(r run) {
		if k := len(items); k > 0 && items[k-1].blk == nil && canMerge(&fr[items[k-1].r], &r) {
			fr[items[k-1].r].n += r.n
			return
		}
		items = append(items, item{r: len(fr)})
		fr = append(fr, r)
	}
	total := 0
	for _, e := range ents {
		if e == nil || e.ncr == 0 {
			continue
		}
		fresh(e.first)
		if e.ncr >= 3 {
			items = append(items, item{blk: e})
			total += e.ncr - 2
		}
		if e.ncr >= 2 {
			fresh(e.last)
		}
	}
	total += len(fr)
	lastOf := func(i int) *run {
		if i < 0 {
			return nil
		}
		if items[i].blk != nil {
			return &items[i].blk.tail
		}
		return &fr[items[i].r]
	}
	firstOf := func(i int) *run {
		if i >= len(items) {
			return nil
		}
		if items[i].blk != nil {
			return &items[i].blk.head
		}
		return &fr[items[i].r]
	}

	b = append(b, encVersion)
	b = binary.AppendUvarint(b, uint64(len(order)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(total))
	fl := make([]byte, len(items)) // the fresh runs' flags
	for i := range items {
		if items[i].blk == nil {
			fl[i] = runFlags(&fr[items[i].r], lastOf(i-1), firstOf(i+1))
			b = append(b, fl[i])
		} else {
			b = append(b, items[i].blk.part(0)...)
		}
	}
	for col := range 5 {
		for i := range items {
			if items[i].blk == nil {
				b = appendCol(b, col, &fr[items[i].r], fl[i], lastOf(i-1), remap)
			} else {
				b = append(b, items[i].blk.part(1+col)...)
			}
		}
	}
	for i, e := range ents {
		switch {
		case e == nil:
		case e.text:
			b = append(b, e.part(6)...)
		default:
			for _, r := range d.chunks[i].runs {
				if !r.del {
					b = append(b, r.text...)
				}
			}
		}
	}
	return b
}

// repOrder numbers the used replicas in id order: order holds their
// indices in d.reps, ids the ids, remap[index] the number.
func (d *Doc) repOrder(used []bool) (order []uint32, ids [][16]byte, remap []uint64) {
	for i := 1; i < len(d.reps); i++ {
		if used[i] {
			order = append(order, uint32(i))
		}
	}
	slices.SortFunc(order, func(a, b uint32) int { return bytes.Compare(d.reps[a][:], d.reps[b][:]) })
	remap = make([]uint64, len(d.reps))
	ids = make([][16]byte, len(order))
	for i, r := range order {
		remap[r] = uint64(i)
		ids[i] = d.reps[r]
	}
	return order, ids, remap
}

// coalesceRuns appends runs maximally merged (with out's last run too),
// without their text.
func coalesceRuns(out, runs []run) []run {
	for i := range runs {
		r := runs[i]
		r.text = nil
		// canMerge's purged test compares texts, which are all nil
		// here; del, which it also compares, is what decides.
		if k := len(out); k > 0 && canMerge(&out[k-1], &r) {
			out[k-1].n += r.n
			continue
		}
		out = append(out, r)
	}
	return out
}

// newChunkEnc encodes a chunk of runs, coalesced to cr, with its text if
// withText.
func newChunkEnc(cr []run, runs []run, remap []uint64, withText bool) *chunkEnc {
	e := &chunkEnc{nruns: len(runs), ncr: len(cr), text: withText}
	if len(cr) == 0 {
		return e
	}
	e.first, e.last = cr[0], cr[len(cr)-1]
	seen := map[uint32]bool{}
	for i := range cr {
		for _, r := range [3]uint32{cr[i].rep, cr[i].left.rep, cr[i].right.rep} {
			if r != zeroRep && !seen[r] {
				seen[r] = true
				e.used = append(e.used, r)
			}
		}
	}
	var in []run // the interior, with a neighbour each side
	if len(cr) >= 3 {
		e.head, e.tail = cr[1], cr[len(cr)-2]
		in = cr
	}
	var b []byte
	for i := 1; i+1 < len(in); i++ {
		b = append(b, runFlags(&in[i], &in[i-1], &in[i+1]))
	}
	e.end[0] = len(b)
	for col := range 5 {
		for i := 1; i+1 < len(in); i++ {
			b = appendCol(b, col, &in[i], b[i-1], &in[i-1], remap)
		}
		e.end[1+col] = len(b)
	}
	if withText {
		n := 0
		for j := range runs {
			if !runs[j].del {
				n += len(runs[j].text)
			}
		}
		b = slices.Grow(b, n)
		for j := range runs {
			if !runs[j].del {
				b = append(b, runs[j].text...)
			}
		}
	}
	e.end[6] = len(b)
	e.buf = slices.Clip(b)
	return e
}

// runFlags is r's flags byte between prev and next (nil: none).
func runFlags(r, prev, next *run) byte {
	var f byte
	if r.del {
		f |= flagDel
	}
	if prev != nil && prev.rep == r.rep && smallDelta(prev.seq+uint64(prev.n), r.seq) {
		f |= flagSameRep
	}
	switch {
	case r.left.rep == zeroRep:
		f |= flagLeftNone
	case prev != nil && r.left == prev.last():
		f |= flagLeftPrev
	}
	switch {
	case r.right.rep == zeroRep:
		f |= flagRightNone
	case next != nil && r.right == (oid{next.rep, next.seq}):
		f |= flagRightNext
	}
	return f
}

// appendCol appends what run r (flags f, after prev) puts in column col:
// 0 replicas, 1 lengths, 2 seqs, 3 left origins, 4 right origins.
func appendCol(b []byte, col int, r *run, f byte, prev *run, remap []uint64) []byte {
	switch col {
	case 0:
		if f&flagSameRep == 0 {
			b = binary.AppendUvarint(b, remap[r.rep])
		}
	case 1:
		b = binary.AppendUvarint(b, uint64(r.n))
	case 2:
		if f&flagSameRep != 0 {
			b = binary.AppendVarint(b, int64(r.seq-(prev.seq+uint64(prev.n))))
		} else {
			b = binary.AppendUvarint(b, r.seq)
		}
	case 3:
		if f&(flagLeftNone|flagLeftPrev) == 0 {
			b = binary.AppendUvarint(b, remap[r.left.rep])
			b = binary.AppendVarint(b, int64(r.left.seq-r.seq))
		}
	case 4:
		if f&(flagRightNone|flagRightNext) == 0 {
			b = binary.AppendUvarint(b, remap[r.right.rep])
			b = binary.AppendVarint(b, int64(r.right.seq-r.seq))
		}
	}
	return b
}
