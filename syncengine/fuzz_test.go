package syncengine

import (
	"bytes"
	"testing"
)

// seedChangesets returns encodings of real changesets for fuzz seeds.
func seedChangesets(tb testing.TB) [][]byte {
	s := newSim(tb, 42, 3)
	for i := 0; i < 30; i++ {
		s.randomEdit(i % 3)
	}
	var out [][]byte
	for i, cs := range s.universe {
		if i%3 == 0 {
			out = append(out, EncodeChangeset(cs))
		}
	}
	out = append(out, EncodeChangesets(s.universe))
	return out
}

// FuzzDecodeChangesets feeds untrusted bytes to the changeset decoder: it
// must never panic, and whatever it accepts must re-encode to bytes that
// decode to the same thing, and apply (or be refused) without panicking.
func FuzzDecodeChangesets(f *testing.F) {
	for _, b := range seedChangesets(f) {
		f.Add(b)
	}
	f.Add([]byte("JUC\x01"))
	f.Add([]byte("JUC\x02garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		css, err := DecodeChangesets(b)
		if err != nil {
			if c := ErrorCode(err); c != EMALFORMED && c != ETOOLARGE {
				t.Fatalf("decode error with code %q: %v", c, err)
			}
			return
		}
		// A frame taken as canonical is stored as received: it must be the
		// encoding, byte for byte.
		if css2, canonical, err := DecodeChangesetsCanonical(b); err != nil || len(css2) != len(css) {
			t.Fatalf("DecodeChangesetsCanonical disagrees with DecodeChangesets: %v", err)
		} else if canonical && !bytes.Equal(b, EncodeChangeset(css[0])) {
			t.Fatalf("frame taken as canonical is not the encoding:\n got %x\nwant %x", b, EncodeChangeset(css[0]))
		}
		again, err := DecodeChangesets(EncodeChangesets(css))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(EncodeChangesets(again), EncodeChangesets(css)) {
			t.Fatal("round trip not stable")
		}
		st := NewMemStore()
		for _, cs := range css {
			_, _ = Apply(cs, st.Record)
		}
	})
}

// FuzzDecodeSnapshot does the same for record snapshots.
func FuzzDecodeSnapshot(f *testing.F) {
	s := newSim(f, 43, 3)
	for i := 0; i < 40; i++ {
		s.randomEdit(i % 3)
	}
	f.Add(EncodeSnapshot(s.stores[0].Records()))
	for _, r := range s.stores[1].Records() {
		f.Add(EncodeRecord(r))
	}
	f.Add([]byte("JUS\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeSnapshot(b)
		if err != nil {
			if c := ErrorCode(err); c != EMALFORMED && c != ETOOLARGE {
				t.Fatalf("decode error with code %q: %v", c, err)
			}
			return
		}
		for _, r := range recs {
			_ = r.View(nil)
			_, _ = Validate(r)
			_ = r.Clone()
		}
	})
}
