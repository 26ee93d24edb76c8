package syncengine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/golang/snappy"

	"github.com/joinedup/joinedup/syncengine/text"
)

// Wire frames: 3 magic bytes, a version byte, then a snappy block holding a
// varint encoding. Strings that repeat (field names, authors, record ids,
// types) are sent once per frame and then referred to by index; replica ids
// likewise. Every decoder bound is checked before allocating.
const (
	wireVersion = 1
	// MaxFrameBytes bounds the decompressed size of any frame we accept.
	MaxFrameBytes = 64 << 20
)

var (
	magicChangesets = [3]byte{'J', 'U', 'C'}
	magicSnapshot   = [3]byte{'J', 'U', 'S'}
)

// encoder writes the varint body.
type encoder struct {
	b        []byte
	strs     map[string]uint64
	replicas map[ReplicaID]uint64
}

func newEncoder() *encoder {
	return &encoder{strs: map[string]uint64{}, replicas: map[ReplicaID]uint64{}}
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }

// str writes a string once per frame: 0 then the bytes the first time, i+1 after.
func (e *encoder) str(s string) {
	if i, ok := e.strs[s]; ok {
		e.uvarint(i + 1)
		return
	}
	e.strs[s] = uint64(len(e.strs))
	e.uvarint(0)
	e.bytes([]byte(s))
}

func (e *encoder) replica(r ReplicaID) {
	if i, ok := e.replicas[r]; ok {
		e.uvarint(i + 1)
		return
	}
	e.replicas[r] = uint64(len(e.replicas))
	e.uvarint(0)
	e.b = append(e.b, r[:]...)
}

// id writes a possibly-zero id.
func (e *encoder) id(id ID) {
	if id.IsZero() {
		e.uvarint(0)
		return
	}
	e.uvarint(1)
	e.replica(id.Replica)
	e.uvarint(id.Seq)
}

func (e *encoder) vv(v VV) {
	e.uvarint(uint64(len(v)))
	for _, x := range v {
		e.replica(x.Replica)
		e.uvarint(x.Seq)
	}
}

func (e *encoder) ids(ids []ID) {
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.id(id)
	}
}

func frame(magic [3]byte, body []byte) []byte {
	n := snappy.MaxEncodedLen(len(body))
	if n > 1<<20 {
		// Straight into out: a long note's frame is not copied twice.
		out := make([]byte, 4+n)
		copy(out, magic[:])
		out[3] = wireVersion
		enc := snappy.Encode(out[4:], body)
		return out[:4+len(enc)]
	}
	// A small frame is compressed into a kept buffer and copied out at its
	// size: the bound is a sixth larger than the body and had to be zeroed,
	// and a stored state kept (StateCache) the slack.
	buf := snappyBufs.Get().(*[]byte)
	defer snappyBufs.Put(buf)
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	enc := snappy.Encode((*buf)[:cap(*buf)], body)
	out := make([]byte, 4+len(enc))
	copy(out, magic[:])
	out[3] = wireVersion
	copy(out[4:], enc)
	return out
}

// encoders recycles encoding buffers: a record's body is needed only until
// frame has compressed it, and a long note's body is its text.
var encoders = sync.Pool{New: func() any { return newEncoder() }}

func getEncoder() *encoder { return encoders.Get().(*encoder) }

func putEncoder(e *encoder) {
	if cap(e.b) > 1<<20 {
		return // a rare huge frame is not kept alive
	}
	e.b = e.b[:0]
	clear(e.strs)
	clear(e.replicas)
	encoders.Put(e)
}

// EncodeChangesets encodes a batch of changesets in one frame.
func EncodeChangesets(css []*Changeset) []byte {
	e := getEncoder()
	defer putEncoder(e)
	e.uvarint(uint64(len(css)))
	for _, cs := range css {
		e.changeset(cs)
	}
	return frame(magicChangesets, e.b)
}

// EncodeChangeset encodes one changeset.
func EncodeChangeset(cs *Changeset) []byte { return EncodeChangesets([]*Changeset{cs}) }

