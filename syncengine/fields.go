package syncengine

import (
	"encoding/json"
	"time"
)

// Field readers over a record's visible state, for the server's pages and
// rules: each returns the zero value for a field that is absent, of another
// kind, or holds a value of another type, never an error (what a phone wrote
// is shown as well as it can be, and a rule reading it decides as if unset).

// winner is a register's displayed value.
func (r *Record) winner(field string) (RegValue, bool) {
	f := r.Fields[field]
	if f == nil || f.Kind != KindRegister || len(f.Values) == 0 {
		return RegValue{}, false
	}
	return f.Values[0], true
}

// Bool is a register's winning value as a boolean (false unless it is true).
func (r *Record) Bool(field string) bool {
	v, ok := r.winner(field)
	var b bool
	return ok && json.Unmarshal(v.Value, &b) == nil && b
}

// Time is a register's winning value decoded as an RFC 3339 time.
func (r *Record) Time(field string) time.Time {
	v, ok := r.winner(field)
	var t time.Time
	if !ok || json.Unmarshal(v.Value, &t) != nil {
		return time.Time{}
	}
	return t
}

// Author is who wrote a register's winning value.
func (r *Record) Author(field string) string {
	v, _ := r.winner(field)
	return v.Author
}

// WrittenAt is when a register got its winning value (its op's clock time).
func (r *Record) WrittenAt(field string) time.Time {
	v, ok := r.winner(field)
	if !ok {
		return time.Time{}
	}
	return v.Time.Time()
}

// Set is a set field's members, sorted.
func (r *Record) Set(field string) []string {
	f := r.Fields[field]
	if f == nil || f.Kind != KindSet {
		return nil
	}
	return f.Elements()
}

// Counts is a counter field's totals by key, a copy.
func (r *Record) Counts(field string) map[string]int64 {
	f := r.Fields[field]
	if f == nil || f.Kind != KindCounter {
		return nil
	}
	out := make(map[string]int64, len(f.Counts))
	for k, v := range f.Counts {
		out[k] = v
	}
	return out
}
