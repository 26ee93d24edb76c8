package syncengine

// sizeRules are the validation rules that bound how much a field holds.
// Two saves, each within such a limit, can merge into a state beyond it.
var sizeRules = map[string]bool{"max": true, "lte": true}

// forgiveMergedLimits drops from errs the size limits that the record breaks
// only because this save is merged with saves its author had not seen: every
// edit in the merge was valid where it was made, and refusing the last one
// to arrive would lose it on every phone, with nothing anyone could release.
// The record is kept over its limit and flagged (OverLimits) for a
// supervisor. A save whose author had seen the whole record, or whose own
// growth of the field is beyond the limit by itself, is still refused.
func forgiveMergedLimits(cs *Changeset, before, after *Record, errs []FieldError) []FieldError {
	if len(errs) == 0 || before == nil || before.Type == "" {
		return errs
	}
	var seen VV
	found := false
	for _, d := range cs.Deps {
		if d.Record == after.ID {
			seen, found = d.VV, true
		}
	}
	if !found || seen.Covers(before.VV) {
		return errs
	}
	out := errs[:0:0]
	for _, e := range errs {
		if sizeRules[e.Rule] {
			limit, ok := fieldLimit(after.Type, e.Field)
			if ok && fieldGrowth(before, after, e.Field) <= limit {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// OverLimits reports the size limits a record's merged state exceeds (a
// flag for supervisors: the record was kept because every edit in it was
// accepted; a person should shorten it).
func OverLimits(r *Record) []FieldError {
	errs, err := Validate(r)
	if err != nil {
		return nil
	}
	var out []FieldError
	for _, e := range errs {
		if sizeRules[e.Rule] {
			out = append(out, e)
		}
	}
	return out
}

// fieldGrowth measures how much a save grew a field, as the validator's
// limits measure it: characters of a text, items of a set, and for a
// counter map (whose limit is per key) the largest increase of one key. It
// reads the two states' fields directly: a text is measured, not copied.
func fieldGrowth(before, after *Record, field string) int {
	const never = int(^uint(0) >> 1)
	fa, fb := after.Fields[field], before.Fields[field]
	if fa == nil {
		// Nothing there now: it did not grow.
		return 0
	}
	switch fa.Kind {
	case KindText:
		n := fa.Text.Len()
		if fb != nil && fb.Kind == KindText && fb.Text != nil {
			n -= fb.Text.Len()
		}
		return n
	case KindSet:
		n := len(fa.Set)
		if fb != nil && fb.Kind == KindSet {
			n -= len(fb.Set)
		}
		return n
	case KindCounter:
		var bc map[string]int64
		if fb != nil && fb.Kind == KindCounter {
			bc = fb.Counts
		}
		most := int64(0)
		for k, n := range fa.Counts {
			if d := n - bc[k]; d > most {
				most = d
			}
		}
		if most > int64(never) {
			return never
		}
		return int(most)
	}
	// A kind this does not know how to measure is never forgiven.
	return never
}

// fieldLimit reads a field's max= (or lte=) from its schema's validate tag.
func fieldLimit(typ, field string) (int, bool) { return fieldLimitOf(typ, field) }