func (e *encoder) changeset(cs *Changeset) {
	e.replica(cs.Replica)
	e.uvarint(cs.Start)
	e.uvarint(uint64(cs.Time))
	e.str(cs.Author)
	e.uvarint(uint64(len(cs.Deps)))
	for _, d := range cs.Deps {
		e.str(string(d.Record))
		e.vv(d.VV)
	}
	e.uvarint(uint64(len(cs.Ops)))
	for i := range cs.Ops {
		o := &cs.Ops[i]
		e.b = append(e.b, byte(o.Kind))
		e.str(string(o.Record))
		switch o.Kind {
		case OpCreate:
			e.str(o.Type)
		case OpSet:
			e.str(o.Field)
			e.bytes(o.Value)
			e.ids(o.Refs)
		case OpAdd:
			e.str(o.Field)
			e.str(o.Elem)
		case OpRemove:
			e.str(o.Field)
			e.str(o.Elem)
			e.ids(o.Refs)
		case OpIncrement:
			e.str(o.Field)
			e.str(o.Elem)
			e.varint(o.Delta)
		case OpInsertText:
			e.str(o.Field)
			e.id(o.Left)
			e.id(o.Right)
			e.bytes([]byte(o.Text))
		case OpDeleteText:
			e.str(o.Field)
			e.uvarint(uint64(len(o.Spans)))
			for _, s := range o.Spans {
				e.id(s.ID)
				e.uvarint(s.Len)
			}
		case OpErase:
			e.bytes(o.Value)
		case OpRedacted, OpOmitted:
			e.uvarint(uint64(o.Delta))
		}
	}
}

// decoder reads the varint body; the first error sticks.
type decoder struct {
	b        []byte
	err      error
	strs     []string
	replicas []ReplicaID
	// loose: the body is valid but not byte for byte what the encoder
	// writes (a padded varint, a string or replica sent in full twice), or
	// it could not cheaply tell (see maxCanonicalTable).
	loose bool
	body  []byte // the whole decompressed body
}

// maxCanonicalTable bounds the string and replica tables a decoder checks
// for repeated literals (a linear scan each): a frame with more is taken as
// not canonical, so a hostile frame cannot make the check quadratic.
const maxCanonicalTable = 128

var errMalformed = errors.New("malformed")

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, errMalformed)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	// A last group of zero bits is padding the encoder never writes.
	if n > 1 && d.b[n-1] == 0 {
		d.loose = true
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		d.loose = true
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that at least min bytes per item remain,
// so a hostile count can never make us allocate more than the input size.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minBytes) {
		d.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (d *decoder) byteN(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) bytes() []byte { return d.byteN(d.count(1)) }

// owned copies bytes out of the frame, so that a long-lived value (a register
// value kept in state) does not pin the whole decompressed frame in memory.
func (d *decoder) owned() []byte {
	p := d.bytes()
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str() string {
	i := d.uvarint()
	if d.err != nil {
		return ""
	}
	if i == 0 {
		p := d.bytes()
		if !utf8.Valid(p) {
			d.fail("string is not UTF-8")
			return ""
		}
		s := string(p)
		if len(d.strs) >= maxCanonicalTable || slices.Contains(d.strs, s) {
			d.loose = true
		}
		d.strs = append(d.strs, s)
		return s
	}
	if i-1 >= uint64(len(d.strs)) {
		d.fail("bad string reference")
		return ""
	}
	return d.strs[i-1]
}

func (d *decoder) replica() ReplicaID {
	i := d.uvarint()
	if d.err != nil {
		return ReplicaID{}
	}
	if i == 0 {
		var r ReplicaID
		copy(r[:], d.byteN(16))
		if r.IsZero() {
			d.fail("zero replica id")
		}
		if len(d.replicas) >= maxCanonicalTable || slices.Contains(d.replicas, r) {
			d.loose = true
		}
		d.replicas = append(d.replicas, r)
		return r
	}
	if i-1 >= uint64(len(d.replicas)) {
		d.fail("bad replica reference")
		return ReplicaID{}
	}
	return d.replicas[i-1]
}

func (d *decoder) id() ID {
	switch d.uvarint() {
	case 0:
		return ID{}
	case 1:
		return ID{Replica: d.replica(), Seq: d.uvarint()}
	}
	d.fail("bad id tag")
	return ID{}
}

func (d *decoder) vv() VV {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	v := make(VV, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		v = append(v, VVEntry{Replica: d.replica(), Seq: d.uvarint()})
	}
	if d.err == nil && !v.valid() {
		d.fail("version vector not sorted")
	}
	return v
}

func (d *decoder) ids() []ID {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]ID, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.id())
	}
	return out
}

