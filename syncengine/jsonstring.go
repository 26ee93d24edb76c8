package syncengine

import (
	"encoding/json"
	"unicode/utf8"
)

// StringValue decodes a register value as a JSON string: ok is false when
// it is not one. It answers exactly as json.Unmarshal into a string would,
// without its reflection and validation passes for the common case (a
// quoted run of plain characters), since the server reads the same few
// string fields of every stored record on every push: filing, policy,
// rules, search.
func StringValue(v []byte) (s string, ok bool) {
	if n := len(v); n >= 2 && v[0] == '"' && v[n-1] == '"' {
		inner := v[1 : n-1]
		plain := true
		for _, c := range inner {
			// Escapes and quotes need unquoting; control characters are
			// invalid JSON; bytes above ASCII are checked as UTF-8 below.
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		// json.Unmarshal replaces invalid UTF-8 with U+FFFD: leave that to it.
		if plain && utf8.Valid(inner) {
			return string(inner), true
		}
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}
