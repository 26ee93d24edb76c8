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