func unframe(magic [3]byte, b []byte) ([]byte, error) {
	const op = "decode"
	if len(b) < 4 || [3]byte(b[:3]) != magic {
		return nil, Errorf(EMALFORMED, op, "not a JoinedUp %s frame", map[byte]string{'C': "changeset", 'S': "snapshot"}[magic[2]])
	}
	if b[3] != wireVersion {
		return nil, Errorf(EMALFORMED, op, "unsupported wire version %d (this build reads %d)", b[3], wireVersion)
	}
	n, err := snappy.DecodedLen(b[4:])
	if err != nil {
		return nil, &Error{Code: EMALFORMED, Op: op, Message: "bad snappy block", Err: err}
	}
	if n > MaxFrameBytes {
		return nil, Errorf(ETOOLARGE, op, "frame decompresses to %d bytes, over the %d limit", n, MaxFrameBytes)
	}
	// A snappy block cannot expand more than about 21 times (a 3-byte copy op
	// yields at most 64 bytes); a header claiming more is a lie, and believing
	// it would let ten hostile bytes make us allocate megabytes.
	if n > 24*len(b)+64 {
		return nil, Errorf(EMALFORMED, op, "bad snappy block: claimed size %d is impossible for %d bytes", n, len(b))
	}
	body, err := snappy.Decode(nil, b[4:])
	if err != nil {
		return nil, &Error{Code: EMALFORMED, Op: op, Message: "bad snappy block", Err: err}
	}
	return body, nil
}

// DecodeChangesets decodes a frame of changesets from untrusted bytes. Every
// changeset returned has passed Check.
func DecodeChangesets(b []byte) ([]*Changeset, error) {
	css, _, err := decodeChangesets(b)
	return css, err
}

// DecodeChangesetsCanonical decodes as DecodeChangesets does, and reports
// whether b is exactly EncodeChangeset of the one changeset it holds, so a
// store may keep the bytes it received instead of encoding the changeset
// again. The body is proven canonical while it is decoded (no padded
// varint, no string or replica sent in full twice: the encoder's choices are
// otherwise forced by the changeset); the compression, which a sender may
// do its own way, is checked by compressing the body again, which costs a
// fraction of encoding it.
func DecodeChangesetsCanonical(b []byte) (css []*Changeset, canonical bool, err error) {
	css, d, err := decodeChangesets(b)
	if err != nil || len(css) != 1 || d.loose {
		return css, false, err
	}
	buf := snappyBufs.Get().(*[]byte)
	defer snappyBufs.Put(buf)
	if n := snappy.MaxEncodedLen(len(d.body)); cap(*buf) < n {
		*buf = make([]byte, n)
	}
	return css, bytes.Equal(b[4:], snappy.Encode((*buf)[:cap(*buf)], d.body)), nil
}

// snappyBufs holds the buffers frame and DecodeChangesetsCanonical compress into.
var snappyBufs = sync.Pool{New: func() any { return new([]byte) }}

func decodeChangesets(b []byte) ([]*Changeset, *decoder, error) {
	body, err := unframe(magicChangesets, b)
	if err != nil {
		return nil, nil, err
	}
	d := &decoder{b: body, body: body}
	n := d.count(8)
	out := make([]*Changeset, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		cs := d.changeset()
		if d.err != nil {
			break
		}
		if err := cs.Check(); err != nil {
			return nil, nil, fmt.Errorf("changeset %d: %w", i, err)
		}
		out = append(out, cs)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, nil, &Error{Code: EMALFORMED, Op: "decode changesets", Message: "malformed changeset frame", Err: d.err}
	}
	return out, d, nil
}

// DecodeChangeset decodes a frame holding exactly one changeset.
func DecodeChangeset(b []byte) (*Changeset, error) {
	css, err := DecodeChangesets(b)
	if err != nil {
		return nil, err
	}
	if len(css) != 1 {
		return nil, Errorf(EMALFORMED, "decode changeset", "frame holds %d changesets, want 1", len(css))
	}
	return css[0], nil
}

