package syncengine

import (
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Txn builds one changeset from local edits. Each method applies its op to
// a working copy at once, so later edits in the same save see earlier ones
// (a text position after an insert, a value after a set).
type Txn struct {
	r      *Replica
	cs     *Changeset
	recs   map[RecordID]*Record // working copies
	before map[RecordID]*Record // states when first touched (nil: did not exist)
	next   uint64
	// spoilt: an op failed part-way on a working copy (and was not kept), so
	// the copies may not be what the kept ops make: finish applies afresh.
	spoilt bool
}

// Author is the person saving.
func (tx *Txn) Author() string { return tx.cs.Author }

// Record returns the record as this save sees it (nil if unknown).
func (tx *Txn) Record(id RecordID) (*Record, error) {
	if r, ok := tx.recs[id]; ok {
		return r, nil
	}
	return tx.r.store.Record(id)
}

// touch returns the working copy of a record, loading it on first use.
func (tx *Txn) touch(id RecordID, mustExist bool) (*Record, error) {
	if r, ok := tx.recs[id]; ok {
		return r, nil
	}
	r, err := tx.r.store.Record(id)
	if err != nil {
		return nil, fmt.Errorf("load record %s: %w", id, err)
	}
	if r == nil && mustExist {
		return nil, Errorf(ENOTFOUND, "edit", "record %s not found", id)
	}
	if r != nil && r.Erased != nil {
		return nil, Errorf(EERASED, "edit", "record %s was erased", id)
	}
	tx.before[id] = r
	if r == nil {
		r = newRecord(id)
	} else {
		r = r.cow()
	}
	tx.recs[id] = r
	return r, nil
}

func (tx *Txn) add(r *Record, op Op) error {
	id := ID{tx.r.id, tx.next}
	if err := r.applyOp(&op, id, tx.cs.Time, tx.cs.Author); err != nil {
		tx.spoilt = true
		return err
	}
	tx.cs.Ops = append(tx.cs.Ops, op)
	tx.next += op.width()
	return nil
}

// Create starts a record of a known type with a fresh random id.
func (tx *Txn) Create(typ string) (RecordID, error) {
	id, err := NewRecordID(tx.r.rand)
	if err != nil {
		return "", err
	}
	return id, tx.CreateWithID(id, typ)
}

// CreateWithID starts a record with a chosen id (fixtures, imports).
func (tx *Txn) CreateWithID(id RecordID, typ string) error {
	if !ValidRecordID(string(id)) {
		return Errorf(EINVALID, "create", "bad record id")
	}
	if SchemaFor(typ) == nil {
		return Errorf(EINVALID, "create", "unknown record type %q", typ)
	}
	r, err := tx.touch(id, false)
	if err != nil {
		return err
	}
	if r.Type != "" {
		return Errorf(ECONFLICT, "create", "record %s already exists", id)
	}
	return tx.add(r, Op{Kind: OpCreate, Record: id, Type: typ})
}

// Set writes a register, superseding every value this replica has seen.
// value is marshalled to JSON.
func (tx *Txn) Set(id RecordID, field string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return Errorf(EINVALID, "set", "value for %s is not JSON-encodable", field)
	}
	return tx.SetJSON(id, field, b)
}

// SetJSON writes a register with a raw JSON value.
func (tx *Txn) SetJSON(id RecordID, field string, value json.RawMessage) error {
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	var refs []ID
	if f := r.Fields[field]; f != nil {
		refs = f.ValueIDs()
	}
	return tx.add(r, Op{Kind: OpSet, Record: id, Field: field, Value: append(json.RawMessage(nil), value...), Refs: refs})
}

// Add puts an element in a set.
func (tx *Txn) Add(id RecordID, field, elem string) error {
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	return tx.add(r, Op{Kind: OpAdd, Record: id, Field: field, Elem: elem})
}

// Remove takes an element out of a set: the adds this replica has seen are
// removed, a concurrent add elsewhere wins.
func (tx *Txn) Remove(id RecordID, field, elem string) error {
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	f := r.Fields[field]
	if f == nil || f.Kind != KindSet || len(f.Set[elem]) == 0 {
		return nil // nothing seen, nothing to remove
	}
	return tx.add(r, Op{Kind: OpRemove, Record: id, Field: field, Elem: elem, Refs: append([]ID(nil), f.Set[elem]...)})
}

// Increment adds delta (which may be negative) to a counter key.
func (tx *Txn) Increment(id RecordID, field, key string, delta int64) error {
	if delta == 0 {
		return nil
	}
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	return tx.add(r, Op{Kind: OpIncrement, Record: id, Field: field, Elem: key, Delta: delta})
}

