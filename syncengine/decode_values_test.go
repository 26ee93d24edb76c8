package syncengine

import (
	"encoding/json"
	"testing"
)

// A decoded changeset's set values share one array (ownValues); each must
// still be a value of its own: appending to one, as a caller building on a
// decoded op may, must not write into the next.
func TestDecodedSetValuesAreSeparate(t *testing.T) {
	id := RecordID("0123456789abcdef0123456789abcdef")
	set := func(field, v string) Op {
		return Op{Kind: OpSet, Record: id, Field: field, Value: json.RawMessage(v)}
	}
	tests := []struct {
		name string
		ops  []Op
	}{
		{"one value", []Op{set("area", `"park"`)}},
		{"two values", []Op{set("area", `"park"`), set("mood", `"calm"`)}},
		{"values around other ops", []Op{
			set("area", `"park"`),
			{Kind: OpAdd, Record: id, Field: "topics", Elem: "housing"},
			set("mood", `"calm"`),
			set("seen", `true`),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := &Changeset{Replica: ReplicaID{1}, Start: 1, Time: 1, Author: "w1", Deps: []Dep{{Record: id}}, Ops: tt.ops}
			got, err := DecodeChangeset(EncodeChangeset(cs))
			if err != nil {
				t.Fatal(err)
			}
			for i := range got.Ops {
				if got.Ops[i].Kind == OpSet {
					got.Ops[i].Value = append(got.Ops[i].Value, "XXXX"...)
				}
			}
			for i, op := range got.Ops {
				if op.Kind != OpSet {
					continue
				}
				if want := string(tt.ops[i].Value) + "XXXX"; string(op.Value) != want {
					t.Errorf("op %d value = %s, want %s", i, op.Value, want)
				}
			}
		})
	}
}

// validJSON answers as json.Valid does, on every input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`"park"`, `""`, `"a\"b"`, `"a\\"`, `"\u00e9"`, "\"\xff\"", "\"\x1f\"", "\"\x7f\"",
		`"`, `"a`, `a"`, `"a" `, ` "a"`, `"a""b"`, `"a","b"`,
		`true`, `false`, `null`, `tru`, `nul`, `True`, ` true`,
		`0`, `-1.5e3`, `01`, `[]`, `{"a":1}`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
