package syncengine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// CheckChangeset enforces the domain rules a save must keep, given the
// touched records before and after it. Local edits and the server's push
// handler both run it; merging (Apply) never does, because a rule that
// depended on arrival order would break convergence. The rules:
//   - a save may not introduce a validation error (lengths, enums,
//     required-on-submit) that the record did not already have, except a
//     size limit broken only by merging it with saves its author had not
//     seen (see forgiveMergedLimits);
//   - a referral's status only moves along StatusTransitions from the values
//     its author saw;
//   - a record under a safeguarding hold cannot be erased.
func CheckChangeset(cs *Changeset, before map[RecordID]*Record, after []*Record) error {
	const op = "check changeset"
	for _, r := range after {
		if r.Erased != nil {
			continue
		}
		if r.Type == "" {
			return Errorf(EINVALID, op, "record %s does not exist here: create it first", r.ID)
		}
		newErrs, err := newValidationErrors(cs, before[r.ID], r)
		if err != nil {
			return err
		}
		newErrs = forgiveMergedLimits(cs, before[r.ID], r, newErrs)
		if len(newErrs) > 0 {
			return &Error{Code: EINVALID, Op: op, Message: fmt.Sprintf("record %s: %s", r.ID, describe(newErrs)), Err: &ValidationError{Record: r.ID, Fields: newErrs}}
		}
	}
	if err := checkLifecycle(cs, before); err != nil {
		return err
	}
	for _, o := range cs.Ops {
		if o.Kind != OpErase {
			continue
		}
		if b := before[o.Record]; b != nil && b.Erased == nil && bytes.Equal(regWinner(b, "safeguarding_hold"), []byte("true")) {
			return Errorf(EINVALID, op, "record %s is under a safeguarding hold and cannot be erased", o.Record)
		}
	}
	return nil
}

// ValidationError carries the broken rules, for machine-readable details.
type ValidationError struct {
	Record RecordID
	Fields []FieldError
}

func (e *ValidationError) Error() string { return describe(e.Fields) }

func describe(fs []FieldError) string {
	var b bytes.Buffer
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s fails %s", f.Field, f.Rule)
	}
	return b.String()
}

// newValidationErrors returns the rules after breaks that before did not,
// checking only the fields cs writes and those whose rules read them: a
// field the save did not touch, nor any field it depends on, breaks
// exactly what it broke before.
func newValidationErrors(cs *Changeset, before, after *Record) ([]FieldError, error) {
	names := touchedFields(cs, after.ID, after.Type)
	if before == nil || before.Type == "" {
		names = nil
	}
	got := validateFields(after, names)
	if len(got) == 0 {
		return nil, nil
	}
	var had []FieldError
	if before != nil && before.Type != "" {
		had = validateFields(before, names)
	}
	var out []FieldError
	for _, e := range got {
		if !containsFieldError(had, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func containsFieldError(list []FieldError, e FieldError) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

func regWinner(r *Record, field string) json.RawMessage {
	if f := r.Fields[field]; f != nil && f.Kind == KindRegister && len(f.Values) > 0 {
		return f.Values[0].Value
	}
	return nil
}

// checkLifecycle walks the changeset's status writes in order. A write
// moves from every status value the record holds at that point, whatever
// the write says it supersedes: a write whose references match nothing (or
// name nothing) is concurrent with the values it keeps, and would become a
// conflict with them, so it must be a valid move from each of them. Refs
// only decide which values remain afterwards.
func checkLifecycle(cs *Changeset, before map[RecordID]*Record) error {
	const op = "check lifecycle"
	type val struct {
		id     ID
		status string
	}
	current := map[RecordID][]val{}
	typeOf := map[RecordID]string{}
	for id, r := range before {
		if r == nil || r.Type == "" {
			continue
		}
		typeOf[id] = r.Type
		if f := r.Fields["status"]; f != nil {
			for _, v := range f.Values {
				var s string
				_ = json.Unmarshal(v.Value, &s)
				current[id] = append(current[id], val{v.ID, s})
			}
		}
	}
	for _, o := range cs.Ops {
		if o.Kind == OpCreate && typeOf[o.Record] == "" {
			typeOf[o.Record] = o.Type
		}
	}
	ids := cs.OpIDs()
	for i, o := range cs.Ops {
		if o.Kind != OpSet || o.Field != "status" || typeOf[o.Record] != TypeReferral {
			continue
		}
		var to string
		if json.Unmarshal(o.Value, &to) != nil {
			return Errorf(EINVALID, op, "referral status must be a string")
		}
		if _, ok := StatusTransitions[to]; !ok {
			return Errorf(EINVALID, op, "unknown referral status %q", to)
		}
		vals := current[o.Record]
		if len(vals) == 0 && to != "draft" && to != "submitted" {
			return Errorf(EINVALID, op, "a new referral starts as draft or submitted, not %s", to)
		}
		kept := vals[:0:0]
		for _, v := range vals {
			if v.status != to && !contains(StatusTransitions[v.status], to) {
				return Errorf(EINVALID, op, "a referral cannot move from %s to %s", v.status, to)
			}
			if !containsID(o.Refs, v.id) {
				kept = append(kept, v)
			}
		}
		current[o.Record] = append(kept, val{ids[i], to})
	}
	return nil
}
