package syncengine

import (
	"strings"
	"testing"
)

// TestMergedSavesOverALimitAreKept: two offline saves, each within the note's
// length limit, together exceed it. The second to reach the server is a
// merge of accepted edits and must be kept (the record is flagged by
// OverLimits for a supervisor), while a save whose author saw the whole
// record and still broke the limit is refused as before.
func TestMergedSavesOverALimitAreKept(t *testing.T) {
	s := newSim(t, 7, 2)
	enc := s.encounter(0, "w-ana", "Riverside park", "Met J.")
	s.deliverAll()
	long := func(who string) string { return strings.Repeat(who+" wrote a lot. ", 12000/len(who+" wrote a lot. ")) }
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.InsertText(enc, "note", 6, long("Ana")) })
	b := s.edit(1, "w-ben", func(tx *Txn) error { return tx.InsertText(enc, "note", 6, long("Ben")) })

	// The server holds Ana's save when Ben's arrives.
	before := mustRecord(t, s.replicas[0], enc)
	applied, err := Apply(b, s.stores[0].Record)
	if err != nil || applied.Status != Applied {
		t.Fatalf("apply: %v %+v", err, applied)
	}
	if err := CheckChangeset(b, map[RecordID]*Record{enc: before}, applied.Records); err != nil {
		t.Fatalf("a merge of two accepted saves was refused: %v", err)
	}
	merged := applied.Records[0]
	if got := OverLimits(merged); len(got) != 1 || got[0] != (FieldError{Field: "note", Rule: "max"}) {
		t.Fatalf("merged record over its limit is not flagged: %v", got)
	}
	if got := OverLimits(before); len(got) != 0 {
		t.Fatalf("record within its limits flagged: %v", got)
	}

}

// TestOwnSaveOverALimitIsRefused: a save whose author saw the whole record
// and still broke a limit is refused, merged or not.
func TestOwnSaveOverALimitIsRefused(t *testing.T) {
	s := newSim(t, 8, 1)
	enc := s.encounter(0, "w-ana", "Riverside park", "Met J.")
	_, err := s.replicas[0].Edit("w-ana", func(tx *Txn) error {
		return tx.InsertText(enc, "note", 6, strings.Repeat("x", 20001))
	})
	if ErrorCode(err) != EINVALID {
		t.Fatalf("own save over the limit: %v, want invalid", err)
	}
}

// TestMergedTalliesOverALimitAreKept: two workers count the same group
// offline, each within the per-key limit of 1,000, together beyond it: both
// are kept. One save adding more than the limit by itself, even claiming not
// to have seen the others, is refused.
func TestMergedTalliesOverALimitAreKept(t *testing.T) {
	s := newSim(t, 9, 3)
	enc := s.encounter(0, "w-ana", "Riverside park", "Met J.")
	s.deliverAll()
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.Increment(enc, "tallies", "14-15/female", 600) })
	b := s.edit(1, "w-ben", func(tx *Txn) error { return tx.Increment(enc, "tallies", "14-15/female", 600) })
	before := mustRecord(t, s.replicas[0], enc)
	applied, err := Apply(b, s.stores[0].Record)
	if err != nil || applied.Status != Applied {
		t.Fatalf("apply: %v %+v", err, applied)
	}
	if err := CheckChangeset(b, map[RecordID]*Record{enc: before}, applied.Records); err != nil {
		t.Fatalf("a merge of two accepted counts was refused: %v", err)
	}
	if len(OverLimits(applied.Records[0])) == 0 {
		t.Fatal("merged tallies over the limit are not flagged")
	}
	// A forged save: the third replica's own growth is beyond the limit.
	forged := *b
	forged.Ops = append([]Op(nil), b.Ops...)
	for i := range forged.Ops {
		if forged.Ops[i].Kind == OpIncrement {
			forged.Ops[i].Delta = 5000
		}
	}
	applied, err = Apply(&forged, s.stores[0].Record)
	if err != nil || applied.Status != Applied {
		t.Fatalf("apply forged: %v %+v", err, applied)
	}
	if err := CheckChangeset(&forged, map[RecordID]*Record{enc: before}, applied.Records); ErrorCode(err) != EINVALID {
		t.Fatalf("a save adding 5,000 to one tally was accepted: %v", err)
	}
}
