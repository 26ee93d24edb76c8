package syncengine

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/joinedup/joinedup/syncengine/text"
)

// Record is the merged state of one record. Two replicas that applied the same
// changesets, in any order, hold records that encode to identical bytes.
type Record struct {
	ID      RecordID
	Type    string
	VV      VV                   // per-record version vector: what has been applied to it
	Created Timestamp            // HLC of the create op (0 if not seen: erased before creation arrived)
	Updated Timestamp            // highest HLC applied
	Fields  map[string]*Field    // absent fields have never been written
	Authors map[ReplicaID]string // who wrote through each replica, for attribution
	Erased  *Erasure
}

// Erasure is all that is left of an erased record.
type Erasure struct {
	ID     ID // the erase op, lowest wins when two race
	By     string
	At     Timestamp
	Reason string
}

// Field is one field's CRDT state; exactly one of the kind-specific parts is used.
type Field struct {
	Kind   FieldKind
	Values []RegValue       // register: concurrent values, winner first
	Set    map[string][]ID  // set: element -> live add tags (sorted)
	Counts map[string]int64 // counter: key -> sum of deltas
	Text   *text.Doc        // text
	// owner is the record that may change this field in place; a field
	// reached from any other record (a working copy made by cow) is copied
	// before it changes.
	owner *Record
}

// RegValue is one value of a multi-value register.
type RegValue struct {
	ID     ID
	Time   Timestamp
	Author string
	Value  json.RawMessage
}

func newRecord(id RecordID) *Record {
	return &Record{ID: id, Fields: map[string]*Field{}, Authors: map[ReplicaID]string{}}
}

// Clone returns a deep copy, so a changeset can be applied all-or-nothing.
func (r *Record) Clone() *Record {
	c := r.cow()
	for k, f := range c.Fields {
		nf := f.clone()
		nf.owner = c
		c.Fields[k] = nf
	}
	return c
}

// cow returns a working copy of r that shares r's fields, copying one (and
// of a text only the chunks an edit changes) when an op first changes it:
// a save costs what it changes, not what the record holds. r must not
// change afterwards; it stays what it was if the save fails.
func (r *Record) cow() *Record {
	c := r.cowSharingAuthors()
	c.Authors = cloneMap(r.Authors)
	return c
}

// cloneMap is maps.Clone, but never nil: a working copy's maps are written.
func cloneMap[M ~map[K]V, K comparable, V any](m M) M {
	if m == nil {
		return M{}
	}
	return maps.Clone(m)
}

// cowSharingAuthors is cow leaving the copy's Authors the map r holds: apply
// changes a record's authors only when a replica first writes to it, and
// copies the map then (see apply), instead of on every save.
func (r *Record) cowSharingAuthors() *Record {
	c := *r
	c.VV = r.VV.Clone()
	c.Fields = cloneMap(r.Fields)
	if r.Erased != nil {
		e := *r.Erased
		c.Erased = &e
	}
	return &c
}

// freeze gives up r's ownership of its fields: from now on r, like every
// working copy sharing them, copies a field before changing it.
func (r *Record) freeze() {
	for _, f := range r.Fields {
		if f.owner == r {
			f.owner = nil
		}
	}
}

// mutable returns field name ready to change in place (nil if absent).
func (r *Record) mutable(name string) *Field {
	f := r.Fields[name]
	if f == nil || f.owner == r {
		return f
	}
	c := f.copyWith(true)
	c.owner = r
	r.Fields[name] = c
	return c
}

func (f *Field) clone() *Field {
	return f.copyWith(false)
}

