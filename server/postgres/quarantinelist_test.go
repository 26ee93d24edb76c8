package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/syncengine"
)

// An item refused before migration 0260 (no refs) is given its refs by the
// backfill at start, so a reviewers' list finds it where its records are
// filed now.
func TestQuarantineRefsBackfilled(t *testing.T) {
	ctx := context.Background()
	db := nodes(t, 1)[0]
	p := enrol(t, db, "w_a")
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) { id, err = encounter(tx, "Seen by the ramp."); return err })
	// Held: what it depends on is never sent.
	p.outbox = nil
	p.edit(func(tx *syncengine.Txn) error { return tx.Set(id, "concern_level", "high") })
	res, err := p.sync(db, true)
	must(t, err)
	if res.Quarantined != 1 {
		t.Fatalf("the save was not kept aside: %+v", res.Results)
	}
	refs := func() []string {
		t.Helper()
		rows, err := db.Pool().Query(ctx, `SELECT record_id FROM quarantine_refs ORDER BY record_id`)
		must(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			must(t, rows.Scan(&r))
			out = append(out, r)
		}
		return out
	}
	want := []string{string(id)}
	if got := refs(); !slices.Equal(got, want) {
		t.Fatalf("refs written with the item: %q, want %q", got, want)
	}
	// As the database was before migration 0260: no refs.
	_, err = db.Pool().Exec(ctx, `DELETE FROM quarantine_refs; INSERT INTO quarantine_refs_backfill (pending) VALUES (1)`)
	must(t, err)
	must(t, postgres.BackfillQuarantineRefs(ctx, db))
	if got := refs(); !slices.Equal(got, want) {
		t.Fatalf("refs after the backfill: %q, want %q", got, want)
	}
}
