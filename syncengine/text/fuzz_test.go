package text

import (
	"errors"
	"testing"
)

func FuzzDecode(f *testing.F) {
	d := New()
	op, _ := d.LocalInsert(ID{rep(1), 0}, 0, "hello wörld")
	d.LocalDelete(2, 3)
	f.Add(d.AppendBinary(nil))
	e := d.Clone()
	e.ApplyInsert(Insert{ID: ID{rep(2), 7}, OriginLeft: op.ID, Text: "😀x"})
	f.Add(e.AppendBinary(nil))
	e.PurgeDeletedContent()
	f.Add(e.AppendBinary(nil))
	f.Add(New().AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, n, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		// A decoded doc must be usable: edit it, re-encode, decode again.
		enc := d.AppendBinary(nil)
		d2, _, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d2.String() != d.String() {
			t.Fatal("re-decode changed the text")
		}
		if _, err := d.LocalInsert(ID{[16]byte{0xff}, 1 << 40}, d.Len()/2, "zz"); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("insert into decoded doc: %v", err)
		}
		if d.Len() > 0 {
			if _, err := d.LocalDelete(0, 1); err != nil {
				t.Fatalf("delete in decoded doc: %v", err)
			}
		}
		_ = d.String()
	})
}
