package protocol

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
)

type hdr struct {
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		groups [][][]byte
	}{
		{"no groups", nil},
		{"one empty group", [][][]byte{{}}},
		{"request", [][][]byte{{[]byte("JUC\x01a"), []byte("JUC\x01bb")}}},
		{"response", [][][]byte{{[]byte("x")}, {[]byte("JUS\x01y"), {}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(hdr{Cursor: "42", More: true}, tc.groups...)
			if err != nil {
				t.Fatal(err)
			}
			var h hdr
			got, err := Decode(b, &h, len(tc.groups))
			if err != nil {
				t.Fatal(err)
			}
			if h.Cursor != "42" || !h.More {
				t.Fatalf("header %+v", h)
			}
			for i := range tc.groups {
				if len(got[i]) != len(tc.groups[i]) {
					t.Fatalf("group %d: %d frames, want %d", i, len(got[i]), len(tc.groups[i]))
				}
				for j := range got[i] {
					if !bytes.Equal(got[i][j], tc.groups[i][j]) {
						t.Fatalf("group %d frame %d differs", i, j)
					}
				}
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	good, _ := Encode(hdr{Cursor: "1"}, [][]byte{[]byte("abc")})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong magic", append([]byte("XUP\x01"), good[4:]...)},
		{"wrong version", append([]byte("JUP\x02"), good[4:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"header not JSON", []byte("JUP\x01\x01{\x00")},
		{"huge count", []byte("JUP\x01\x02{}\xff\xff\xff\xff\x0f")},
		{"huge length", []byte("JUP\x01\x02{}\x01\xff\xff\xff\xff\x0f")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h hdr
			_, err := Decode(tc.b, &h, 1)
			if code := syncengine.ErrorCode(err); code != syncengine.EMALFORMED {
				t.Fatalf("got %v (code %q), want a malformed error", err, code)
			}
		})
	}
}

// FuzzDecode: untrusted envelopes never panic, and what decodes re-encodes
// to the same bytes (the encoding is canonical for a given header).
func FuzzDecode(f *testing.F) {
	req, _ := Encode(hdr{Cursor: "7"}, [][]byte{[]byte("JUC\x01abc"), []byte("JUC\x01")})
	resp, _ := Encode(hdr{Cursor: "8", More: true}, [][]byte{[]byte("f")}, [][]byte{})
	f.Add(req, 1)
	f.Add(resp, 2)
	f.Add([]byte("JUP\x01"), 1)
	f.Fuzz(func(t *testing.T, b []byte, groups int) {
		groups = ((groups % 3) + 3) % 3
		var h hdr
		got, err := Decode(b, &h, groups)
		if err != nil {
			if syncengine.ErrorCode(err) != syncengine.EMALFORMED {
				t.Fatalf("error without the malformed code: %v", err)
			}
			return
		}
		again, err := Encode(h, got...)
		if err != nil {
			t.Fatal(err)
		}
		var h2 hdr
		got2, err := Decode(again, &h2, groups)
		if err != nil || h2 != h || !reflect.DeepEqual(normalise(got2), normalise(got)) {
			t.Fatalf("re-decode differs: %v", err)
		}
	})
}

func normalise(gs [][][]byte) [][]string {
	out := make([][]string, len(gs))
	for i, g := range gs {
		out[i] = []string{}
		for _, f := range g {
			out[i] = append(out[i], string(f))
		}
	}
	return out
}
