package domain

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/joinedup/joinedup/syncengine"
)

// maxShown bounds each displayed value: a reviewer reads a diff, not a dump.
const maxShown = 2000

// DiffChangeset describes, per record, what cs would change: field: before
// -> after, and for text the inserted and deleted text. before holds the
// touched records as stored now (nil: new), after their states with cs
// applied (nil when cs cannot be applied yet: then only what cs writes is
// shown). visible says whether the reviewer may see a record's current
// values; for a record they may not, only what the pusher wrote is shown.
func DiffChangeset(cs *syncengine.Changeset, before map[syncengine.RecordID]*syncengine.Record, after []*syncengine.Record, visible func(syncengine.RecordID) bool) []RecordChange {
	afterByID := make(map[syncengine.RecordID]*syncengine.Record, len(after))
	for _, r := range after {
		afterByID[r.ID] = r
	}
	out := make([]RecordChange, 0, len(cs.Deps))
	for _, d := range cs.Deps {
		b, a := before[d.Record], afterByID[d.Record]
		rc := RecordChange{RecordID: string(d.Record), New: b == nil, Fields: []FieldChange{}}
		switch {
		case b != nil:
			rc.Type = b.Type
		case a != nil:
			rc.Type = a.Type
		}
		if rc.Type == "" {
			rc.Type = createdType(cs, d.Record)
		}
		for _, op := range cs.Ops {
			if op.Record == d.Record && op.Kind == syncengine.OpErase {
				rc.Erase = true
			}
		}
		switch {
		case !visible(d.Record) && b != nil:
			rc.Hidden = true
			rc.Fields = describeOps(cs, d.Record)
		case a == nil:
			rc.Fields = describeOps(cs, d.Record)
		default:
			rc.Fields = diffRecords(b, a)
		}
		out = append(out, rc)
	}
	return out
}

func createdType(cs *syncengine.Changeset, id syncengine.RecordID) string {
	for _, op := range cs.Ops {
		if op.Record == id && op.Kind == syncengine.OpCreate {
			return op.Type
		}
	}
	return ""
}

// diffRecords compares two states' visible values field by field.
func diffRecords(b, a *syncengine.Record) []FieldChange {
	bv := map[string]any{}
	if b != nil {
		bv = b.Values()
	}
	av := a.Values()
	// Shown only when set: "(deleted): -> true" on a delete, the reverse on a restore.
	if b != nil && b.Deleted() {
		bv["(deleted)"] = true
	}
	if a.Deleted() {
		av["(deleted)"] = true
	}
	names := map[string]bool{}
	for k := range av {
		names[k] = true
	}
	for k := range bv {
		names[k] = true
	}
	var out []FieldChange
	for _, name := range sortedKeys(names) {
		before, after := show(bv[name]), show(av[name])
		if before == after {
			continue
		}
		fc := FieldChange{Field: name, Before: clip(before), After: clip(after)}
		if _, isText := av[name].(string); isText && isTextField(a, name) {
			fc.Inserted, fc.Deleted = textDiff(before, after)
			fc.Inserted, fc.Deleted = clip(fc.Inserted), clip(fc.Deleted)
		}
		out = append(out, fc)
	}
	if out == nil {
		out = []FieldChange{}
	}
	return out
}

func isTextField(r *syncengine.Record, name string) bool {
	f := r.Fields[name]
	return f != nil && f.Kind == syncengine.KindText
}

// describeOps lists what cs writes to one record, from its ops alone.
func describeOps(cs *syncengine.Changeset, id syncengine.RecordID) []FieldChange {
	out := []FieldChange{}
	for _, op := range cs.Ops {
		if op.Record != id {
			continue
		}
		switch op.Kind {
		case syncengine.OpSet:
			out = append(out, FieldChange{Field: op.Field, After: clip(showJSON(op.Value))})
		case syncengine.OpAdd:
			out = append(out, FieldChange{Field: op.Field, After: "+ " + clip(op.Elem)})
		case syncengine.OpRemove:
			out = append(out, FieldChange{Field: op.Field, After: "- " + clip(op.Elem)})
		case syncengine.OpIncrement:
			out = append(out, FieldChange{Field: op.Field, After: fmt.Sprintf("%s %+d", clip(op.Elem), op.Delta)})
		case syncengine.OpInsertText:
			out = append(out, FieldChange{Field: op.Field, After: "(text inserted)", Inserted: clip(op.Text)})
		case syncengine.OpDeleteText:
			var n uint64
			for _, s := range op.Spans {
				n += s.Len
			}
			out = append(out, FieldChange{Field: op.Field, After: fmt.Sprintf("(%d characters deleted)", n)})
		case syncengine.OpErase:
			out = append(out, FieldChange{Field: "(record)", After: "erased: " + clip(string(op.Value))})
		}
	}
	return out
}

// show renders a visible value for a person to read.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return fmt.Sprint(v)
	case json.RawMessage:
		return showJSON(v)
	case []string:
		return strings.Join(v, ", ")
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func showJSON(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return "(not valid JSON)"
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// textDiff returns the text inserted and deleted between two versions: the
// middle left once the common prefix and suffix are removed.
func textDiff(before, after string) (inserted, deleted string) {
	b, a := []rune(before), []rune(after)
	p := 0
	for p < len(b) && p < len(a) && b[p] == a[p] {
		p++
	}
	s := 0
	for s < len(b)-p && s < len(a)-p && b[len(b)-1-s] == a[len(a)-1-s] {
		s++
	}
	return string(a[p : len(a)-s]), string(b[p : len(b)-s])
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxShown {
		return s
	}
	return string([]rune(s)[:maxShown]) + "…"
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
