package text

// rmap maps disjoint half-open seq ranges of one replica to the slot of the
// chunk holding them. It is a two-level sorted list (blocks of at most
// rmapBlock entries) so that inserting into the middle costs O(rmapBlock)
// rather than O(entries): chunk splits re-point many small ranges, and a
// flat slice made that quadratic on long traces.
//
// A fork shares its blocks with the map it came from (which must not change
// afterwards) and copies a block before changing it: a block is this map's
// to change when it carries the map's generation.
type rmap struct {
	blocks []*rblock
	gen    uint64
}

type rblock struct {
	e   []rentry
	gen uint64
}

type rentry struct {
	lo, hi uint64
	slot   uint32
}

const rmapBlock = 64

func (m *rmap) clone() rmap {
	bs := make([]*rblock, len(m.blocks))
	for i, b := range m.blocks {
		bs[i] = &rblock{e: append([]rentry(nil), b.e...)}
	}
	return rmap{blocks: bs}
}

// fork returns a map that shares every block with m and copies a block only
// when it changes it, so forking costs a pointer per block.
func (m *rmap) fork() rmap {
	return rmap{blocks: append([]*rblock(nil), m.blocks...), gen: forks.Add(1)}
}

// mut returns block b for changing in place, copied first if it is shared.
func (m *rmap) mut(b int) *rblock {
	blk := m.blocks[b]
	if blk.gen != m.gen {
		blk = &rblock{e: append(make([]rentry, 0, len(blk.e)+1), blk.e...), gen: m.gen}
		m.blocks[b] = blk
	}
	return blk
}

// locate returns the block and index of the last entry with lo <= seq;
// i is -1 when there is none.
//
// The searches are written out rather than sort.Search: every edit looks
// ids up here, and the closure calls showed in profiles.
func (m *rmap) locate(seq uint64) (b, i int) {
	bs := m.blocks
	lo, hi := 0, len(bs)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if bs[h].e[0].lo > seq {
			hi = h
		} else {
			lo = h + 1
		}
	}
	b = lo - 1
	if b < 0 {
		return 0, -1
	}
	es := bs[b].e
	lo, hi = 0, len(es)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if es[h].lo > seq {
			hi = h
		} else {
			lo = h + 1
		}
	}
	return b, lo - 1
}

// above reports whether every seq in the map is below seq: ids a replica
// hands out in order are new, and need no search.
func (m *rmap) above(seq uint64) bool {
	n := len(m.blocks)
	if n == 0 {
		return true
	}
	lb := m.blocks[n-1].e
	return lb[len(lb)-1].hi <= seq
}

func (m *rmap) get(seq uint64) (uint32, bool) {
	b, i := m.locate(seq)
	if i < 0 {
		return 0, false
	}
	e := m.blocks[b].e[i]
	if seq < e.hi {
		return e.slot, true
	}
	return 0, false
}

// covers reports whether every seq in [lo, hi) is present.
func (m *rmap) covers(lo, hi uint64) bool {
	for lo < hi {
		b, i := m.locate(lo)
		if i < 0 {
			return false
		}
		e := m.blocks[b].e[i]
		if e.hi <= lo {
			return false
		}
		lo = e.hi
	}
	return true
}

// overlaps reports whether any seq in [lo, hi) is present.
func (m *rmap) overlaps(lo, hi uint64) bool {
	if hi <= lo {
		return false
	}
	b, i := m.locate(hi - 1)
	if i < 0 {
		return false
	}
	return m.blocks[b].e[i].hi > lo
}

func (m *rmap) insertAt(b, i int, e rentry) {
	if len(m.blocks) == 0 {
		// A replica's first range: its block list, block and entry in one
		// allocation (every new text field makes one), with the same
		// capacities as three would have, so later appends copy as before.
		first := &struct {
			blocks [1]*rblock
			blk    rblock
			e      [1]rentry
		}{}
		first.e[0] = e
		first.blk = rblock{e: first.e[:], gen: m.gen}
		first.blocks[0] = &first.blk
		m.blocks = first.blocks[:]
		return
	}
	blk := m.mut(b)
	blk.e = append(blk.e, rentry{})
	copy(blk.e[i+1:], blk.e[i:])
	blk.e[i] = e
	if n := len(blk.e); n > rmapBlock {
		h := n / 2
		if b == len(m.blocks)-1 && i == n-1 {
			// Appending ids in order: keep this block full.
			h = rmapBlock
		}
		second := &rblock{e: append(make([]rentry, 0, rmapBlock), blk.e[h:]...), gen: m.gen}
		blk.e = blk.e[:h]
		m.blocks = append(m.blocks, nil)
		copy(m.blocks[b+2:], m.blocks[b+1:])
		m.blocks[b+1] = second
	}
}

func (m *rmap) removeAt(b, i int) {
	blk := m.mut(b)
	copy(blk.e[i:], blk.e[i+1:])
	blk.e = blk.e[:len(blk.e)-1]
	if len(blk.e) == 0 {
		m.blocks = append(m.blocks[:b], m.blocks[b+1:]...)
	}
}

// clear removes [lo, hi) from the map.
func (m *rmap) clear(lo, hi uint64) {
	for {
		b, i := m.locate(hi - 1)
		if i < 0 {
			return
		}
		if m.blocks[b].e[i].hi <= lo {
			return
		}
		e := &m.mut(b).e[i]
		switch {
		case e.lo < lo && e.hi > hi:
			right := rentry{hi, e.hi, e.slot}
			e.hi = lo
			m.insertAt(b, i+1, right)
			return
		case e.lo < lo:
			e.hi = lo
			return
		case e.hi > hi:
			e.lo = hi
		default:
			m.removeAt(b, i)
		}
	}
}

// set maps [lo, hi) to slot, replacing whatever was there.
func (m *rmap) set(lo, hi uint64, slot uint32) {
	if hi <= lo {
		return
	}
	if n := len(m.blocks); n > 0 {
		lb := m.blocks[n-1].e
		last := lb[len(lb)-1]
		if lo >= last.hi { // common case: new ids arrive in increasing order
			if last.hi == lo && last.slot == slot {
				blk := m.mut(n - 1)
				blk.e[len(blk.e)-1].hi = hi
				return
			}
			m.insertAt(n-1, len(lb), rentry{lo, hi, slot})
			return
		}
	}
	m.clear(lo, hi)
	b, i := m.locate(lo)
	if len(m.blocks) > 0 {
		blk := m.mut(b)
		if i >= 0 && blk.e[i].hi == lo && blk.e[i].slot == slot {
			blk.e[i].hi = hi
			if i+1 < len(blk.e) && blk.e[i+1].lo == hi && blk.e[i+1].slot == slot {
				blk.e[i].hi = blk.e[i+1].hi
				m.removeAt(b, i+1)
			}
			return
		}
		if i+1 < len(blk.e) && blk.e[i+1].lo == hi && blk.e[i+1].slot == slot {
			blk.e[i+1].lo = lo
			return
		}
	}
	m.insertAt(b, i+1, rentry{lo, hi, slot})
}
