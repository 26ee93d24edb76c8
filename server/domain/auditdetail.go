package domain

import (
	"encoding/json"
	"slices"
	"strconv"
)

// MarshalDetail encodes an audit entry's Detail exactly as json.Marshal
// does. Every pushed changeset writes one audit row, and json.Marshal's
// reflection over its small map (seq, ops, record ids, types) was most of
// that row's cost; this writes the shapes the push writes (integers, plain
// strings and lists of them) directly and hands anything else to
// json.Marshal.
func MarshalDetail(d map[string]any) ([]byte, error) {
	if d == nil {
		return []byte("null"), nil
	}
	keys := make([]string, 0, 8)
	for k := range d {
		if !plainJSON(k) {
			return json.Marshal(d)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), '"', ':')
		var ok bool
		if b, ok = appendPlain(b, d[k]); !ok {
			return json.Marshal(d)
		}
	}
	return append(b, '}'), nil
}

// appendPlain appends v if it is one of the shapes MarshalDetail writes
// itself.
func appendPlain(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case bool:
		return strconv.AppendBool(b, v), true
	case string:
		if !plainJSON(v) {
			return b, false
		}
		return append(append(append(b, '"'), v...), '"'), true
	case []string:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, s := range v {
			if !plainJSON(s) {
				return b, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(append(b, '"'), s...), '"')
		}
		return append(b, ']'), true
	}
	return b, false
}

// plainJSON reports whether s needs no escaping in json.Marshal's output:
// printable ASCII other than the quote, the backslash and the HTML
// characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
