package syncengine

import (
	"encoding/json"
	"unicode/utf8"
)

// OpKind says what an op does.
type OpKind uint8

const (
	OpCreate     OpKind = 1  // Type: start a record
	OpSet        OpKind = 2  // Field, Value (JSON), Refs: the values it supersedes
	OpAdd        OpKind = 3  // Field, Elem: add to a set (the op id is the tag)
	OpRemove     OpKind = 4  // Field, Elem, Refs: the add tags observed
	OpIncrement  OpKind = 5  // Field, Elem (key), Delta
	OpInsertText OpKind = 6  // Field, Left, Right, Text: one id per rune
	OpDeleteText OpKind = 7  // Field, Spans
	OpErase      OpKind = 8  // Value: the reason; purges the record for good
	OpRedacted   OpKind = 9  // Delta: counter width of an op removed by erasure
	OpOmitted    OpKind = 10 // Delta: counter width of an op on a record outside the receiver's scope
)

// Op is one change to one record. Only the fields its kind uses are set.
type Op struct {
	Kind   OpKind
	Record RecordID
	Field  string
	Type   string
	Value  json.RawMessage
	Elem   string
	Delta  int64
	Refs   []ID
	Left   ID
	Right  ID
	Text   string
	Spans  []Span
}

// Span is a run of consecutive ids of one replica (deleted text).
type Span struct {
	ID  ID
	Len uint64
}

// width is how many counter values the op consumes.
func (op *Op) width() uint64 {
	switch op.Kind {
	case OpInsertText:
		return uint64(utf8.RuneCountInString(op.Text))
	case OpRedacted, OpOmitted:
		return uint64(op.Delta)
	}
	return 1
}

// Dep is the author's version vector of one record it touched.
type Dep struct {
	Record RecordID
	VV     VV
}

// Changeset is one save: an atomic group of ops from one replica. It occupies
// the replica's counter range [Start, Start+Span()).
type Changeset struct {
	Replica ReplicaID
	Start   uint64
	Time    Timestamp
	Author  string // the person (staff id) who saved it
	Deps    []Dep  // one per record touched, sorted by record id
	Ops     []Op
}

// Key identifies a changeset globally.
type Key struct {
	Replica ReplicaID
	Start   uint64
}

func (c *Changeset) Key() Key { return Key{c.Replica, c.Start} }

// Span is the number of counter values the changeset uses.
func (c *Changeset) Span() uint64 {
	var n uint64
	for i := range c.Ops {
		n += c.Ops[i].width()
	}
	return n
}

// End is the last counter value the changeset uses.
func (c *Changeset) End() uint64 { return c.Start + c.Span() - 1 }

// OpID returns the id of op i.
func (c *Changeset) OpIDs() []ID {
	ids := make([]ID, len(c.Ops))
	seq := c.Start
	for i := range c.Ops {
		ids[i] = ID{c.Replica, seq}
		seq += c.Ops[i].width()
	}
	return ids
}

// Records lists the records the changeset touches, in dep order.
func (c *Changeset) Records() []RecordID {
	out := make([]RecordID, len(c.Deps))
	for i, d := range c.Deps {
		out[i] = d.Record
	}
	return out
}

// Limits on what one changeset may hold; they bound decoding and memory.
const (
	MaxOpsPerChangeset = 10000
	MaxFieldName       = 64
	MaxValueBytes      = 64 << 10
	MaxTextRunes       = 64 << 10
	MaxRefs            = 1024
	MaxAuthor          = 64
	MaxVVEntries       = 4096
)

