package syncengine

import (
	"encoding/json"
	"testing"
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
