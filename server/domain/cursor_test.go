package domain_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want domain.Cursor
		bad  bool
	}{
		{in: "", ok: false},
		{in: "t1.42", ok: true, want: domain.Cursor{Tag: "t1", Seq: 42}},
		{in: "t1.42.7.", ok: true, want: domain.Cursor{Tag: "t1", Seq: 42, Snapshot: true, Base: 7}},
		{in: "t1.42.7.rec_1", ok: true, want: domain.Cursor{Tag: "t1", Seq: 42, Snapshot: true, Base: 7, After: "rec_1"}},
		{in: "t1", bad: true},
		{in: "t1.-1", bad: true},
		{in: "t1.x", bad: true},
		{in: "t1.1.-2.", bad: true},
		{in: "t1.1.2.has space", bad: true},
		{in: "t1.1.2.3.4", bad: true},
		{in: "t1.99999999999999999999", bad: true},
		{in: "0123456789abcdef.t1.42", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42}},
		{in: "0123456789abcdef.t1.42.7.rec_1", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, Base: 7, After: "rec_1"}},
		{in: "0123456789abcdeg.t1.42", bad: true},
		{in: "0123456789abcde.t1.42", bad: true},
		{in: "0123456789abcdef.t1.42.7", bad: true},
	} {
		c, ok, err := domain.ParseCursor(tc.in)
		if tc.bad {
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Errorf("%q: error %v, want invalid", tc.in, err)
			}
			continue
		}
		if err != nil || ok != tc.ok || c != tc.want {
			t.Errorf("%q: %+v %v %v, want %+v %v", tc.in, c, ok, err, tc.want, tc.ok)
		}
	}
}

// A cursor comes from the network: parsing any bytes either fails with
// invalid or gives a cursor whose numbers are not negative and whose record
// id is one the engine accepts, and that prints back to the same text.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "t.1", "t.1.2.", "t.1.2.r1", "..", "a.b.c.d", "t.-0", "t.1.2.\x00", "0123456789abcdef.t.1", "0123456789abcdef.t.1.2.r1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok, err := domain.ParseCursor(s)
		if err != nil {
			if domain.ErrorCode(err) != domain.EINVALID || ok {
				t.Fatalf("%q: %v ok=%v", s, err, ok)
			}
			return
		}
		if !ok {
			if s != "" {
				t.Fatalf("%q: not ok without an error", s)
			}
			return
		}
		if c.Seq < 0 || c.Base < 0 || c.After != "" && !syncengine.ValidRecordID(c.After) {
			t.Fatalf("%q: parsed %+v", s, c)
		}
		parts := []string{c.Tag, strconv.FormatInt(c.Seq, 10)}
		if c.Snapshot {
			parts = append(parts, strconv.FormatInt(c.Base, 10), c.After)
		}
		if c.Gen != "" {
			parts = append([]string{c.Gen}, parts...)
		}
		if again, ok, err := domain.ParseCursor(strings.Join(parts, ".")); err != nil || !ok || again != c {
			t.Fatalf("%q: %+v does not print back (%+v %v)", s, c, again, err)
		}
	})
}
