package syncengine

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/joinedup/joinedup/syncengine/text"
)

// ReplicaID names a device or the server: 128 random bits.
type ReplicaID [16]byte

// NewReplicaID draws a replica id from r (crypto/rand.Reader in production,
// a seeded source in tests).
func NewReplicaID(r io.Reader) (ReplicaID, error) {
	var id ReplicaID
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return id, fmt.Errorf("new replica id: %w", err)
	}
	return id, nil
}

func (r ReplicaID) String() string { return hex.EncodeToString(r[:]) }
func (r ReplicaID) IsZero() bool   { return r == ReplicaID{} }

// Compare orders replica ids bytewise; it breaks ties between concurrent writes.
func (r ReplicaID) Compare(o ReplicaID) int { return bytes.Compare(r[:], o[:]) }

// ParseReplicaID parses the 32-hex-digit form.
func ParseReplicaID(s string) (ReplicaID, error) {
	var id ReplicaID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, Errorf(EINVALID, "parse replica id", "replica id must be 32 hex digits")
	}
	copy(id[:], b)
	return id, nil
}

// ID names one operation (or one character of a text insert): the replica
// that made it and that replica's counter value.
type ID struct {
	Replica ReplicaID
	Seq     uint64
}

func (id ID) IsZero() bool { return id == ID{} }
func (id ID) String() string {
	return fmt.Sprintf("%s.%d", id.Replica, id.Seq)
}

// Compare orders ids by replica then counter.
func (id ID) Compare(o ID) int {
	if c := id.Replica.Compare(o.Replica); c != 0 {
		return c
	}
	switch {
	case id.Seq < o.Seq:
		return -1
	case id.Seq > o.Seq:
		return 1
	}
	return 0
}

func (id ID) text() text.ID { return text.ID{Replica: id.Replica, Seq: id.Seq} }
func fromText(t text.ID) ID { return ID{Replica: t.Replica, Seq: t.Seq} }

// sortIDs sorts without sort.Slice's allocations (a set add per op).
// Equal ids are identical, so an unstable sort orders them the same.
func sortIDs(ids []ID) { slices.SortFunc(ids, ID.Compare) }

func containsID(ids []ID, x ID) bool {
	for _, id := range ids {
		if id == x {
			return true
		}
	}
	return false
}

// RecordID names a record. Phones make them offline, so they are random
// (128 bits, hex) unless a fixture chooses readable ones.
type RecordID string

// NewRecordID draws a random record id from r.
func NewRecordID(r io.Reader) (RecordID, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("new record id: %w", err)
	}
	return RecordID(hex.EncodeToString(b[:])), nil
}

// VV is a version vector: for each replica, the highest counter applied.
// It is kept sorted by replica so that it encodes canonically.
type VV []VVEntry

type VVEntry struct {
	Replica ReplicaID
	Seq     uint64
}

// Get returns the counter for replica r (0 if none).
func (v VV) Get(r ReplicaID) uint64 {
	i := sort.Search(len(v), func(i int) bool { return v[i].Replica.Compare(r) >= 0 })
	if i < len(v) && v[i].Replica == r {
		return v[i].Seq
	}
	return 0
}

// Set raises replica r's counter to seq (never lowers it) and returns the vector.
func (v VV) Set(r ReplicaID, seq uint64) VV {
	i := sort.Search(len(v), func(i int) bool { return v[i].Replica.Compare(r) >= 0 })
	if i < len(v) && v[i].Replica == r {
		if seq > v[i].Seq {
			v[i].Seq = seq
		}
		return v
	}
	v = append(v, VVEntry{})
	copy(v[i+1:], v[i:])
	v[i] = VVEntry{Replica: r, Seq: seq}
	return v
}

// Covers reports whether v has seen everything o has.
func (v VV) Covers(o VV) bool {
	for _, e := range o {
		if v.Get(e.Replica) < e.Seq {
			return false
		}
	}
	return true
}

// Merge returns the pointwise maximum of v and o.
func (v VV) Merge(o VV) VV {
	for _, e := range o {
		v = v.Set(e.Replica, e.Seq)
	}
	return v
}

// Min returns the pointwise minimum (a replica missing from either counts as 0).
func (v VV) Min(o VV) VV {
	var out VV
	for _, e := range v {
		if s := min(e.Seq, o.Get(e.Replica)); s > 0 {
			out = append(out, VVEntry{e.Replica, s})
		}
	}
	return out
}

// Clone returns a copy.
func (v VV) Clone() VV { return append(VV(nil), v...) }

func (v VV) valid() bool {
	for i := 1; i < len(v); i++ {
		if v[i-1].Replica.Compare(v[i].Replica) >= 0 {
			return false
		}
	}
	for _, e := range v {
		if e.Seq == 0 {
			return false
		}
	}
	return true
}

// Stable returns what every one of the given replicas has seen: the
// pointwise minimum of their version vectors. History covered by it may be
// folded into snapshots (see MemStore.Compact); a replica missing from any
// vector counts as having seen nothing of it.
func Stable(vvs ...VV) VV {
	if len(vvs) == 0 {
		return nil
	}
	out := vvs[0].Clone()
	for _, v := range vvs[1:] {
		out = out.Min(v)
	}
	return out
}
