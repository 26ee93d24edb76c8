package syncengine

import (
	"encoding/json"
	"sort"
	"time"
)

// View is a record as people see it: visible values, which fields are in
// conflict with every competing value and who wrote it, and for narrative
// text which worker wrote which part. It is what crosses into the portal and
// the phone UI as JSON.
type View struct {
	ID        RecordID                   `json:"id"`
	Type      string                     `json:"type"`
	Deleted   bool                       `json:"deleted,omitempty"`
	Erased    *ErasureView               `json:"erased,omitempty"`
	Created   time.Time                  `json:"created"`
	Updated   time.Time                  `json:"updated"`
	Values    map[string]json.RawMessage `json:"values"`
	Conflicts []ConflictView             `json:"conflicts,omitempty"`
	Authors   map[string][]AuthorRun     `json:"authors,omitempty"` // text field -> runs
}

type ErasureView struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

type ConflictView struct {
	Field  string         `json:"field"`
	Values []ValueVersion `json:"values"` // the shown winner first
}

type ValueVersion struct {
	ID     string          `json:"id"`
	Value  json.RawMessage `json:"value"`
	Author string          `json:"author"`
	At     time.Time       `json:"at"`
}

// AuthorRun is a stretch of visible text and the person who typed it.
type AuthorRun struct {
	Author string `json:"author"`
	Text   string `json:"text"`
}

// View renders the record. When fields is non-nil only those fields are
// included: a co-located service sees only what its data-sharing agreement allows.
func (r *Record) View(fields []string) View {
	v := View{ID: r.ID, Type: r.Type, Deleted: r.Deleted(), Created: tsTime(r.Created), Updated: tsTime(r.Updated), Values: map[string]json.RawMessage{}}
	if r.Erased != nil {
		v.Erased = &ErasureView{By: r.Erased.By, At: tsTime(r.Erased.At), Reason: r.Erased.Reason}
		return v
	}
	allowed := func(f string) bool { return fields == nil || contains(fields, f) }
	for name, val := range r.Values() {
		if !allowed(name) {
			continue
		}
		if raw, ok := val.(json.RawMessage); ok {
			v.Values[name] = raw
			continue
		}
		b, _ := json.Marshal(val)
		v.Values[name] = b
	}
	for _, c := range r.Conflicts() {
		if c.Field == DeletedField || !allowed(c.Field) {
			continue
		}
		cv := ConflictView{Field: c.Field}
		for _, x := range c.Values {
			cv.Values = append(cv.Values, ValueVersion{ID: x.ID.String(), Value: x.Value, Author: x.Author, At: tsTime(x.Time)})
		}
		v.Conflicts = append(v.Conflicts, cv)
	}
	for name, f := range r.Fields {
		if f.Kind != KindText || !allowed(name) || f.Text.Len() == 0 {
			continue
		}
		if v.Authors == nil {
			v.Authors = map[string][]AuthorRun{}
		}
		var runs []AuthorRun
		for _, run := range f.Text.Runs() {
			a := r.Authors[ReplicaID(run.Replica)]
			if n := len(runs); n > 0 && runs[n-1].Author == a {
				runs[n-1].Text += run.Text
				continue
			}
			runs = append(runs, AuthorRun{Author: a, Text: run.Text})
		}
		v.Authors[name] = runs
	}
	sort.Slice(v.Conflicts, func(i, j int) bool { return v.Conflicts[i].Field < v.Conflicts[j].Field })
	return v
}

func tsTime(t Timestamp) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return t.Time()
}

// Project returns a copy of the record holding only the given fields (and the
// tombstone): what a co-located service may receive under its agreement. It
// keeps the version vector, so the service's own writes (accept, decline)
// carry a correct causal context.
func (r *Record) Project(fields []string) *Record {
	c := r.Clone()
	for name := range c.Fields {
		if name != DeletedField && !contains(fields, name) {
			delete(c.Fields, name)
		}
	}
	return c
}
