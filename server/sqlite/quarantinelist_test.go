package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// TestQuarantineRefsBackfilled: an item refused before migration 0260 (no
// refs) is given its refs at the next Open, so a reviewers' list finds it
// where its records are filed now.
func TestQuarantineRefsBackfilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := sqlite.NewDB(path)
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	must(t, db.Open())
	mustOrg(t, db)
	w := newTwoSaves(t, db)
	id := w.id
	// Held: what it depends on is never sent.
	if res := w.push(w.second); res.Quarantined != 1 {
		t.Fatalf("the save was not kept aside: %+v", res.Results)
	}
	refs := func(db *sql.DB) string {
		t.Helper()
		rows, err := db.Query(`SELECT record_id FROM quarantine_refs ORDER BY record_id`)
		must(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			must(t, rows.Scan(&r))
			out = append(out, r)
		}
		return strings.Join(out, " ")
	}
	if got := refs(db.SQL()); got != string(id) {
		t.Fatalf("refs written with the item: %q, want %q", got, id)
	}
	must(t, db.Close())

	// As the database was before migration 0260: no refs.
	raw, err := sql.Open("sqlite3", path)
	must(t, err)
	for _, q := range []string{`DELETE FROM quarantine_refs`, `INSERT INTO quarantine_refs_backfill (pending) VALUES (1)`} {
		_, err := raw.Exec(q)
		must(t, err)
	}
	must(t, raw.Close())
	db = sqlite.NewDB(path)
	db.Now = func() time.Time { return now }
	must(t, db.Open())
	defer db.Close()
	if got := refs(db.SQL()); got != string(id) {
		t.Fatalf("refs after reopening: %q, want %q", got, id)
	}
}

// BenchmarkQuarantineList measures a supervisor's list of 200 refused saves
// (each decided as a discard would be, as of now) against an admin's list of
// the same items (one query, nothing decided): the ratio of the two is the
// cost of deciding the list per item.
//
//	go test -tags sqlite_fts5 -run '^$' -bench QuarantineList ./server/sqlite/
func BenchmarkQuarantineList(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b)
	mustOrg(b, db)
	must(b, db.UpsertPerson(ctx, domain.Person{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_b"}))
	rep, _, err := db.ServerReplica(ctx)
	must(b, err)
	const n = 200
	ids := make([]syncengine.RecordID, n)
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) error {
		for i := range ids {
			id, err := tx.Create(syncengine.TypeEncounter)
			must(b, err)
			for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": db.Now().Add(-time.Hour)} {
				must(b, tx.Set(id, k, v))
			}
			must(b, tx.InsertText(id, "note", 0, "Seen by the ramp."))
			ids[i] = id
		}
		return nil
	})
	must(b, err)
	// Team B's worker writes into each of team A's encounters: refused.
	code, _, err := db.IssueEnrolmentCode(ctx, "w2", "s1")
	must(b, err)
	en, err := db.Enrol(ctx, code, "android")
	must(b, err)
	dev, err := db.Device(ctx, en.DeviceID)
	must(b, err)
	person, err := db.Person(ctx, "w2")
	must(b, err)
	rid, _ := syncengine.ParseReplicaID(en.ReplicaID)
	store := syncengine.NewMemStore()
	phone, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: db.Now, Rand: db.Rand, Store: store})
	must(b, err)
	var css []*syncengine.Changeset
	for _, id := range ids {
		r, err := db.RecordState(ctx, string(id))
		must(b, err)
		store.Put(r)
		cs, err := phone.Edit("w2", func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Moved on. ") })
		must(b, err)
		css = append(css, cs)
	}
	res, err := db.Sync(ctx, domain.SyncRequest{Device: dev, Person: person, Changesets: css, NoPull: true})
	must(b, err)
	if res.Quarantined != n {
		b.Fatalf("refused %d of %d", res.Quarantined, n)
	}
	for _, c := range []struct{ name, who string }{{"admin", "admin"}, {"supervisor", "s1"}} {
		scope := domain.Scope{All: true}
		if c.who != "admin" {
			p, err := db.Person(ctx, c.who)
			must(b, err)
			scope, err = db.ScopeOf(ctx, p)
			must(b, err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				items, err := db.Quarantine(ctx, domain.QuarantineFilter{Open: true, Limit: n, Reviewer: &scope})
				if err != nil || len(items) != n {
					b.Fatalf("%d items, %v", len(items), err)
				}
			}
		})
	}
}
