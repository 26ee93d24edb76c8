package syncengine

import (
	"encoding/json"
	"testing"
	"time"
)

// StringValue must answer exactly as json.Unmarshal into a string: the
// policy and the rules decide on these strings.
func FuzzStringValue(f *testing.F) {
	for _, seed := range []string{
		`"team-a"`, `""`, `"a\"b"`, `"caf\u00e9"`, `"café"`, "\"\xff\"", "\"a\x01\"", `null`, `1`, `true`,
		` "x"`, `"x" `, `"`, `"a"b"`, `["a"]`, `"\ud800"`, "\"\x7f\"", `"a\\"`, `"\/"`, `"😀"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var want string
		wantOK := json.Unmarshal(v, &want) == nil
		if !wantOK {
			want = ""
		}
		got, ok := StringValue(v)
		if got != want || ok != wantOK {
			t.Fatalf("StringValue(%q) = %q, %v; json.Unmarshal gives %q, %v", v, got, ok, want, wantOK)
		}
	})
}

// decodeScalar must decode register values exactly as json.Unmarshal:
// validation decides on them.
func FuzzDecodeScalar(f *testing.F) {
	for _, seed := range []string{
		`true`, `false`, ` true`, `"true"`, `null`, `1`, `"2026-01-05T09:00:00Z"`, `"2026-01-05T09:00:00.5+01:00"`,
		` "2026-01-05T09:00:00Z" `, `"2026-01-05T09:00:00\u005a"`, `"2026-13-05T09:00:00Z"`, `"a"`, `"a\"b"`, "\"\xff\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v fieldValue
		var s string
		if ok := decodeScalar(raw, vString, &v); ok != (json.Unmarshal(raw, &s) == nil) || ok && v.str != s {
			t.Fatalf("string %q: %q %v, json %q", raw, v.str, ok, s)
		}
		var b bool
		if ok := decodeScalar(raw, vBool, &v); ok != (json.Unmarshal(raw, &b) == nil) || ok && v.b != b {
			t.Fatalf("bool %q: %v %v, json %v", raw, v.b, ok, b)
		}
		var tm time.Time
		v.t = nil
		ok := decodeScalar(raw, vTime, &v)
		if jok := json.Unmarshal(raw, &tm) == nil; ok != jok || ok && !v.t.Equal(tm) {
			t.Fatalf("time %q: %v %v, json %v %v", raw, v.t, ok, tm, jok)
		}
	})
}
