package syncengine

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/golang/snappy"
)

// TestDecodeChangesetsCanonical: only a frame that is byte for byte the
// encoding of the one changeset it holds is canonical; the others decode to
// the same changeset but must be encoded again before they are stored.
func TestDecodeChangesetsCanonical(t *testing.T) {
	rep := ReplicaID{7, 1}
	cs := &Changeset{Replica: rep, Start: 1, Time: MakeTimestamp(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), 0), Author: "w1",
		Deps: []Dep{{Record: "r1"}}, Ops: []Op{{Kind: OpCreate, Record: "r1", Type: TypeEncounter}}}
	canon := EncodeChangeset(cs)
	body, err := snappy.Decode(nil, canon[4:])
	if err != nil {
		t.Fatal(err)
	}
	// The same body, every string written in full: "r1" twice.
	e := newEncoder()
	e.uvarint(1)
	e.replica(rep)
	e.uvarint(cs.Start)
	e.uvarint(uint64(cs.Time))
	e.str("w1")
	e.uvarint(1)
	e.str("r1")
	e.vv(nil)
	e.uvarint(1)
	e.b = append(e.b, byte(OpCreate))
	e.uvarint(0)
	e.bytes([]byte("r1"))
	e.str(TypeEncounter)
	repeated := frame(magicChangesets, e.b)
	// Snappy's literal-only block of the canonical body.
	lit := append([]byte("JUC\x01"), byte(len(body)))
	lit = append(append(lit, byte(len(body)-1)<<2), body...)

	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"the encoding", canon, true},
		{"a padded count", frame(magicChangesets, append([]byte{0x81, 0x00}, body[1:]...)), false},
		{"a string sent twice", repeated, false},
		{"compressed another way", lit, false},
		{"two changesets in one frame", EncodeChangesets([]*Changeset{cs, {Replica: rep, Start: 2, Time: cs.Time, Author: "w1",
			Deps: []Dep{{Record: "r1", VV: VV{{Replica: rep, Seq: 1}}}}, Ops: []Op{{Kind: OpSet, Record: "r1", Field: "note", Value: []byte(`"x"`)}}}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			css, canonical, err := DecodeChangesetsCanonical(tc.frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if canonical != tc.want {
				t.Fatalf("canonical = %v, want %v", canonical, tc.want)
			}
			if !reflect.DeepEqual(css[0], cs) {
				t.Fatalf("decoded %+v, want %+v", css[0], cs)
			}
		})
	}
}

// Every changeset the engine writes is canonical as it encodes it.
func TestEncodedChangesetsAreCanonical(t *testing.T) {
	s := newSim(t, 44, 3)
	for i := 0; i < 60; i++ {
		s.randomEdit(i % 3)
	}
	for _, cs := range s.universe {
		if _, canonical, err := DecodeChangesetsCanonical(EncodeChangeset(cs)); err != nil || !canonical {
			t.Fatalf("changeset %s/%d: canonical %v, err %v", cs.Replica, cs.Start, canonical, err)
		}
	}
}

// A record's encoding lists register values winner first however they are
// held: the encoder sorts only registers that are not in order already.
func TestEncodeRecordSortsRegisterValues(t *testing.T) {
	rep := ReplicaID{7, 2}
	at := MakeTimestamp(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), 0)
	values := []RegValue{
		{ID: ID{rep, 3}, Time: at + 2, Author: "w1", Value: []byte(`"c"`)},
		{ID: ID{rep, 2}, Time: at + 1, Author: "w1", Value: []byte(`"b"`)},
		{ID: ID{rep, 1}, Time: at + 1, Author: "w1", Value: []byte(`"a"`)},
	}
	record := func(vs ...RegValue) *Record {
		r := newRecord("r1")
		r.Type = TypeEncounter
		r.Fields["area"] = &Field{Kind: KindRegister, Values: vs, owner: r}
		return r
	}
	want := EncodeRecord(record(values...))
	for _, order := range [][]int{{0, 2, 1}, {1, 0, 2}, {2, 1, 0}, {1, 2, 0}} {
		var vs []RegValue
		for _, i := range order {
			vs = append(vs, values[i])
		}
		if got := EncodeRecord(record(vs...)); !bytes.Equal(got, want) {
			t.Errorf("values in order %v encode differently", order)
		}
	}
}
