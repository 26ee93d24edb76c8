package domain

import (
	"bytes"
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// MarshalDetail must write what json.Marshal writes: the audit chain's
// hashes cover these bytes.
func TestMarshalDetailIsJSONMarshal(t *testing.T) {
	strs := rapid.SampledFrom([]string{"", "seq", "rec-1", "encounter", "a b", `q"`, `b\s`, "<x>", "a&b", "é", "\u2028", "\x01", "\x7f", "\xff", "records"})
	value := rapid.OneOf(
		rapid.Map(rapid.Int64(), func(v int64) any { return v }),
		rapid.Map(rapid.Int(), func(v int) any { return v }),
		rapid.Map(rapid.Bool(), func(v bool) any { return v }),
		rapid.Map(strs, func(v string) any { return v }),
		rapid.Map(rapid.SliceOfN(strs, -1, 5), func(v []string) any { return v }),
		rapid.Just[any]([]string(nil)),
		rapid.Just[any](nil),
		rapid.Just[any](1.5),
		rapid.Just[any](map[string]any{"x": 1}),
	)
	rapid.Check(t, func(t *rapid.T) {
		d := rapid.MapOfN(strs, value, 0, 6).Draw(t, "detail")
		got, err := MarshalDetail(d)
		want, werr := json.Marshal(d)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("MarshalDetail = %s, %v; json.Marshal = %s, %v", got, err, want, werr)
		}
	})
	for _, d := range []map[string]any{nil, {}, ChangesetAudit("w1", "d1", 7, 3, nil).Detail} {
		got, _ := MarshalDetail(d)
		want, _ := json.Marshal(d)
		if !bytes.Equal(got, want) {
			t.Fatalf("MarshalDetail(%v) = %s, json.Marshal %s", d, got, want)
		}
	}
}

// An audit row's hash input must be json.Marshal's bytes whichever way it
// is made: rows hashed before are verified with it.
func FuzzDigestInputIsJSONMarshal(f *testing.F) {
	f.Add("", int64(1), "2026-01-05T09:00:00.000Z", "w1", "d1", "write", "r1", `{"ops":3,"records":["r1"],"seq":7,"types":["encounter"]}`)
	f.Add("ab12", int64(-5), "", "", "", "", "", `{"a":"<b>&\\"}`)
	f.Add("x", int64(9), "é", "\u2028", "\x01", "\x7f", "\xff", `"`)
	f.Add("y", int64(0), "a", "b", "c", "d", "e", `{"note":"a\\b \"q\""}`)
	f.Fuzz(func(t *testing.T, prev string, id int64, at, person, device, action, record, detail string) {
		r := AuditRow{ID: id, At: at, Person: person, Device: device, Action: action, Record: record, Detail: detail}
		want, _ := json.Marshal([]any{prev, r.ID, r.At, r.Person, r.Device, r.Action, r.Record, r.Detail})
		if got, ok := r.digestInput(prev); ok && !bytes.Equal(got, want) {
			t.Fatalf("digestInput = %s, json.Marshal %s", got, want)
		}
	})
}

// A push's audit row takes the direct path.
func TestDigestInputTakesPushRows(t *testing.T) {
	d, err := MarshalDetail(ChangesetAudit("w1", "d1", 7, 3, nil).Detail)
	if err != nil {
		t.Fatal(err)
	}
	r := AuditRow{ID: 12, At: "2026-01-05T09:00:00.000Z", Person: "w1", Device: "d1", Action: ActionWrite, Detail: string(d)}
	if _, ok := r.digestInput("ab12"); !ok {
		t.Fatalf("a push's audit row %+v is hashed through json.Marshal", r)
	}
}
