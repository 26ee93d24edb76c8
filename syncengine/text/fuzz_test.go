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
	f.Add(concurrentDoc(f).AppendBinary(nil))
	f.Add(v1Seed())
	f.Add([]byte{})
	f.Add([]byte{encVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{encVersionV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
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
		// A fork compacted leaves the decoded doc as it was, keeps the
		// text, and encodes to bytes that decode.
		c := d2.Fork()
		c.Compact()
		if c.String() != d.String() || string(d2.AppendBinary(nil)) != string(enc) {
			t.Fatal("compacting a fork changed the text or the doc it came from")
		}
		if c2, _, err := Decode(c.AppendBinary(nil)); err != nil || c2.String() != d.String() {
			t.Fatalf("compacted doc does not decode: %v", err)
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

// concurrentDoc has runs of three replicas, tombstones between visible
// runs, explicit origins of every kind and multi-byte text.
func concurrentDoc(tb testing.TB) *Doc {
	tb.Helper()
	a, b := New(), New()
	ins, err := a.LocalInsert(ID{rep(1), 0}, 0, "abcdef")
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.ApplyInsert(ins); err != nil {
		tb.Fatal(err)
	}
	x, _ := a.LocalInsert(ID{rep(1), 6}, 3, "ünï")
	y, _ := b.LocalInsert(ID{rep(2), 0}, 3, "XY")
	z, _ := b.LocalInsert(ID{rep(3), 10}, 0, "€")
	del, _ := b.LocalDelete(1, 2)
	for _, op := range []Insert{y, z} {
		if err := a.ApplyInsert(op); err != nil {
			tb.Fatal(err)
		}
	}
	if err := a.ApplyDelete(del); err != nil {
		tb.Fatal(err)
	}
	if err := b.ApplyInsert(x); err != nil {
		tb.Fatal(err)
	}
	if string(a.AppendBinary(nil)) != string(b.AppendBinary(nil)) {
		tb.Fatal("replicas encode differently")
	}
	return a
}

// v1Seed is "hi" typed by one replica, in the version 1 layout.
func v1Seed() []byte {
	b := []byte{encVersionV1, 1}
	r := rep(1)
	b = append(b, r[:]...)
	return append(b, 1, flagText|flagLeftNone|flagRightNone, 0, 0, 2, 2, 'h', 'i')
}

func TestDecodeV1(t *testing.T) {
	d, n, err := Decode(v1Seed())
	if err != nil || n != len(v1Seed()) || d.String() != "hi" {
		t.Fatalf("decode v1: %v, %d bytes, %q", err, n, d.String())
	}
	want := New()
	if _, err := want.LocalInsert(ID{rep(1), 0}, 0, "hi"); err != nil {
		t.Fatal(err)
	}
	if got := d.AppendBinary(nil); string(got) != string(want.AppendBinary(nil)) || got[0] != encVersion {
		t.Fatalf("v1 doc re-encodes as %x, want %x", got, want.AppendBinary(nil))
	}
}

func TestEncodeColumns(t *testing.T) {
	d := concurrentDoc(t)
	enc := d.AppendBinary(nil)
	d2, n, err := Decode(enc)
	if err != nil || n != len(enc) {
		t.Fatalf("decode: %v (%d of %d bytes)", err, n, len(enc))
	}
	if d2.String() != d.String() || string(d2.AppendBinary(nil)) != string(enc) {
		t.Fatalf("round trip: %q vs %q", d2.String(), d.String())
	}
	// Every truncation fails cleanly; trailing bytes are left unread.
	for k := 0; k < len(enc); k++ {
		if _, _, err := Decode(enc[:k]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", k, err)
		}
	}
	if _, n, err := Decode(append(enc, 0xEE)); err != nil || n != len(enc) {
		t.Fatalf("with a trailing byte: %v, %d", err, n)
	}
}