// copyWith copies f: deeply, or (fork) sharing what later changes copy
// anyway: a text's chunks (text.Doc.Fork) and set tag slices (capped, so an
// append copies; removals build a new slice).
func (f *Field) copyWith(fork bool) *Field {
	c := newField(f.Kind)
	if f.Values != nil {
		c.Values = append(c.Values, f.Values...)
	}
	if f.Set != nil {
		c.Set = make(map[string][]ID, len(f.Set))
		for k, v := range f.Set {
			if fork {
				c.Set[k] = v[:len(v):len(v)]
			} else {
				c.Set[k] = append([]ID(nil), v...)
			}
		}
	}
	if f.Counts != nil {
		c.Counts = make(map[string]int64, len(f.Counts))
		for k, v := range f.Counts {
			c.Counts[k] = v
		}
	}
	switch {
	case f.Text == nil:
	case fork:
		c.Text = f.Text.Fork()
	default:
		c.Text = f.Text.Clone()
	}
	return c
}

// registerField is a register with room for the one value almost every
// register holds, allocated together: a save's register write cost two
// allocations (the field, then its value) where it now costs one.
type registerField struct {
	f     Field
	value [1]RegValue
}

// newField returns an empty field of kind k; a register's Values is empty
// (not nil) with room for one value.
func newField(k FieldKind) *Field {
	if k != KindRegister {
		return &Field{Kind: k}
	}
	rf := &registerField{f: Field{Kind: k}}
	rf.f.Values = rf.value[:0]
	return &rf.f
}

// Deleted reports whether the record is tombstoned (its _deleted winner is true).
func (r *Record) Deleted() bool {
	f := r.Fields[DeletedField]
	return f != nil && len(f.Values) > 0 && bytes.Equal(f.Values[0].Value, []byte("true"))
}

// kindOf returns the schema's kind for a field, or 0 for a field the schema
// does not know (written by a newer client: kept whatever its kind).
func (r *Record) kindOf(field string) FieldKind {
	if s := SchemaFor(r.Type); s != nil {
		return s.Fields[field]
	}
	return 0
}

// field returns the field, creating it with kind k. A field whose stored kind
// differs from k is a malformed op.
func (r *Record) field(name string, k FieldKind) (*Field, error) {
	if want := r.kindOf(name); want != 0 && want != k {
		return nil, Errorf(EMALFORMED, "apply", "field %q is a %s, not a %s", name, want, k)
	}
	f := r.Fields[name]
	if f == nil {
		f = newField(k)
		f.owner = r
		switch k {
		case KindSet:
			f.Set = map[string][]ID{}
		case KindCounter:
			f.Counts = map[string]int64{}
		case KindText:
			f.Text = text.New()
		}
		r.Fields[name] = f
	} else if f.Kind != k {
		return nil, Errorf(EMALFORMED, "apply", "field %q is a %s, not a %s", name, f.Kind, k)
	} else {
		f = r.mutable(name)
	}
	return f, nil
}

// applyOp applies one op with id to the record. Ops on an erased record are
// dropped: its content is gone and must not come back.
func (r *Record) applyOp(op *Op, id ID, t Timestamp, author string) error {
	if r.Erased != nil && op.Kind != OpErase {
		return nil
	}
	switch op.Kind {
	case OpRedacted:
		// Content removed from history by an erasure this replica has not
		// applied yet. The erasure is certain to follow, so the record is
		// purged now (provisionally: the erase op fills in who and when), and
		// later ops that built on the removed content are dropped with it.
		r.Erased = &Erasure{}
		r.purge()
		return nil
	case OpCreate:
		return r.applyCreate(op, t)
	case OpSet:
		return r.applySet(op, id, t, author)
	case OpAdd:
		return r.applyAdd(op, id)
	case OpRemove:
		return r.applyRemove(op)
	case OpIncrement:
		return r.applyIncrement(op)
	case OpInsertText:
		return r.applyInsertText(op, id)
	case OpDeleteText:
		return r.applyDeleteText(op)
	case OpErase:
		e := &Erasure{ID: id, By: author, At: t, Reason: string(op.Value)}
		if r.Erased == nil || r.Erased.ID.IsZero() || id.Compare(r.Erased.ID) < 0 {
			r.Erased = e
		}
		r.purge()
		return nil
	}
	return Errorf(EMALFORMED, "apply", "unknown op kind %d", op.Kind)
}

