package syncengine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/joinedup/joinedup/syncengine/text"
)

// drawValue draws a JSON value for a register field, mostly of the field's
// own type (valid or breaking a rule), sometimes null.
func drawRegister(t *rapid.T, name string, kind valueKind) string {
	switch kind {
	case vBool:
		return rapid.SampledFrom([]string{"true", "false", "null"}).Draw(t, name)
	case vTime:
		return rapid.SampledFrom([]string{`"2025-10-20T19:30:00Z"`, `"2025-10-20T21:00:00Z"`, `"2025-10-20T18:00:00+01:00"`, `"0001-01-01T00:00:00Z"`, "null"}).Draw(t, name)
	}
	words := []string{"", "draft", "submitted", "accepted", "declined", "closed", "withdrawn", "routine", "urgent",
		"shared_without_consent", "given", "refused", "not_asked", "open", "done", "housing", "camhs", "none", "high",
		"awaiting_review", "signed_off", "check_in", "female", "16-17", "team_a", "0123456789abcdef0123456789abcdef",
		"Bad Id!", "park", "51.501, -0.142", strings.Repeat("x", 41), strings.Repeat("y", 81), strings.Repeat("é", 121),
		strings.Repeat("z", 2001), strings.Repeat("w", 4001)}
	b, _ := json.Marshal(rapid.SampledFrom(words).Draw(t, name))
	if rapid.IntRange(0, 15).Draw(t, name+"_null") == 0 {
		return "null"
	}
	return string(b)
}

// drawRecord builds a record of a random type whose fields hold random
// values of their schema's kinds.
func drawRecord(t *rapid.T) *Record {
	typ := rapid.SampledFrom(RecordTypes()).Draw(t, "type")
	r := newRecord("0123456789abcdef0123456789abcdef")
	r.Type = typ
	c := compiled[typ]
	for _, fr := range c.fields {
		if rapid.IntRange(0, 4).Draw(t, fr.name+"_absent") == 0 {
			continue
		}
		switch fr.kind {
		case vText:
			f := &Field{Kind: KindText, Text: text.New(), owner: r}
			n := rapid.SampledFrom([]int{0, 1, 40, 2001, 4001, 8001}).Draw(t, fr.name+"_len")
			if n > 0 {
				if _, err := f.Text.LocalInsert(text.ID{Replica: [16]byte{1}, Seq: 1}, 0, strings.Repeat("a", n)); err != nil {
					t.Fatal(err)
				}
			}
			r.Fields[fr.name] = f
		case vStrings:
			f := &Field{Kind: KindSet, Set: map[string][]ID{}, owner: r}
			for _, e := range rapid.SliceOfN(rapid.SampledFrom([]string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "bad id", "housing", "reason", "money", "knitting"}), 0, 3).Draw(t, fr.name) {
				f.Set[e] = []ID{{Seq: 1}}
			}
			r.Fields[fr.name] = f
		case vCounts:
			f := &Field{Kind: KindCounter, Counts: map[string]int64{}, owner: r}
			for _, k := range rapid.SliceOfN(rapid.SampledFrom([]string{"16-17/female", "under-11/male", "40/none", "x"}), 0, 3).Draw(t, fr.name) {
				f.Counts[k] = rapid.SampledFrom([]int64{-1, 1, 1000, 1001}).Draw(t, fr.name+"_n")
			}
			r.Fields[fr.name] = f
		default:
			r.Fields[fr.name] = &Field{Kind: KindRegister, owner: r, Values: []RegValue{{Value: json.RawMessage(drawRegister(t, fr.name, fr.kind))}}}
		}
	}
	return r
}

// The compiled rules give exactly the reflection validator's answers on
// well-typed records.
func TestPropertyCompiledValidateMatchesValidator(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawRecord(t)
		want, err := validateReflect(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Validate(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %v:\ncompiled  %v\nvalidator %v", r.Type, r.Values(), got, want)
		}
	})
}

// A register holding JSON of another type breaks "type" on that field
// alone; the other fields are still checked.
func TestValidateTypeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field string
		value string
		want  []FieldError
	}{
		{"number for a string", "area", `42`, []FieldError{{"area", "type"}}},
		{"string for a bool", "concern", `"yes"`, []FieldError{{"concern", "type"}}},
		{"not a time", "started_at", `"tomorrow"`, []FieldError{{"started_at", "type"}}},
		{"object for a string", "concern_level", `{"a":1}`, []FieldError{{"concern_level", "type"}}},
		{"well typed", "area", `"park"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecord("0123456789abcdef0123456789abcdef")
			r.Type = TypeEncounter
			for name, v := range map[string]string{"team_id": `"0123456789abcdef0123456789abcdef"`, "area": `"park"`, "started_at": `"2025-10-20T19:30:00Z"`} {
				r.Fields[name] = &Field{Kind: KindRegister, Values: []RegValue{{Value: json.RawMessage(v)}}}
			}
			r.Fields[tc.field] = &Field{Kind: KindRegister, Values: []RegValue{{Value: json.RawMessage(tc.value)}}}
			got, _ := Validate(r)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Checking only the fields a save touches (and those whose rules read
// them) finds exactly the new errors that checking the whole record with
// the reflection validator finds.
func TestPropertyTouchedFieldsFindEveryNewError(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		before := drawRecord(t)
		c := compiled[before.Type]
		cs := &Changeset{Replica: ReplicaID{7}, Start: 1, Author: "w1", Deps: []Dep{{Record: before.ID}}}
		for k := rapid.IntRange(1, 4).Draw(t, "ops"); k > 0; k-- {
			fr := rapid.SampledFrom(c.fields).Draw(t, "field")
			switch fr.kind {
			case vText:
				cs.Ops = append(cs.Ops, Op{Kind: OpInsertText, Record: before.ID, Field: fr.name, Text: strings.Repeat("b", rapid.SampledFrom([]int{1, 30, 2001, 4001}).Draw(t, "n"))})
			case vStrings:
				cs.Ops = append(cs.Ops, Op{Kind: OpAdd, Record: before.ID, Field: fr.name, Elem: rapid.SampledFrom([]string{"housing", "bad id", "0123456789abcdef0123456789abcdef"}).Draw(t, "elem")})
			case vCounts:
				cs.Ops = append(cs.Ops, Op{Kind: OpIncrement, Record: before.ID, Field: fr.name, Elem: "16-17/female", Delta: rapid.SampledFrom([]int64{-5, 1, 999}).Draw(t, "delta")})
			default:
				var refs []ID
				if f := before.Fields[fr.name]; f != nil && f.Kind == KindRegister {
					refs = f.ValueIDs()
				}
				cs.Ops = append(cs.Ops, Op{Kind: OpSet, Record: before.ID, Field: fr.name, Value: json.RawMessage(drawRegister(t, "value", fr.kind)), Refs: refs})
			}
		}
		res, err := Apply(cs, func(RecordID) (*Record, error) { return before, nil })
		if err != nil {
			t.Skip("ops do not apply to this record")
		}
		after := res.Records[0]
		got, err := newValidationErrors(cs, before, after)
		if err != nil {
			t.Fatal(err)
		}
		all, _ := validateReflect(after)
		had, _ := validateReflect(before)
		var want []FieldError
		for _, e := range all {
			if !containsFieldError(had, e) {
				want = append(want, e)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: touched fields found %v, the whole record %v", before.Type, got, want)
		}
	})
}
