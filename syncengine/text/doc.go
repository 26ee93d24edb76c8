// Package text is the narrative-text sequence CRDT: a run-length encoded
// FugueMax ordering (the "yjsmod" integration of josephg/reference-crdts, as
// used by the eg-walker reference). Concurrent inserts at the same place keep
// each author's run together; ties between siblings are broken by replica id,
// lower first.
//
// Representation: the document is an ordered list of runs (consecutive seqs of
// one replica typed left to right), tombstones included, kept in chunks of at
// most maxRuns runs with cached visible counts (the position index). Each
// replica has an rmap from seq ranges to the chunk holding them (the id
// index). Char k>0 of a run has OriginLeft = char k-1 and the run's
// OriginRight, which is what makes splitting a run free of information loss.
package text

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"unicode/utf8"
)

// ID names one character: the replica that typed it and its counter value.
// The zero ID means "no origin" (document start for OriginLeft, end for
// OriginRight).
type ID struct {
	Replica [16]byte
	Seq     uint64
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Insert places Text (character i gets ID.Seq+i) between OriginLeft and
// OriginRight as they stood when its author typed it.
type Insert struct {
	ID                      ID
	OriginLeft, OriginRight ID
	Text                    string
}

// Span is Len consecutive seqs of one replica starting at ID.
type Span struct {
	ID  ID
	Len uint64
}

// Delete removes the characters named by Spans.
type Delete struct {
	Spans []Span
}

// Run is a piece of visible text attributed to the replica that typed it.
type Run struct {
	Replica [16]byte
	Text    string
}

var (
	ErrMissingOrigin = errors.New("text: origin not present")
	ErrUnknownID     = errors.New("text: unknown id")
	ErrBadPosition   = errors.New("text: position out of range")
	ErrMalformed     = errors.New("text: malformed")
)

const (
	maxRuns = 64        // a chunk splits when it holds more runs than this
	maxRun  = 1<<31 - 1 // longest run, in runes
	zeroRep = 0         // replica index meaning "none"
)

// oid is an ID with the replica interned: rep is an index into Doc.reps, 0 = none.
type oid struct {
	rep uint32
	seq uint64
}

type run struct {
	seq   uint64
	left  oid // origin left of the first char
	right oid // origin right of every char
	text  []byte
	rep   uint32
	n     uint32 // runes
	del   bool
}

func (r *run) last() oid { return oid{r.rep, r.seq + uint64(r.n) - 1} }

// purged reports whether the run's bytes were dropped (deleted runs only).
func (r *run) purged() bool { return len(r.text) == 0 }

// splitRun cuts r after k runes and returns the tail.
func splitRun(r *run, k uint32) run {
	t := run{seq: r.seq + uint64(k), left: oid{r.rep, r.seq + uint64(k) - 1}, right: r.right, rep: r.rep, n: r.n - k, del: r.del}
	if len(r.text) > 0 {
		b := byteOffset(r.text, int(r.n), int(k))
		t.text = r.text[b:]
		r.text = r.text[:b:b]
	}
	r.n = k
	return t
}

func byteOffset(b []byte, runes, k int) int {
	if len(b) == runes {
		return k
	}
	off := 0
	for ; k > 0; k-- {
		_, sz := utf8.DecodeRune(b[off:])
		off += sz
	}
	return off
}

// canMerge reports whether b directly continues a (same author, next seq,
// typed right after it, same right origin and state).
//
// In memory runs are joined only up to maxRunBytes of text (canJoin): a
// fork copies a run's text when it first appends to it, and that copy must
// not grow with the length of the note.
func canMerge(a, b *run) bool {
	return continues(a, b) && a.purged() == b.purged()
}

// continues is canMerge but for the texts.
func continues(a, b *run) bool {
	return a.rep == b.rep && b.seq == a.seq+uint64(a.n) && b.left == a.last() &&
		a.right == b.right && a.del == b.del && uint64(a.n)+uint64(b.n) <= maxRun
}

// maxRunBytes bounds the text of a run that edits extend in place.
const maxRunBytes = 1024

func canJoin(a, b *run) bool {
	return canMerge(a, b) && len(a.text)+len(b.text) <= maxRunBytes
}

type chunk struct {
	runs  []run
	vis   int // visible runes
	idx   int // position in Doc.chunks
	slot  uint32
	dirty bool
	// gen is the generation of the Doc that made this chunk header, rgen
	// that of the Doc that copied its runs: a Doc changes a chunk in place
	// only when they are its own (see Fork).
	gen, rgen uint64
}

// Doc is one replica's copy of a text. It is not safe for concurrent use.
type Doc struct {
	chunks []*chunk
	slots  []*chunk
	reps   [][16]byte
	repIdx map[[16]byte]uint32
	index  []rmap // by rep
	vis    int

	hintC, hintPos int // chunk hintC starts at visible position hintPos
	dirty          []*chunk
	scanned        []span // scratch for integrate
	repsOwned      bool   // repIdx is not shared with the Doc this was forked from
	// the last replica looked up (lookupRep)
	lastRep [16]byte
	lastIdx uint32
	lastOK  bool
	// gen names this Doc among its forks; 0 (a Doc never forked, and
	// every Doc decoded or built by New) owns every chunk with gen 0.
	gen uint64
	// enc is what encoding this Doc (or the one it was forked from) kept
	// of the chunks it shares with its forks (encode.go).
	enc atomic.Pointer[encMemo]
}

// span is the ids of a run without the rest (a sixth of its size):
// integrate keeps the runs it scans, and a fork starts with no scratch.
type span struct {
	rep, n uint32
	seq    uint64
}

// forks hands out Doc generations; 0 is the generation of unforked docs.
var forks atomic.Uint64

// New returns an empty document.
func New() *Doc {
	// One allocation instead of seven: a server makes a Doc for every text
	// field a save creates. The replica table and index have room for the
	// first writer, whom the first insert adds; a fork caps what it shares
	// (Fork), so the room is never written through a copy.
	n := &struct {
		d      Doc
		c      chunk
		chunks [1]*chunk
		slots  [1]*chunk
		dirty  [1]*chunk
		reps   [2][16]byte
		index  [2]rmap
	}{}
	n.chunks[0], n.slots[0] = &n.c, &n.c
	n.d.chunks, n.d.slots, n.d.dirty = n.chunks[:], n.slots[:], n.dirty[:0]
	n.d.reps, n.d.index = n.reps[:1], n.index[:1]
	n.d.repIdx = map[[16]byte]uint32{}
	return &n.d
}

// Len returns the number of visible runes.
func (d *Doc) Len() int { return d.vis }

// String returns the visible text.
func (d *Doc) String() string {
	var b []byte
	for _, c := range d.chunks {
		for i := range c.runs {
			if !c.runs[i].del {
				b = append(b, c.runs[i].text...)
			}
		}
	}
	return string(b)
}

// Runs returns the visible text split by author, adjacent runs of the same
// replica merged.
func (d *Doc) Runs() []Run {
	var out []Run
	var buf []byte
	cur := uint32(zeroRep)
	flush := func() {
		if cur != zeroRep && len(buf) > 0 {
			out = append(out, Run{Replica: d.reps[cur], Text: string(buf)})
		}
		buf = buf[:0]
	}
	for _, c := range d.chunks {
		for i := range c.runs {
			r := &c.runs[i]
			if r.del {
				continue
			}
			if r.rep != cur {
				flush()
				cur = r.rep
			}
			buf = append(buf, r.text...)
		}
	}
	flush()
	return out
}

// Contains reports whether the character id has been applied.
func (d *Doc) Contains(id ID) bool {
	r, ok := d.repIdx[id.Replica]
	if !ok {
		return false
	}
	_, ok = d.index[r].get(id.Seq)
	return ok
}

// Clone returns a deep copy. Text bytes are shared but capacity-limited, so
// appends on either side reallocate instead of writing into the other.
func (d *Doc) Clone() *Doc {
	n := &Doc{
		chunks: make([]*chunk, len(d.chunks)),
		slots:  make([]*chunk, len(d.slots)),
		reps:   append([][16]byte(nil), d.reps...),
		repIdx: make(map[[16]byte]uint32, len(d.repIdx)),
		index:  make([]rmap, len(d.index)),
		vis:    d.vis,
		hintC:  d.hintC, hintPos: d.hintPos,
	}
	for k, v := range d.repIdx {
		n.repIdx[k] = v
	}
	for i := range d.index {
		n.index[i] = d.index[i].clone()
	}
	for i, c := range d.chunks {
		nc := &chunk{runs: make([]run, len(c.runs)), vis: c.vis, idx: c.idx, slot: c.slot}
		copy(nc.runs, c.runs)
		for j := range nc.runs {
			t := nc.runs[j].text
			nc.runs[j].text = t[:len(t):len(t)]
		}
		n.chunks[i] = nc
		n.slots[c.slot] = nc
	}
	return n
}

// Fork returns a copy of d that shares d's chunks and id index and copies
// a chunk (at most maxRuns+1 runs) or an index block only when an edit to
// the fork changes it, so one keystroke into a long text costs the same as
// into a short one. d must not be changed afterwards (reading it is fine,
// from any number of goroutines): it is a snapshot, as a stored record
// state is. Use Clone for two copies that both change.
func (d *Doc) Fork() *Doc {
	n := &Doc{
		chunks: append([]*chunk(nil), d.chunks...),
		slots:  append([]*chunk(nil), d.slots...),
		reps:   d.reps[:len(d.reps):len(d.reps)],
		repIdx: d.repIdx,
		index:  make([]rmap, len(d.index)),
		vis:    d.vis,
		hintC:  d.hintC, hintPos: d.hintPos,
		gen: forks.Add(1),
	}
	for i := range d.index {
		n.index[i] = d.index[i].fork()
	}
	n.enc.Store(d.enc.Load())
	return n
}

// own returns c made this Doc's to change: header and runs copied if they
// belong to the Doc it was forked from. Run texts are capped in the copy, so
// appending to one reallocates instead of writing into shared bytes.
func (d *Doc) own(c *chunk) *chunk {
	// Through the slot, so a pointer taken before an earlier own still
	// finds the copy.
	c = d.slots[c.slot]
	if c.gen == d.gen && c.rgen == d.gen {
		return c
	}
	c = d.ownHeader(c)
	runs := make([]run, len(c.runs), len(c.runs)+2)
	copy(runs, c.runs)
	for i := range runs {
		t := runs[i].text
		runs[i].text = t[:len(t):len(t)]
	}
	c.runs, c.rgen = runs, d.gen
	return c
}

// ownHeader returns c with its header (not its runs) made this Doc's.
func (d *Doc) ownHeader(c *chunk) *chunk {
	c = d.slots[c.slot]
	if c.gen == d.gen {
		return c
	}
	n := &chunk{runs: c.runs, vis: c.vis, idx: c.idx, slot: c.slot, gen: d.gen, rgen: c.rgen}
	d.chunks[c.idx] = n
	d.slots[c.slot] = n
	return n
}

// addRepOwned makes the replica table this Doc's before it grows.
func (d *Doc) ownReps() {
	if d.gen != 0 && !d.repsOwned {
		m := make(map[[16]byte]uint32, len(d.repIdx)+1)
		for k, v := range d.repIdx {
			m[k] = v
		}
		d.repIdx = m
		d.repsOwned = true
	}
}

// PurgeDeletedContent drops the bytes of deleted characters. Their ids and
// places stay, since later concurrent inserts may name them as origins.
func (d *Doc) PurgeDeletedContent() {
	for _, c := range d.chunks {
		if !hasDeletedText(c) {
			continue
		}
		c = d.own(c)
		out := c.runs[:0]
		for i := range c.runs {
			r := c.runs[i]
			if r.del {
				r.text = nil
			}
			if k := len(out); k > 0 && canJoin(&out[k-1], &r) {
				p := &out[k-1]
				if len(p.text) > 0 {
					p.text = append(p.text[:len(p.text):len(p.text)], r.text...)
				}
				p.n += r.n
				continue
			}
			out = append(out, r)
		}
		clear(c.runs[len(out):])
		c.runs = out
	}
}

func hasDeletedText(c *chunk) bool {
	for i := range c.runs {
		if c.runs[i].del && len(c.runs[i].text) > 0 {
			return true
		}
	}
	return false
}

// lookupRep interns a replica id through a one-entry cache: edits come in
// runs from one author, and hashing 16 bytes per keystroke showed. It
// writes the cache, so only editing paths use it; readers (Contains,
// Deleted), which may share a frozen Doc across goroutines, do not.
func (d *Doc) lookupRep(r [16]byte) (uint32, bool) {
	if d.lastOK && d.lastRep == r {
		return d.lastIdx, true
	}
	i, ok := d.repIdx[r]
	if ok {
		d.lastRep, d.lastIdx, d.lastOK = r, i, true
	}
	return i, ok
}

func (d *Doc) addRep(r [16]byte) uint32 {
	if i, ok := d.lookupRep(r); ok {
		return i
	}
	d.ownReps()
	i := uint32(len(d.reps))
	d.reps = append(d.reps, r)
	d.repIdx[r] = i
	d.index = append(d.index, rmap{})
	return i
}

func (d *Doc) toID(o oid) ID {
	if o.rep == zeroRep {
		return ID{}
	}
	return ID{Replica: d.reps[o.rep], Seq: o.seq}
}

// originOid interns an origin, which must be zero or present.
func (d *Doc) originOid(id ID) (oid, bool) {
	if id.IsZero() {
		return oid{}, true
	}
	r, ok := d.lookupRep(id.Replica)
	if !ok {
		return oid{}, false
	}
	if _, ok := d.index[r].get(id.Seq); !ok {
		return oid{}, false
	}
	return oid{r, id.Seq}, true
}

// find locates a present char: its chunk, run index and offset in the run.
func (d *Doc) find(o oid) (*chunk, int, uint32, bool) {
	if o.rep == zeroRep || int(o.rep) >= len(d.index) {
		return nil, 0, 0, false
	}
	slot, ok := d.index[o.rep].get(o.seq)
	if !ok {
		return nil, 0, 0, false
	}
	c := d.slots[slot]
	for i := range c.runs {
		r := &c.runs[i]
		if r.rep == o.rep && o.seq >= r.seq && o.seq-r.seq < uint64(r.n) {
			return c, i, uint32(o.seq - r.seq), true
		}
	}
	return nil, 0, 0, false
}

// cmpPos orders two present chars in the document.
func (d *Doc) cmpPos(a, b oid) int {
	ca, ia, oa, _ := d.find(a)
	cb, ib, ob, _ := d.find(b)
	switch {
	case ca == nil || cb == nil:
		return 0
	case ca.idx != cb.idx:
		return cmpInt(ca.idx, cb.idx)
	case ia != ib:
		return cmpInt(ia, ib)
	default:
		return cmpInt(int(oa), int(ob))
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (d *Doc) markDirty(c *chunk) {
	if !c.dirty {
		c.dirty = true
		d.dirty = append(d.dirty, c)
	}
}

// grow returns c's runs one longer. It grows the array by a few runs,
// not append's doubling: a chunk takes edits a few runs at a time (own
// leaves room for one edit), and a chunk a fork owns is copied per branch,
// so doubling it made most of what merging many branches allocated.
func (c *chunk) grow() []run {
	n := len(c.runs)
	if n < cap(c.runs) {
		return c.runs[:n+1]
	}
	runs := make([]run, n+1, n+min(n/2+4, 8))
	copy(runs, c.runs)
	return runs
}

// splitAt cuts run ri of c after k runes (no-op at the run's ends).
func (d *Doc) splitAt(c *chunk, ri int, k uint32) {
	r := &c.runs[ri]
	if k == 0 || k >= r.n {
		return
	}
	t := splitRun(r, k)
	c.runs = c.grow()
	copy(c.runs[ri+2:], c.runs[ri+1:])
	c.runs[ri+1] = t
	d.markDirty(c)
}

// mergeAround merges run ri of c with its neighbours where possible and
// returns the run's new index.
func (d *Doc) mergeAround(c *chunk, ri int) int {
	if ri+1 < len(c.runs) && canJoin(&c.runs[ri], &c.runs[ri+1]) {
		d.absorb(c, ri)
	}
	if ri > 0 && canJoin(&c.runs[ri-1], &c.runs[ri]) {
		d.absorb(c, ri-1)
		ri--
	}
	return ri
}

// absorb merges run i+1 into run i.
func (d *Doc) absorb(c *chunk, i int) {
	a, b := &c.runs[i], &c.runs[i+1]
	if len(a.text) > 0 {
		a.text = append(a.text[:len(a.text):len(a.text)], b.text...)
	}
	a.n += b.n
	copy(c.runs[i+1:], c.runs[i+2:])
	c.runs[len(c.runs)-1] = run{}
	c.runs = c.runs[:len(c.runs)-1]
}

// settle splits overfull chunks touched by the last operation.
func (d *Doc) settle() {
	for _, c := range d.dirty {
		c.dirty = false
		if len(c.runs) > maxRuns {
			d.splitChunk(c)
		}
	}
	d.dirty = d.dirty[:0]
}

func (d *Doc) splitChunk(c *chunk) {
	const half = maxRuns / 2
	keep := half
	if c.idx == len(d.chunks)-1 {
		// Text typed at the end: the last chunk keeps what it holds full
		// and the new one starts small, so a note typed straight through
		// has full chunks (half as many to fork) and its last chunk, the
		// one each keystroke copies, stays small.
		keep = maxRuns
	}
	var added []*chunk
	for len(c.runs) > maxRuns {
		k := max(len(c.runs)-half, keep)
		nc := &chunk{runs: make([]run, len(c.runs)-k, maxRuns+1), slot: uint32(len(d.slots)), gen: d.gen, rgen: d.gen}
		copy(nc.runs, c.runs[k:])
		clear(c.runs[k:])
		c.runs = c.runs[:k]
		d.slots = append(d.slots, nc)
		for i := range nc.runs {
			r := &nc.runs[i]
			if !r.del {
				nc.vis += int(r.n)
			}
			d.index[r.rep].set(r.seq, r.seq+uint64(r.n), nc.slot)
		}
		c.vis -= nc.vis
		added = append(added, nc)
	}
	// added holds chunks in reverse document order.
	at := c.idx + 1
	d.chunks = append(d.chunks, added...)
	copy(d.chunks[at+len(added):], d.chunks[at:len(d.chunks)-len(added)])
	for i := range added {
		d.chunks[at+i] = added[len(added)-1-i]
	}
	for i := at; i < len(d.chunks); i++ {
		c := d.chunks[i]
		if c.gen != d.gen {
			// Shared with the Doc this was forked from: a new header
			// (runs still shared) takes the new index.
			c = &chunk{runs: c.runs, vis: c.vis, slot: c.slot, gen: d.gen, rgen: c.rgen}
			d.chunks[i] = c
			d.slots[c.slot] = c
		}
		c.idx = i
	}
}

// next moves a cursor past the end of a chunk to the start of the next one.
// It returns false at the end of the document (cursor left at the end of the
// last chunk).
func (d *Doc) next(c *chunk, ri int) (*chunk, int, bool) {
	for ri >= len(c.runs) {
		if c.idx+1 >= len(d.chunks) {
			return c, len(c.runs), false
		}
		c, ri = d.chunks[c.idx+1], 0
	}
	return c, ri, true
}

// visChunk returns the chunk holding visible rune pos (0 <= pos < d.vis) and
// the visible position its first rune has, starting from the cached hint.
func (d *Doc) visChunk(pos int) (int, int) {
	ci, start := d.hintC, d.hintPos
	if ci >= len(d.chunks) || start > d.vis {
		ci, start = 0, 0
	}
	for pos < start {
		ci--
		start -= d.chunks[ci].vis
	}
	for pos >= start+d.chunks[ci].vis {
		start += d.chunks[ci].vis
		ci++
	}
	d.hintC, d.hintPos = ci, start
	return ci, start
}

// visFind locates visible rune pos.
func (d *Doc) visFind(pos int) (*chunk, int, uint32) {
	ci, start := d.visChunk(pos)
	c := d.chunks[ci]
	p := pos - start
	for i := range c.runs {
		r := &c.runs[i]
		if r.del {
			continue
		}
		if p < int(r.n) {
			return c, i, uint32(p)
		}
		p -= int(r.n)
	}
	panic("text: visible counts out of sync")
}

func runeCount(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty insert: %w", ErrMalformed)
	}
	if !utf8.ValidString(s) {
		return 0, fmt.Errorf("insert text is not valid UTF-8: %w", ErrMalformed)
	}
	n := utf8.RuneCountInString(s)
	if n > maxRun {
		return 0, fmt.Errorf("insert of %d runes is too long: %w", n, ErrMalformed)
	}
	return n, nil
}

// checkNewID validates that the n ids starting at id are unused. present
// reports that the first one is already applied (a duplicate).
func (d *Doc) checkNewID(id ID, n int) (present bool, err error) {
	if id.Replica == ([16]byte{}) {
		return false, fmt.Errorf("zero replica id: %w", ErrMalformed)
	}
	if id.Seq+uint64(n) < id.Seq {
		return false, fmt.Errorf("seq %d+%d overflows: %w", id.Seq, n, ErrMalformed)
	}
	r, ok := d.lookupRep(id.Replica)
	if !ok || d.index[r].above(id.Seq) {
		return false, nil
	}
	if _, ok := d.index[r].get(id.Seq); ok {
		return true, nil
	}
	if d.index[r].overlaps(id.Seq, id.Seq+uint64(n)) {
		return false, fmt.Errorf("insert %x/%d overlaps applied ids: %w", id.Replica, id.Seq, ErrMalformed)
	}
	return false, nil
}

// insertRun puts nr at cursor (c, ri), extending the previous run when nr
// continues it, and indexes it.
//
// nr's text is s (nr.text is unset): a keystroke that continues the run
// before it is appended to that run's bytes without a copy of its own.
func (d *Doc) insertRun(c *chunk, ri int, nr run, s string) {
	pc, pi := c, ri-1
	if pi < 0 && c.idx > 0 {
		pc = d.chunks[c.idx-1]
		pi = len(pc.runs) - 1
	}
	if pi >= 0 {
		if p := &pc.runs[pi]; continues(p, &nr) && !p.purged() && len(p.text)+len(s) <= maxRunBytes {
			pc = d.own(pc)
			p := &pc.runs[pi]
			p.text = append(p.text, s...)
			p.n += nr.n
			pc.vis += int(nr.n)
			d.vis += int(nr.n)
			d.index[nr.rep].set(nr.seq, nr.seq+uint64(nr.n), pc.slot)
			return
		}
	}
	c = d.own(c)
	nr.text = []byte(s)
	c.runs = c.grow()
	copy(c.runs[ri+1:], c.runs[ri:])
	c.runs[ri] = nr
	c.vis += int(nr.n)
	d.vis += int(nr.n)
	d.index[nr.rep].set(nr.seq, nr.seq+uint64(nr.n), c.slot)
	d.markDirty(c)
}

// LocalInsert types s at visible position pos as replica id.Replica, with
// the first rune getting id.Seq, and returns the op to send to others.
func (d *Doc) LocalInsert(id ID, pos int, s string) (Insert, error) {
	n, err := runeCount(s)
	if err != nil {
		return Insert{}, err
	}
	if pos < 0 || pos > d.vis {
		return Insert{}, fmt.Errorf("insert at %d in text of %d: %w", pos, d.vis, ErrBadPosition)
	}
	present, err := d.checkNewID(id, n)
	if err != nil {
		return Insert{}, err
	}
	if present {
		return Insert{}, fmt.Errorf("insert id %x/%d already used: %w", id.Replica, id.Seq, ErrMalformed)
	}
	rep := d.addRep(id.Replica)
	// Like the eg-walker reference: the left origin is the visible char
	// before pos, the right origin whatever item (tombstone or not) follows it.
	var left oid
	c, ri := d.chunks[0], 0
	if pos == 0 {
		// An insert at 0 goes into the first chunk, which may lie before
		// the cached one and would move its start. Any other insert lands
		// in the chunk visFind returns, whose start does not move, so the
		// hint stays valid; resetting it made typing walk the chunks from
		// the start at every keystroke.
		d.hintC, d.hintPos = 0, 0
	}
	if pos > 0 {
		var off uint32
		c, ri, off = d.visFind(pos - 1)
		if off+1 < c.runs[ri].n {
			c = d.own(c)
			d.splitAt(c, ri, off+1)
		}
		left = oid{rep: c.runs[ri].rep, seq: c.runs[ri].seq + uint64(off)}
		ri++
	}
	var right oid
	if nc, nri, ok := d.next(c, ri); ok {
		right = oid{nc.runs[nri].rep, nc.runs[nri].seq}
	}
	d.insertRun(c, ri, run{seq: id.Seq, left: left, right: right, rep: rep, n: uint32(n)}, s)
	d.settle()
	return Insert{ID: id, OriginLeft: d.toID(left), OriginRight: d.toID(right), Text: s}, nil
}

// ApplyInsert integrates a remote insert. Applying it twice is a no-op.
func (d *Doc) ApplyInsert(op Insert) error {
	n, err := runeCount(op.Text)
	if err != nil {
		return err
	}
	present, err := d.checkNewID(op.ID, n)
	if err != nil || present {
		return err
	}
	left, ok := d.originOid(op.OriginLeft)
	if !ok {
		return fmt.Errorf("insert %x/%d: left origin %x/%d: %w", op.ID.Replica, op.ID.Seq, op.OriginLeft.Replica, op.OriginLeft.Seq, ErrMissingOrigin)
	}
	right, ok := d.originOid(op.OriginRight)
	if !ok {
		return fmt.Errorf("insert %x/%d: right origin %x/%d: %w", op.ID.Replica, op.ID.Seq, op.OriginRight.Replica, op.OriginRight.Seq, ErrMissingOrigin)
	}
	rep := d.addRep(op.ID.Replica)
	d.hintC, d.hintPos = 0, 0
	d.integrate(run{seq: op.ID.Seq, left: left, right: right, rep: rep, n: uint32(n)}, op.Text)
	d.settle()
	return nil
}

// integrate is yjsmod / FugueMax integration (reference-crdts
// integrateYjsMod, eg-walker reference integrate) over runs. Only the first
// char of each scanned run matters: later chars have their left origin
// inside the scanned region and are skipped without changing state.
func (d *Doc) integrate(nr run, s string) {
	if nr.right.rep != zeroRep {
		if c, ri, off, ok := d.find(nr.right); ok && off > 0 {
			d.splitAt(d.own(c), ri, off)
		}
	}
	c, ri := d.chunks[0], 0
	if nr.left.rep != zeroRep {
		var off uint32
		c, ri, off, _ = d.find(nr.left)
		if off+1 < c.runs[ri].n {
			c = d.own(c)
			d.splitAt(c, ri, off+1)
		}
		ri++
	}
	dc, dri := c, ri
	scanning := false
	d.scanned = d.scanned[:0]
	for {
		var more bool
		c, ri, more = d.next(c, ri)
		if !scanning {
			dc, dri = c, ri
		}
		if !more {
			break
		}
		o := &c.runs[ri]
		if nr.right.rep != zeroRep && o.rep == nr.right.rep && o.seq == nr.right.seq {
			break
		}
		var oleft int
		switch {
		case o.left == nr.left:
		case o.left.rep == zeroRep:
			oleft = -1
		case d.inScanned(o.left, nr.left):
			oleft = 1
		default:
			oleft = -1
		}
		if oleft < 0 {
			break
		}
		if oleft == 0 {
			var oright int
			switch {
			case o.right == nr.right:
			case nr.right.rep == zeroRep:
				oright = -1
			case o.right.rep == zeroRep:
				oright = 1
			default:
				oright = d.cmpPos(o.right, nr.right)
			}
			if oright < 0 {
				scanning = true
			} else if oright == 0 && d.precedes(nr.rep, nr.seq, o) {
				break
			} else {
				scanning = false
			}
		}
		d.scanned = append(d.scanned, span{rep: o.rep, n: o.n, seq: o.seq})
		ri++
	}
	d.insertRun(dc, dri, nr, s)
}

// precedes breaks a tie between true siblings: lower replica id first, and
// for one replica (which can only happen when it forgot its own op, as
// conformance histories do) lower seq first, which is what integrating in
// the author's order gives.
func (d *Doc) precedes(rep uint32, seq uint64, o *run) bool {
	if c := bytes.Compare(d.reps[rep][:], d.reps[o.rep][:]); c != 0 {
		return c < 0
	}
	return seq < o.seq
}

// inScanned reports whether x (which lies before the current scan item) lies
// after left, i.e. inside the runs scanned so far.
func (d *Doc) inScanned(x, left oid) bool {
	if len(d.scanned) <= 32 {
		for i := range d.scanned {
			s := &d.scanned[i]
			if s.rep == x.rep && x.seq >= s.seq && x.seq-s.seq < uint64(s.n) {
				return true
			}
		}
		return false
	}
	if left.rep == zeroRep {
		return true
	}
	return d.cmpPos(x, left) > 0
}

// LocalDelete deletes n visible runes from pos and returns the op.
func (d *Doc) LocalDelete(pos, n int) (Delete, error) {
	if pos < 0 || n < 0 || pos > d.vis || n > d.vis-pos {
		return Delete{}, fmt.Errorf("delete %d at %d in text of %d: %w", n, pos, d.vis, ErrBadPosition)
	}
	var op Delete
	if n == 0 {
		return op, nil
	}
	c, ri, off := d.visFind(pos)
	for n > 0 {
		c, ri, _ = d.next(c, ri)
		if c.runs[ri].del {
			ri++
			continue
		}
		c = d.own(c)
		r := &c.runs[ri]
		if off > 0 {
			d.splitAt(c, ri, off)
			ri++
			off = 0
			r = &c.runs[ri]
		}
		take := min(uint32(n), r.n)
		d.splitAt(c, ri, take)
		r = &c.runs[ri]
		op.Spans = appendSpan(op.Spans, Span{ID{d.reps[r.rep], r.seq}, uint64(take)})
		d.markDeleted(c, r)
		n -= int(take)
		ri = d.mergeAround(c, ri) + 1
	}
	d.settle()
	return op, nil
}

func appendSpan(s []Span, sp Span) []Span {
	if k := len(s); k > 0 && s[k-1].ID.Replica == sp.ID.Replica && s[k-1].ID.Seq+s[k-1].Len == sp.ID.Seq {
		s[k-1].Len += sp.Len
		return s
	}
	return append(s, sp)
}

func (d *Doc) markDeleted(c *chunk, r *run) {
	// A deleted character's content can never be shown again: it goes
	// at once (PurgeDeletedContent has nothing left to do but for docs
	// from before this), and merging tombstones copies nothing.
	r.text = nil
	r.del = true
	c.vis -= int(r.n)
	d.vis -= int(r.n)
	d.markDirty(c)
}

// ApplyDelete applies a remote delete. Deleting a deleted char is a no-op;
// an unknown target fails the whole op before anything changes.
func (d *Doc) ApplyDelete(op Delete) error {
	for _, sp := range op.Spans {
		if sp.ID.Seq+sp.Len < sp.ID.Seq {
			return fmt.Errorf("delete span %x/%d+%d overflows: %w", sp.ID.Replica, sp.ID.Seq, sp.Len, ErrMalformed)
		}
		if sp.Len == 0 {
			continue
		}
		r, ok := d.lookupRep(sp.ID.Replica)
		if !ok || !d.index[r].covers(sp.ID.Seq, sp.ID.Seq+sp.Len) {
			return fmt.Errorf("delete span %x/%d+%d: %w", sp.ID.Replica, sp.ID.Seq, sp.Len, ErrUnknownID)
		}
	}
	d.hintC, d.hintPos = 0, 0
	for _, sp := range op.Spans {
		if sp.Len == 0 {
			continue
		}
		rep, _ := d.lookupRep(sp.ID.Replica)
		seq, end := sp.ID.Seq, sp.ID.Seq+sp.Len
		for seq < end {
			c, ri, off, ok := d.find(oid{rep, seq})
			if !ok {
				return fmt.Errorf("delete %x/%d: index out of sync: %w", sp.ID.Replica, seq, ErrUnknownID)
			}
			r := &c.runs[ri]
			take := uint32(min(end-seq, uint64(r.n-off)))
			if !r.del {
				c = d.own(c)
				d.splitAt(c, ri, off)
				if off > 0 {
					ri++
				}
				d.splitAt(c, ri, take)
				d.markDeleted(c, &c.runs[ri])
				d.mergeAround(c, ri)
			}
			seq += uint64(take)
		}
	}
	d.settle()
	return nil
}

// Deleted reports whether the character id is present and deleted: its
// content may be purged, and history that carries it may be scrubbed.
func (d *Doc) Deleted(id ID) bool {
	r, ok := d.repIdx[id.Replica]
	if !ok {
		return false
	}
	c, i, _, ok := d.find(oid{r, id.Seq})
	return ok && c.runs[i].del
}

// VisibleIDs returns the ids of the visible characters at positions
// [pos, pos+n), clipped to the text.
func (d *Doc) VisibleIDs(pos, n int) []ID {
	var out []ID
	at := 0
	for _, c := range d.chunks {
		for i := range c.runs {
			r := &c.runs[i]
			if r.del {
				continue
			}
			for k := uint32(0); k < r.n; k++ {
				if at >= pos && at < pos+n {
					out = append(out, d.toID(oid{r.rep, r.seq + uint64(k)}))
				}
				at++
			}
			if at >= pos+n {
				return out
			}
		}
	}
	return out
}
