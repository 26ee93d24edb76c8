package sqlite

import "testing"

// FuzzParseCursor: a cursor comes from the phone, so any string must parse
// or be refused without panicking, and a parsed cursor must print back to
// one that parses to the same position and generation.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "3f2a9c1e.42", "3f2a9c1e.42.40.abc", "0123456789abcdef.3f2a9c1e.42",
		"0123456789abcdef.3f2a9c1e.42.40.", "0123456789abcdef.3f2a9c1e.42.40.0a81e6ac83e7f97a7e4f0274631bf771", "a.b.c", "....", "g.t.-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok, err := parseCursor(s)
		if err != nil || !ok {
			return
		}
		again, ok2, err := parseCursor(c.String())
		if err != nil || !ok2 || again != c {
			t.Fatalf("%q parsed to %+v, printed %q, reparsed to %+v (%v)", s, c, c.String(), again, err)
		}
	})
}