// purge removes everything of an erased record: content, attribution,
// conflict history.
func (r *Record) purge() {
	r.Fields = map[string]*Field{}
	r.Authors = map[ReplicaID]string{}
}

func (r *Record) applyCreate(op *Op, t Timestamp) error {
	if r.Type != "" && r.Type != op.Type {
		return Errorf(EMALFORMED, "apply", "record %s is a %s, not a %s", r.ID, r.Type, op.Type)
	}
	r.Type = op.Type
	r.Created = t
	// Fields written before the type was known must fit the schema.
	for name, f := range r.Fields {
		if k := r.kindOf(name); k != 0 && k != f.Kind {
			return Errorf(EMALFORMED, "apply", "field %q is a %s, not a %s", name, k, f.Kind)
		}
	}
	return nil
}

// applySet writes a register: it drops the values the writer had seen and
// keeps every concurrent one.
func (r *Record) applySet(op *Op, id ID, t Timestamp, author string) error {
	f, err := r.field(op.Field, KindRegister)
	if err != nil {
		return err
	}
	kept := f.Values[:0]
	for _, v := range f.Values {
		if !containsID(op.Refs, v.ID) {
			kept = append(kept, v)
		}
	}
	f.Values = append(kept, RegValue{ID: id, Time: t, Author: author, Value: op.Value})
	sortRegValues(f.Values)
	return nil
}

// applyAdd adds an element to a set under a new tag (observed-remove set).
func (r *Record) applyAdd(op *Op, id ID) error {
	f, err := r.field(op.Field, KindSet)
	if err != nil {
		return err
	}
	tags := append(f.Set[op.Elem], id)
	sortIDs(tags)
	f.Set[op.Elem] = tags
	return nil
}

// applyRemove removes the tags of an element the remover had seen; a
// concurrent add's tag survives, so the element stays.
func (r *Record) applyRemove(op *Op) error {
	f, err := r.field(op.Field, KindSet)
	if err != nil {
		return err
	}
	// A new slice: the old one may be shared with the state this working
	// copy was made from.
	var kept []ID
	for _, tag := range f.Set[op.Elem] {
		if !containsID(op.Refs, tag) {
			kept = append(kept, tag)
		}
	}
	if len(kept) == 0 {
		delete(f.Set, op.Elem)
	} else {
		f.Set[op.Elem] = kept
	}
	return nil
}

func (r *Record) applyIncrement(op *Op) error {
	f, err := r.field(op.Field, KindCounter)
	if err != nil {
		return err
	}
	f.Counts[op.Elem] += op.Delta
	if f.Counts[op.Elem] == 0 {
		delete(f.Counts, op.Elem)
	}
	return nil
}

func (r *Record) applyInsertText(op *Op, id ID) error {
	f, err := r.field(op.Field, KindText)
	if err != nil {
		return err
	}
	ins := text.Insert{ID: id.text(), OriginLeft: op.Left.text(), OriginRight: op.Right.text(), Text: op.Text}
	if err := f.Text.ApplyInsert(ins); err != nil {
		return &Error{Code: EMISSINGDEP, Op: "apply", Message: "text insert refers to text this replica has not seen", Err: err}
	}
	return nil
}

func (r *Record) applyDeleteText(op *Op) error {
	f, err := r.field(op.Field, KindText)
	if err != nil {
		return err
	}
	del := text.Delete{Spans: make([]text.Span, len(op.Spans))}
	for i, s := range op.Spans {
		del.Spans[i] = text.Span{ID: s.ID.text(), Len: s.Len}
	}
	if err := f.Text.ApplyDelete(del); err != nil {
		return &Error{Code: EMISSINGDEP, Op: "apply", Message: "text delete refers to text this replica has not seen", Err: err}
	}
	return nil
}

// sortRegValues puts the displayed winner first: latest HLC, then highest id.
// Which values survive never depends on this order, only which one is shown.
// regValuesSorted reports whether vs is in sortRegValues' order already.
func regValuesSorted(vs []RegValue) bool {
	for i := 1; i < len(vs); i++ {
		a, b := vs[i-1], vs[i]
		if a.Time < b.Time || a.Time == b.Time && a.ID.Compare(b.ID) < 0 {
			return false
		}
	}
	return true
}

