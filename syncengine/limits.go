package syncengine

import (
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

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
// limits measure it: characters of a string, items of a set, and for a
// counter map (whose limit is per key) the largest increase of one key.
func fieldGrowth(before, after *Record, field string) int {
	b, a := before.Values()[field], after.Values()[field]
	switch av := a.(type) {
	case string:
		bv, _ := b.(string)
		return utf8.RuneCountInString(av) - utf8.RuneCountInString(bv)
	case []any:
		bv, _ := b.([]any)
		return len(av) - len(bv)
	case []string:
		bv, _ := b.([]string)
		return len(av) - len(bv)
	case map[string]int64:
		bv, _ := b.(map[string]int64)
		most := int64(0)
		for k, n := range av {
			if d := n - bv[k]; d > most {
				most = d
			}
		}
		if most > int64(^uint(0)>>1) {
			return int(^uint(0) >> 1)
		}
		return int(most)
	}
	// A kind this does not know how to measure is never forgiven.
	return int(^uint(0) >> 1)
}

// fieldLimit reads a field's max= (or lte=) from its schema's validate tag.
func fieldLimit(typ, field string) (int, bool) {
	s := SchemaFor(typ)
	if s == nil {
		return 0, false
	}
	t := s.goType
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("json"), ",")[0] != field {
			continue
		}
		for _, rule := range strings.Split(f.Tag.Get("validate"), ",") {
			name, param, ok := strings.Cut(rule, "=")
			if ok && sizeRules[name] {
				n, err := strconv.Atoi(param)
				return n, err == nil
			}
		}
	}
	return 0, false
}
