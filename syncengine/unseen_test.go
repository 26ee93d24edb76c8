package syncengine

import (
	"crypto/rand"
	"testing"
	"time"
)

// A changeset kept aside by a server (quarantined, held) while its phone,
// having dropped it, saved more to the same record: Apply takes the record
// to hold it already (a later changeset of the same replica is there) and
// would drop it; ApplyUnseen applies it whole, and the record's version
// vector does not go back.
func TestApplyUnseenAppliesAChangesetSavedPast(t *testing.T) {
	now := time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC)
	st := NewMemStore()
	rid, err := NewReplicaID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReplica(Config{ID: rid, Now: func() time.Time { return now }, Rand: rand.Reader, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var id RecordID
	create, err := r.Edit("w", func(tx *Txn) (err error) {
		if id, err = tx.Create(TypeEncounter); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "area": "by the skate ramp", "started_at": now.Add(-time.Hour)} {
			if err := tx.Set(id, k, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, "Met at the park.")
	})
	if err != nil {
		t.Fatal(err)
	}
	server, err := Apply(create, func(RecordID) (*Record, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	kept, err := r.Edit("w", func(tx *Txn) error {
		if err := tx.Set(id, "area", "the park"); err != nil {
			return err
		}
		return tx.InsertText(id, "note", 0, "KEPT ")
	})
	if err != nil {
		t.Fatal(err)
	}
	// The phone drops the kept save: its copy is the server's again.
	st.Put(server.Records[0].Clone())
	later, err := r.Edit("w", func(tx *Txn) error { return tx.InsertText(id, "note", 0, "Later: ") })
	if err != nil {
		t.Fatal(err)
	}
	stored := server.Records[0]
	get := func(RecordID) (*Record, error) { return stored, nil }
	res, err := Apply(later, get)
	if err != nil || res.Status != Applied {
		t.Fatalf("the later save: %v %v", res, err)
	}
	stored = res.Records[0]
	if res, err := Apply(kept, get); err != nil || res.Status != Duplicate {
		t.Fatalf("Apply of the kept save: %v %v: the test tests nothing", res, err)
	}
	res, err = ApplyUnseen(kept, get)
	if err != nil || res.Status != Applied {
		t.Fatalf("ApplyUnseen of the kept save: %v %v", res, err)
	}
	got := res.Records[0]
	if got.String("note") != "Later: KEPT Met at the park." && got.String("note") != "KEPT Later: Met at the park." {
		t.Fatalf("note %q", got.String("note"))
	}
	if got.String("area") != "the park" {
		t.Fatalf("area %q", got.String("area"))
	}
	if got.VV.Get(r.ID()) != later.End() {
		t.Fatalf("version vector went back: %v, want %d", got.VV, later.End())
	}
}