// InsertText inserts s at rune position pos of a text field, as a text box reports it.
func (tx *Txn) InsertText(id RecordID, field string, pos int, s string) error {
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "insert text", "text is not valid UTF-8")
	}
	f, err := tx.textField(id, field)
	if err != nil {
		return err
	}
	ins, err := f.Text.LocalInsert(ID{tx.r.id, tx.next}.text(), pos, s)
	if err != nil {
		return Errorf(EINVALID, "insert text", "position %d is outside the text (length %d)", pos, f.Text.Len())
	}
	op := Op{Kind: OpInsertText, Record: id, Field: field, Left: fromText(ins.OriginLeft), Right: fromText(ins.OriginRight), Text: s}
	tx.cs.Ops = append(tx.cs.Ops, op)
	tx.next += op.width()
	return nil
}

// DeleteText deletes n runes at position pos of a text field.
func (tx *Txn) DeleteText(id RecordID, field string, pos, n int) error {
	if n == 0 {
		return nil
	}
	f, err := tx.textField(id, field)
	if err != nil {
		return err
	}
	del, err := f.Text.LocalDelete(pos, n)
	if err != nil {
		return Errorf(EINVALID, "delete text", "range %d+%d is outside the text (length %d)", pos, n, f.Text.Len())
	}
	op := Op{Kind: OpDeleteText, Record: id, Field: field}
	for _, s := range del.Spans {
		op.Spans = append(op.Spans, Span{ID: fromText(s.ID), Len: s.Len})
	}
	tx.cs.Ops = append(tx.cs.Ops, op)
	tx.next++
	return nil
}

// textField returns the working copy of a text field of an existing record.
func (tx *Txn) textField(id RecordID, field string) (*Field, error) {
	r, err := tx.touch(id, true)
	if err != nil {
		return nil, err
	}
	return r.field(field, KindText)
}

// ReplaceText makes a text field equal s with the smallest edit (common
// prefix and suffix kept), for callers that only know the whole new text.
func (tx *Txn) ReplaceText(id RecordID, field, s string) error {
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	old := []rune(r.String(field))
	nu := []rune(s)
	p := 0
	for p < len(old) && p < len(nu) && old[p] == nu[p] {
		p++
	}
	q := 0
	for q < len(old)-p && q < len(nu)-p && old[len(old)-1-q] == nu[len(nu)-1-q] {
		q++
	}
	if err := tx.DeleteText(id, field, p, len(old)-p-q); err != nil {
		return err
	}
	return tx.InsertText(id, field, p, string(nu[p:len(nu)-q]))
}

// Delete tombstones a record; Undelete (a supervisor's undo) restores it.
func (tx *Txn) Delete(id RecordID) error   { return tx.Set(id, DeletedField, true) }
func (tx *Txn) Undelete(id RecordID) error { return tx.Set(id, DeletedField, false) }

// Erase purges a record's content for good (a lawful erasure request),
// keeping only who erased it, when and the reason given.
func (tx *Txn) Erase(id RecordID, reason string) error {
	r, err := tx.touch(id, true)
	if err != nil {
		return err
	}
	return tx.add(r, Op{Kind: OpErase, Record: id, Value: json.RawMessage(reason)})
}

// finish closes the changeset: deps from the states first touched, then the
// new states through Apply itself (so the author's replica holds exactly what
// every other replica will compute: the same version vector, time and
// attribution; the working copies already hold the ops, applied in order by
// the same applyOp, so Apply takes them instead of copying and applying
// again), then the domain rules.
func (tx *Txn) finish() (*Changeset, []*Record, error) {
	if len(tx.cs.Ops) == 0 {
		return nil, nil, Errorf(EINVALID, "save", "nothing to save")
	}
	for id, b := range tx.before {
		d := Dep{Record: id}
		if b != nil {
			d.VV = b.VV.Clone()
		}
		tx.cs.Deps = append(tx.cs.Deps, d)
	}
	sort.Slice(tx.cs.Deps, func(i, j int) bool { return tx.cs.Deps[i].Record < tx.cs.Deps[j].Record })
	worked := tx.recs
	for _, r := range tx.recs {
		// Text ops are applied to the working copy by the text CRDT itself,
		// even after an erase in the same save; Apply drops them there.
		if r.Erased != nil {
			tx.spoilt = true
		}
	}
	if tx.spoilt {
		worked = nil
	}
	res, err := apply(tx.cs, func(id RecordID) (*Record, error) { return tx.before[id], nil }, worked, false)
	if err != nil {
		return nil, nil, err
	}
	if res.Status != Applied {
		return nil, nil, fmt.Errorf("local changeset did not apply: %s", res.Status)
	}
	if err := CheckChangeset(tx.cs, tx.before, res.Records); err != nil {
		return nil, nil, err
	}
	return tx.cs, res.Records, nil
}
