package text

// Compaction: a long-edited note keeps every deleted character as a
// tombstone, because a later edit may name one as the place it was typed
// (an origin). Once every replica holds every op a document holds, most of
// them can never be named again:
//
//   - a new insert's left origin is the visible character before the
//     caret, and its right origin the item right after that character;
//   - a new delete names visible characters only;
//   - so of a run of consecutive tombstones t1..tk, only t1 (the item right
//     after a visible character) can be named, and no new item ever lands
//     between t1 and tk.
//
// Compact keeps t1 and tk of every such run and drops t2..t(k-1). Items that
// name a dropped tombstone are re-pointed: as a left origin to t1, as a
// right origin to tk. Every comparison integration makes with them (equal
// to the new insert's origin? before or after it? inside the items scanned
// so far?) comes out the same, because the new insert's origins are never
// inside t1..tk (t1 aside, which only a right origin names, and tk lies
// after every dropped one). So a compacted replica and one that kept
// everything order every future edit identically; the property test in
// compact_test.go holds them to it.

// Compact drops the tombstones no future edit can name and the content of
// every deleted character, and returns how many tombstones it dropped. The
// caller must know that every op that will ever reach this document (or any
// replica of it) is made by a replica that had applied every op this
// document holds: all replicas hold this state, and no edit made before
// they did is still on its way. Ops already applied must not be applied
// again (syncengine decides duplicates by version vector, before the text
// sees them). The visible text does not change.
func (d *Doc) Compact() int {
	n, _ := d.compact(false)
	return n
}

// compact is Compact; with keep it also returns where each dropped
// tombstone lay (see CompactKeeping).
func (d *Doc) compact(keep bool) (int, *Dropped) {
	var all []run
	for _, c := range d.chunks {
		all = append(all, c.runs...)
	}
	type seqEnds struct{ first, last oid }
	var ends []seqEnds
	drop := make([]rmap, len(d.reps))
	// tombstoneRuns returns the end of the stretch of tombstones starting
	// at i, and whether to drop its inside. A stretch that encodes as fewer
	// than three runs is kept whole: its ends would be two runs anyway, so
	// dropping its inside would not shrink the encoding (a run of n
	// tombstones costs what a run of 1 does), only add to what Dropped
	// must remember.
	tombstoneRuns := func(i int) (int, bool) {
		j, runs := i+1, 1
		for ; j < len(all) && all[j].del; j++ {
			if !continues(&all[j-1], &all[j]) {
				runs++
			}
		}
		return j, runs >= 3
	}
	for i := 0; i < len(all); {
		if !all[i].del {
			i++
			continue
		}
		j, worth := tombstoneRuns(i)
		if worth {
			k := uint32(len(ends))
			ends = append(ends, seqEnds{oid{all[i].rep, all[i].seq}, all[j-1].last()})
			for x := i; x < j; x++ {
				lo, hi := all[x].seq, all[x].seq+uint64(all[x].n)
				if x == i {
					lo++
				}
				if x == j-1 {
					hi--
				}
				if lo < hi {
					drop[all[x].rep].set(lo, hi, k)
				}
			}
		}
		i = j
	}
	if len(ends) == 0 {
		d.PurgeDeletedContent()
		return 0, nil
	}
	asLeft := func(o oid) oid {
		if o.rep != zeroRep {
			if k, ok := drop[o.rep].get(o.seq); ok {
				return ends[k].first
			}
		}
		return o
	}
	asRight := func(o oid) oid {
		if o.rep != zeroRep {
			if k, ok := drop[o.rep].get(o.seq); ok {
				return ends[k].last
			}
		}
		return o
	}
	out := make([]run, 0, len(all))
	dropped := 0
	for i := 0; i < len(all); {
		r := all[i]
		if !r.del {
			r.text = r.text[:len(r.text):len(r.text)]
			r.left, r.right = asLeft(r.left), asRight(r.right)
			out = append(out, r)
			i++
			continue
		}
		j, worth := tombstoneRuns(i)
		for x := i; x < j; x++ {
			r := all[x]
			r.text = nil
			r.left, r.right = asLeft(r.left), asRight(r.right)
			if !worth {
				out = append(out, r)
				continue
			}
			kept := 0
			if x == i {
				first := r
				first.n = 1
				out = append(out, first)
				kept++
			}
			if x == j-1 && (x != i || r.n > 1) {
				last := r
				last.seq, last.n = r.seq+uint64(r.n)-1, 1
				if r.n > 1 {
					// Its left origin was the character before it in
					// the run: dropped, unless that is t1.
					last.left = asLeft(oid{r.rep, last.seq - 1})
				}
				out = append(out, last)
				kept++
			}
			dropped += int(r.n) - kept
		}
		i = j
	}
	var x *Dropped
	if keep {
		x = d.droppedFrom(drop, func(k uint32) (ID, ID) { return d.toID(ends[k].first), d.toID(ends[k].last) })
	}
	d.rebuild(out)
	return dropped, x
}

// rebuild replaces d's chunks and id index with ones holding runs (in
// document order), all new: whatever d shared with a Doc it was forked from
// is left as it was.
func (d *Doc) rebuild(runs []run) {
	const fill = maxRuns / 2
	d.chunks, d.slots, d.vis = nil, nil, 0
	d.index = make([]rmap, len(d.reps))
	for i := 0; i < len(runs); i += fill {
		part := runs[i:min(i+fill, len(runs))]
		c := &chunk{runs: make([]run, len(part), maxRuns+1), idx: len(d.chunks), slot: uint32(len(d.slots)), gen: d.gen, rgen: d.gen}
		copy(c.runs, part)
		d.chunks = append(d.chunks, c)
		d.slots = append(d.slots, c)
		for j := range c.runs {
			r := &c.runs[j]
			d.index[r.rep].set(r.seq, r.seq+uint64(r.n), c.slot)
			if !r.del {
				c.vis += int(r.n)
			}
		}
		d.vis += c.vis
	}
	if len(d.chunks) == 0 {
		c := &chunk{gen: d.gen, rgen: d.gen}
		d.chunks, d.slots = []*chunk{c}, []*chunk{c}
	}
	d.hintC, d.hintPos = 0, 0
	d.dirty = d.dirty[:0]
}