func sortRegValues(vs []RegValue) {
	// sort.Slice allocates even for the one value most registers hold.
	if regValuesSorted(vs) {
		return
	}
	slices.SortFunc(vs, func(a, b RegValue) int {
		if a.Time != b.Time {
			return cmp.Compare(b.Time, a.Time)
		}
		return b.ID.Compare(a.ID)
	})
}

// ValueIDs returns the ids of a register's current values (what a new write supersedes).
func (f *Field) ValueIDs() []ID {
	ids := make([]ID, len(f.Values))
	for i, v := range f.Values {
		ids[i] = v.ID
	}
	return ids
}

// Values returns the record's visible values, one per field, as plain JSON-able
// Go values: register winner (decoded JSON), sorted set elements, counter map, text.
func (r *Record) Values() map[string]any {
	out := make(map[string]any, len(r.Fields))
	for name, f := range r.Fields {
		if name == DeletedField {
			continue
		}
		switch f.Kind {
		case KindRegister:
			if len(f.Values) > 0 {
				out[name] = f.Values[0].Value
			}
		case KindSet:
			out[name] = f.Elements()
		case KindCounter:
			m := make(map[string]int64, len(f.Counts))
			for k, v := range f.Counts {
				m[k] = v
			}
			out[name] = m
		case KindText:
			out[name] = f.Text.String()
		}
	}
	return out
}

// Elements returns a set's members, sorted.
func (f *Field) Elements() []string {
	out := make([]string, 0, len(f.Set))
	for e := range f.Set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// String returns a register winner decoded as a string ("" if absent or not a string),
// a text field's content, or "".
func (r *Record) String(field string) string {
	f := r.Fields[field]
	if f == nil {
		return ""
	}
	switch f.Kind {
	case KindText:
		return f.Text.String()
	case KindRegister:
		if len(f.Values) > 0 {
			s, _ := StringValue(f.Values[0].Value)
			return s
		}
	}
	return ""
}

// Conflict is a register whose concurrent values have not been reconciled.
type Conflict struct {
	Field  string     `json:"field"`
	Values []RegValue `json:"values"` // winner first
}

// ConflictCount is len(r.Conflicts()) without building the list: sync
// compares it before and after every change it stores.
func (r *Record) ConflictCount() int {
	n := 0
	for _, f := range r.Fields {
		if f.Kind == KindRegister && len(f.Values) > 1 {
			n++
		}
	}
	return n
}

// Conflicts lists the fields in conflict, sorted by field name.
func (r *Record) Conflicts() []Conflict {
	var out []Conflict
	for name, f := range r.Fields {
		if f.Kind == KindRegister && len(f.Values) > 1 {
			out = append(out, Conflict{Field: name, Values: append([]RegValue(nil), f.Values...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func validUTF8Text(s string) bool { return s != "" && utf8.ValidString(s) }

// CompactText drops from the record's text fields the deleted characters no
// future edit can name (text.Doc.Compact), when stable (what every replica
// has acknowledged) covers everything the record holds; it returns how many
// it dropped. The caller must also know that no edit made before its
// replica held this state is still on its way (replicas push their own
// saves before they acknowledge). The visible text, and how later edits
// merge, do not change; the record's encoding does, so replicas that
// compacted at different times hold different bytes for the same text.
func (r *Record) CompactText(stable VV) int {
	if r.Erased != nil || !stable.Covers(r.VV) {
		return 0
	}
	n := 0
	for name, f := range r.Fields {
		if f.Kind == KindText && f.Text != nil {
			n += r.mutable(name).Text.Compact()
		}
	}
	return n
}

// textLen is a text field's length in runes (0 for an absent field).
func (f *Field) textLen() int {
	if f == nil || f.Text == nil {
		return 0
	}
	return f.Text.Len()
}