// Check verifies a changeset's structure (not its meaning against state):
// every op well-formed, deps listing exactly the records touched.
func (c *Changeset) Check() error {
	const op = "check changeset"
	if c.Replica.IsZero() {
		return Errorf(EMALFORMED, op, "replica id is zero")
	}
	if c.Start == 0 {
		return Errorf(EMALFORMED, op, "counter starts at 1")
	}
	if len(c.Ops) == 0 || len(c.Ops) > MaxOpsPerChangeset {
		return Errorf(EMALFORMED, op, "a changeset holds 1 to %d ops, not %d", MaxOpsPerChangeset, len(c.Ops))
	}
	if len(c.Author) > MaxAuthor || !utf8.ValidString(c.Author) {
		return Errorf(EMALFORMED, op, "author is not a valid id")
	}
	if c.Start+c.Span() < c.Start {
		return Errorf(EMALFORMED, op, "counter range overflows")
	}
	// Deps are sorted and unique (checked below), so an op finds its dep by
	// binary search and the deps' use is a bool per dep: a map here was an
	// allocation and a hash per op, twice per changeset (decode and apply).
	var usedBuf [8]bool
	used := usedBuf[:0]
	if len(c.Deps) > len(usedBuf) {
		used = make([]bool, 0, len(c.Deps))
	}
	for i, d := range c.Deps {
		if !ValidRecordID(string(d.Record)) {
			return Errorf(EMALFORMED, op, "dep %d: bad record id", i)
		}
		if i > 0 && c.Deps[i-1].Record >= d.Record {
			return Errorf(EMALFORMED, op, "deps must be sorted and unique")
		}
		if !d.VV.valid() || len(d.VV) > MaxVVEntries {
			return Errorf(EMALFORMED, op, "dep %d: bad version vector", i)
		}
		if d.VV.Get(c.Replica) >= c.Start {
			return Errorf(EMALFORMED, op, "dep %d: depends on its own future", i)
		}
		used = append(used, false)
	}
	kept := 0
	for i := range c.Ops {
		o := &c.Ops[i]
		if o.Kind == OpOmitted {
			if o.Record != "" || o.Delta <= 0 || o.Delta > MaxTextRunes {
				return Errorf(EMALFORMED, op, "op %d: bad omitted placeholder", i)
			}
			continue
		}
		kept++
		j := c.depIndex(o.Record)
		if j < 0 {
			return Errorf(EMALFORMED, op, "op %d: record %q has no dep entry", i, o.Record)
		}
		used[j] = true
		if err := o.check(); err != nil {
			return &Error{Code: EMALFORMED, Op: op, Message: "op " + itoa(i) + ": " + ErrorMessage(err)}
		}
	}
	if kept == 0 {
		return Errorf(EMALFORMED, op, "a changeset needs at least one op on a record")
	}
	for j, u := range used {
		if !u {
			return Errorf(EMALFORMED, op, "dep for record %q that no op touches", c.Deps[j].Record)
		}
	}
	return nil
}

// depIndex is the index of record's dep, or -1. It needs the deps sorted,
// which Check verifies before any caller relies on it.
func (c *Changeset) depIndex(record RecordID) int {
	lo, hi := 0, len(c.Deps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch d := c.Deps[m].Record; {
		case d == record:
			return m
		case d < record:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

func (o *Op) check() error {
	const op = "check op"
	if o.Kind != OpCreate && o.Kind != OpErase && o.Kind != OpRedacted && o.Kind != OpOmitted {
		if o.Field == "" || len(o.Field) > MaxFieldName || !validFieldName(o.Field) {
			return Errorf(EMALFORMED, op, "bad field name")
		}
	}
	if len(o.Refs) > MaxRefs || len(o.Spans) > MaxRefs {
		return Errorf(EMALFORMED, op, "too many references")
	}
	switch o.Kind {
	case OpCreate:
		if SchemaFor(o.Type) == nil && !validFieldName(o.Type) {
			return Errorf(EMALFORMED, op, "bad record type")
		}
	case OpSet:
		if len(o.Value) == 0 || len(o.Value) > MaxValueBytes || !validJSON(o.Value) {
			return Errorf(EMALFORMED, op, "value must be JSON of at most %d bytes", MaxValueBytes)
		}
	case OpAdd, OpRemove, OpIncrement:
		if o.Elem == "" || len(o.Elem) > MaxValueBytes || !utf8.ValidString(o.Elem) {
			return Errorf(EMALFORMED, op, "bad set element or key")
		}
	case OpInsertText:
		if !validUTF8Text(o.Text) || utf8.RuneCountInString(o.Text) > MaxTextRunes {
			return Errorf(EMALFORMED, op, "inserted text must be 1 to %d valid UTF-8 characters", MaxTextRunes)
		}
	case OpDeleteText:
		if len(o.Spans) == 0 {
			return Errorf(EMALFORMED, op, "a text delete needs spans")
		}
		for _, s := range o.Spans {
			if s.Len == 0 || s.Len > MaxTextRunes || s.ID.Seq == 0 || s.ID.Seq+s.Len < s.ID.Seq {
				return Errorf(EMALFORMED, op, "bad delete span")
			}
		}
	case OpRedacted:
		if o.Delta <= 0 || o.Delta > MaxTextRunes {
			return Errorf(EMALFORMED, op, "bad redacted width")
		}
	case OpErase:
		if len(o.Value) > 200 || !utf8.Valid(o.Value) {
			return Errorf(EMALFORMED, op, "erasure reason must be at most 200 bytes")
		}
	default:
		return Errorf(EMALFORMED, op, "unknown op kind %d", o.Kind)
	}
	return nil
}

// validJSON is json.Valid, answered without its scanner for the values
// saves send most: a string with nothing to unescape, true, false and null.
// Every set op is checked when decoded and again when applied.
// FuzzValidJSON holds it to json.Valid.
func validJSON(b []byte) bool {
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' {
		plain := true
		for _, c := range b[1 : n-1] {
			// json.Valid accepts any other byte in a string, UTF-8 or not.
			if c < 0x20 || c == '"' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return true
		}
	}
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	return json.Valid(b)
}
