package domain_test

import (
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
		{in: "0123456789abcdef.t1.42.0..1700000000", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, Since: 1700000000}},
		{in: "0123456789abcdef.t1.42.0.r1.1700000000.5.9", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, After: "r1", Since: 1700000000, Done: 5, Total: 9}},
		{in: "0123456789abcdef.t1.42.0.r1.0.5.9", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, After: "r1", Done: 5, Total: 9}},
		{in: "0123456789abcdef.t1.42.0..0", bad: true},
		{in: "0123456789abcdef.t1.42.0..-5", bad: true},
		{in: "0123456789abcdef.t1.42.0.r1.1700000000.5.0", bad: true},
		{in: "0123456789abcdef.t1.42.0.r1.1700000000.-1.9", bad: true},
		{in: "t1.42.0.r1.1700000000.5.9", bad: true},
		{in: "0123456789abcdef.t1.42~7", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Compacted: 7}},
		{in: "0123456789abcdef.t1.42.0.r1.1700000000.5.9~12", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, After: "r1", Since: 1700000000, Done: 5, Total: 9, Compacted: 12}},
		{in: "0123456789abcdef.t1.42.7.rec_1~3", ok: true, want: domain.Cursor{Gen: "0123456789abcdef", Tag: "t1", Seq: 42, Snapshot: true, Base: 7, After: "rec_1", Compacted: 3}},
		{in: "t1.42~7", bad: true},
		{in: "0123456789abcdef.t1.42~0", bad: true},
		{in: "0123456789abcdef.t1.42~07", bad: true},
		{in: "0123456789abcdef.t1.42~+7", bad: true},
		{in: "0123456789abcdef.t1.42~-7", bad: true},
		{in: "0123456789abcdef.t1.42~", bad: true},
		{in: "0123456789abcdef.t1.42~7~7", bad: true},
		{in: "0123456789abcdef.t1.42~99999999999999999999", bad: true},
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
	for _, s := range []string{"", "t.1", "t.1.2.", "t.1.2.r1", "..", "a.b.c.d", "t.-0", "t.1.2.\x00", "0123456789abcdef.t.1", "0123456789abcdef.t.1.2.r1",
		"0123456789abcdef.t.1.2.r1.1700000000", "0123456789abcdef.t.1.2.r1.1700000000.3.4",
		"0123456789abcdef.t.1~5", "0123456789abcdef.t.1.2.r1~9", "t.1~5", "0123456789abcdef.t.1~"} {
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
		if c.Since < 0 || c.Done < 0 || c.Total < 0 || c.Compacted < 0 || c.Compacted > 0 && c.Gen == "" {
			t.Fatalf("%q: parsed %+v", s, c)
		}
		if again, ok, err := domain.ParseCursor(c.String()); err != nil || !ok || again != c {
			t.Fatalf("%q: %+v does not print back (%+v %v)", s, c, again, err)
		}
	})
}