func (d *decoder) changeset() *Changeset {
	// Almost every save touches one record: the changeset and its one dep
	// are allocated together.
	withDep := &struct {
		cs  Changeset
		dep [1]Dep
	}{}
	cs := &withDep.cs
	cs.Replica = d.replica()
	cs.Start = d.uvarint()
	cs.Time = Timestamp(d.uvarint())
	cs.Author = d.str()
	nd := d.count(2)
	switch {
	case nd == 1:
		cs.Deps = withDep.dep[:0]
	case nd > 0:
		cs.Deps = make([]Dep, 0, nd)
	}
	for i := 0; i < nd && d.err == nil; i++ {
		cs.Deps = append(cs.Deps, Dep{Record: RecordID(d.str()), VV: d.vv()})
	}
	no := d.count(2)
	if no > MaxOpsPerChangeset {
		d.fail("too many ops")
		return cs
	}
	if no > 0 {
		cs.Ops = make([]Op, 0, no)
	}
	for i := 0; i < no && d.err == nil; i++ {
		kb := d.byteN(1)
		if d.err != nil {
			break
		}
		k := OpKind(kb[0])
		o := Op{Kind: k, Record: RecordID(d.str())}
		switch k {
		case OpCreate:
			o.Type = d.str()
		case OpSet:
			o.Field = d.str()
			o.Value = d.bytes() // in the frame until ownValues copies it
			o.Refs = d.ids()
		case OpAdd:
			o.Field, o.Elem = d.str(), d.str()
		case OpRemove:
			o.Field, o.Elem = d.str(), d.str()
			o.Refs = d.ids()
		case OpIncrement:
			o.Field, o.Elem = d.str(), d.str()
			o.Delta = d.varint()
		case OpInsertText:
			o.Field = d.str()
			o.Left, o.Right = d.id(), d.id()
			o.Text = string(d.bytes())
		case OpDeleteText:
			o.Field = d.str()
			ns := d.count(3)
			for j := 0; j < ns && d.err == nil; j++ {
				o.Spans = append(o.Spans, Span{ID: d.id(), Len: d.uvarint()})
			}
		case OpErase:
			o.Value = d.bytes()
		case OpRedacted, OpOmitted:
			w := d.uvarint()
			if w > MaxTextRunes {
				d.fail("bad placeholder width")
			}
			o.Delta = int64(w)
		default:
			d.fail("unknown op kind")
		}
		cs.Ops = append(cs.Ops, o)
	}
	ownValues(cs.Ops)
	return cs
}

// ownValues copies the values the set ops hold out of the frame, so that a
// long-lived value (a register value kept in state) does not pin the whole
// decompressed frame in memory. They are copied into one array per
// changeset, not one each: a save of a form sets a dozen fields. Each is
// capped, so an append to one reallocates instead of writing into the next.
func ownValues(ops []Op) {
	n := 0
	for i := range ops {
		if ops[i].Kind == OpSet {
			n += len(ops[i].Value)
		}
	}
	buf := make([]byte, 0, n)
	for i := range ops {
		if o := &ops[i]; o.Kind == OpSet {
			if len(o.Value) == 0 {
				o.Value = nil // as a copy of nothing was
				continue
			}
			start := len(buf)
			buf = append(buf, o.Value...)
			o.Value = buf[start:len(buf):len(buf)]
		}
	}
}

