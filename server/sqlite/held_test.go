package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// TestHeldQueriesUseTheirIndexes guards the queries every accepted push,
// every held changeset and every pull with moves runs: a scan would bring
// back the cost of held changesets to unrelated pushes.
func TestHeldQueriesUseTheirIndexes(t *testing.T) {
	db := MustOpenDB(t)
	for _, tc := range []struct {
		name, query, want string
	}{
		{"wake held items", `SELECT quarantine_id FROM held_waits WHERE (record_id = 'r' AND replica_id = 'x') OR (record_id = '*' AND replica_id = '*')`, "USING PRIMARY KEY"},
		{"per-device bound", `SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM quarantine WHERE device_id = 'd' AND reviewed_at IS NULL`, "quarantine_device_open"},
		{"device's open item", `SELECT id, code, message FROM quarantine WHERE device_id = 'd' AND replica_id = 'x' AND start = 1 AND reviewed_at IS NULL`, "sqlite_autoindex_quarantine"},
		{"reindex a held item", `DELETE FROM held_waits WHERE quarantine_id = 1`, "held_waits_item"},
		{"where a moved record was", `SELECT e.from_team FROM scope_events e WHERE e.record_id = 'r' AND e.seq > 5 ORDER BY e.seq, e.id LIMIT 1`, "scope_events_record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN ` + tc.query)
			must(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				must(t, rows.Scan(&id, &parent, &unused, &detail))
				plan = append(plan, detail)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, tc.want) || strings.Contains(got, "SCAN quarantine") || strings.Contains(got, "SCAN held_waits") {
				t.Fatalf("plan %q, want %s", got, tc.want)
			}
		})
	}
}

// TestLegacyHeldItemsAreRetried: held changesets of a database older than
// held_waits (marked by migration 0050 as waiting for anything) are still
// retried, and applied, when what they wait for arrives.
func TestLegacyHeldItemsAreRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := sqlite.NewDB(path)
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	must(t, db.Open())
	mustOrg(t, db)
	ctx := context.Background()
	w := newTwoSaves(t, db)
	first, second, push := w.first, w.second, w.push
	if res := push(second); res.Quarantined != 1 {
		t.Fatalf("second save not held: %+v", res.Results)
	}
	// As migration 0050 leaves an item held before held_waits existed.
	_, err := db.SQL().Exec(`DELETE FROM held_waits; INSERT INTO held_waits SELECT '*', '*', id FROM quarantine`)
	must(t, err)
	if res := push(first); res.Accepted != 1 {
		t.Fatalf("first save: %+v", res.Results)
	}
	if q, _ := db.Quarantine(ctx, domain.QuarantineFilter{Open: true}); len(q) != 0 {
		t.Fatalf("legacy held item not retried when its dependency arrived: %+v", q)
	}
}

// twoSaves are w1's phone's saves, on db, of an encounter of team_a (first)
// and of an edit of it (second), neither sent: pushed alone, second is held.
type twoSaves struct {
	t             *testing.T
	db            *sqlite.DB
	dev           domain.Device
	person        domain.Person
	first, second *syncengine.Changeset
	id            syncengine.RecordID
}

func newTwoSaves(t *testing.T, db *sqlite.DB) *twoSaves {
	t.Helper()
	ctx := context.Background()
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	e, err := db.Enrol(ctx, code, "android")
	must(t, err)
	w := &twoSaves{t: t, db: db}
	w.dev, err = db.Device(ctx, e.DeviceID)
	must(t, err)
	w.person, err = db.Person(ctx, "w1")
	must(t, err)
	rid, _ := syncengine.ParseReplicaID(e.ReplicaID)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: db.Now, Rand: db.Rand, Store: syncengine.NewMemStore()})
	must(t, err)
	w.first, err = rep.Edit("w1", func(tx *syncengine.Txn) (err error) {
		if w.id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": db.Now().Add(-time.Hour)} {
			must(t, tx.Set(w.id, k, v))
		}
		return nil
	})
	must(t, err)
	w.second, err = rep.Edit("w1", func(tx *syncengine.Txn) error { return tx.Set(w.id, "concern_level", "high") })
	must(t, err)
	return w
}

func (w *twoSaves) push(cs *syncengine.Changeset) *domain.SyncResult {
	w.t.Helper()
	res, err := w.db.Sync(context.Background(), domain.SyncRequest{Device: w.dev, Person: w.person, Changesets: []*syncengine.Changeset{cs}, NoPull: true})
	must(w.t, err)
	return res
}