// EncodeSnapshot encodes record states canonically: records sorted by id,
// fields by name, values by id. Replicas that applied the same changesets
// in any order produce identical bytes.
func EncodeSnapshot(recs []*Record) []byte {
	sorted := append([]*Record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	e := getEncoder()
	defer putEncoder(e)
	e.uvarint(uint64(len(sorted)))
	for _, r := range sorted {
		e.record(r)
	}
	return frame(magicSnapshot, e.b)
}

// EncodeRecord encodes one record state (a snapshot of one). It writes what
// EncodeSnapshot writes for []*Record{r}, without copying and sorting a list
// of one: the server encodes every state it stores here.
func EncodeRecord(r *Record) []byte {
	e := getEncoder()
	defer putEncoder(e)
	e.uvarint(1)
	e.record(r)
	return frame(magicSnapshot, e.b)
}

func (e *encoder) record(r *Record) {
	e.str(string(r.ID))
	e.str(r.Type)
	e.vv(r.VV)
	e.uvarint(uint64(r.Created))
	e.uvarint(uint64(r.Updated))
	if r.Erased != nil {
		e.uvarint(1)
		e.id(r.Erased.ID)
		e.str(r.Erased.By)
		e.uvarint(uint64(r.Erased.At))
		e.bytes([]byte(r.Erased.Reason))
	} else {
		e.uvarint(0)
	}
	// Most records have a few authors and a few dozen fields: their sorted
	// keys are kept on the stack, and sorted without sort.Slice's
	// allocations.
	var repBuf [8]ReplicaID
	reps := repBuf[:0]
	for rep := range r.Authors {
		reps = append(reps, rep)
	}
	slices.SortFunc(reps, ReplicaID.Compare)
	e.uvarint(uint64(len(reps)))
	for _, rep := range reps {
		e.replica(rep)
		e.str(r.Authors[rep])
	}
	var nameBuf [32]string
	names := nameBuf[:0]
	for n := range r.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		f := r.Fields[n]
		e.str(n)
		e.b = append(e.b, byte(f.Kind))
		switch f.Kind {
		case KindRegister:
			// Almost every register holds one value: sorting a copy of
			// it cost an allocation or three per field per push.
			vs := f.Values
			if !regValuesSorted(vs) {
				vs = append([]RegValue(nil), vs...)
				sortRegValues(vs)
			}
			e.uvarint(uint64(len(vs)))
			for _, v := range vs {
				e.id(v.ID)
				e.uvarint(uint64(v.Time))
				e.str(v.Author)
				e.bytes(v.Value)
			}
		case KindSet:
			// Field.Elements, sorted on the stack for a set of a few.
			var elemBuf [16]string
			elems := elemBuf[:0]
			for el := range f.Set {
				elems = append(elems, el)
			}
			slices.Sort(elems)
			e.uvarint(uint64(len(elems)))
			for _, el := range elems {
				e.str(el)
				e.ids(f.Set[el])
			}
		case KindCounter:
			var keyBuf [16]string
			keys := keyBuf[:0]
			for k := range f.Counts {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			e.uvarint(uint64(len(keys)))
			for _, k := range keys {
				e.str(k)
				e.varint(f.Counts[k])
			}
		case KindText:
			// Length-prefixed, written in place: the text is encoded
			// after a gap, then moved up behind its length.
			start := len(e.b)
			e.b = f.Text.AppendBinary(e.b)
			n := len(e.b) - start
			var hdr [binary.MaxVarintLen64]byte
			k := binary.PutUvarint(hdr[:], uint64(n))
			e.b = append(e.b, hdr[:k]...)
			copy(e.b[start+k:], e.b[start:start+n])
			copy(e.b[start:], hdr[:k])
		}
	}
}

// DecodeSnapshot decodes record states from untrusted bytes.
func DecodeSnapshot(b []byte) ([]*Record, error) {
	body, err := unframe(magicSnapshot, b)
	if err != nil {
		return nil, err
	}
	d := &decoder{b: body}
	n := d.count(8)
	out := make([]*Record, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := d.record()
		if d.err == nil {
			out = append(out, r)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, &Error{Code: EMALFORMED, Op: "decode snapshot", Message: "malformed snapshot frame", Err: d.err}
	}
	return out, nil
}

// DecodeRecord decodes a frame holding exactly one record.
func DecodeRecord(b []byte) (*Record, error) {
	recs, err := DecodeSnapshot(b)
	if err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, Errorf(EMALFORMED, "decode record", "frame holds %d records, want 1", len(recs))
	}
	return recs[0], nil
}

func (d *decoder) record() *Record {
	r := newRecord(RecordID(d.str()))
	if d.err == nil && !ValidRecordID(string(r.ID)) {
		d.fail("bad record id")
	}
	r.Type = d.str()
	r.VV = d.vv()
	r.Created = Timestamp(d.uvarint())
	r.Updated = Timestamp(d.uvarint())
	switch d.uvarint() {
	case 0:
	case 1:
		r.Erased = &Erasure{ID: d.id(), By: d.str(), At: Timestamp(d.uvarint()), Reason: string(d.bytes())}
	default:
		d.fail("bad erasure flag")
	}
	na := d.count(2)
	for i := 0; i < na && d.err == nil; i++ {
		rep := d.replica()
		r.Authors[rep] = d.str()
	}
	nf := d.count(2)
	for i := 0; i < nf && d.err == nil; i++ {
		name := d.str()
		kb := d.byteN(1)
		if d.err != nil {
			break
		}
		f := &Field{Kind: FieldKind(kb[0]), owner: r}
		switch f.Kind {
		case KindRegister:
			nv := d.count(4)
			for j := 0; j < nv && d.err == nil; j++ {
				f.Values = append(f.Values, RegValue{ID: d.id(), Time: Timestamp(d.uvarint()), Author: d.str(), Value: d.owned()})
			}
		case KindSet:
			f.Set = map[string][]ID{}
			ne := d.count(2)
			for j := 0; j < ne && d.err == nil; j++ {
				el := d.str()
				f.Set[el] = d.ids()
			}
		case KindCounter:
			f.Counts = map[string]int64{}
			nk := d.count(2)
			for j := 0; j < nk && d.err == nil; j++ {
				k := d.str()
				f.Counts[k] = d.varint()
			}
		case KindText:
			p := d.bytes()
			if d.err != nil {
				break
			}
			doc, used, err := text.Decode(p)
			if err != nil || used != len(p) {
				d.fail("bad text")
				break
			}
			f.Text = doc
		default:
			d.fail("unknown field kind")
		}
		r.Fields[name] = f
	}
	return r
}
