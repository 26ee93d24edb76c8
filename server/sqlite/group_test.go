package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// groupPhone is an enrolled worker's device with one unsent encounter.
type groupPhone struct {
	dev    domain.Device
	person domain.Person
	cs     *syncengine.Changeset
}

func groupPhones(t *testing.T, db *sqlite.DB, n int) []groupPhone {
	t.Helper()
	ctx := context.Background()
	var out []groupPhone
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("gw%d", i)
		must(t, db.UpsertPerson(ctx, domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: "team_a"}))
		code, _, err := db.IssueEnrolmentCode(ctx, id, "s1")
		must(t, err)
		e, err := db.Enrol(ctx, code, "android")
		must(t, err)
		dev, err := db.Device(ctx, e.DeviceID)
		must(t, err)
		person, err := db.Person(ctx, id)
		must(t, err)
		rid, _ := syncengine.ParseReplicaID(e.ReplicaID)
		rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: db.Now, Rand: db.Rand, Store: syncengine.NewMemStore()})
		must(t, err)
		cs, err := rep.Edit(id, func(tx *syncengine.Txn) error {
			rec, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": db.Now().Add(-time.Hour)} {
				if err := tx.Set(rec, k, v); err != nil {
					return err
				}
			}
			return tx.InsertText(rec, "note", 0, "met at the park")
		})
		must(t, err)
		out = append(out, groupPhone{dev, person, cs})
	}
	return out
}

// TestGroupCommitIsolatesAFailingSync: syncs that wait together for the
// writer run in one transaction, and one that fails after all its writes
// leaves the others committed exactly once and keeps none of its own.
func TestGroupCommitIsolatesAFailingSync(t *testing.T) {
	const n = 5
	for _, tc := range []struct {
		name string
		bad  int
		lose bool // the fault takes the shared transaction with it
		// transactions run: one for the batch, then (lost) one per sync
		wantBatches int64
	}{
		{"first fails", 0, false, 1},
		{"middle fails", 2, false, 1},
		{"last fails", n - 1, false, 1},
		{"middle loses the transaction", 2, true, 1 + n},
		{"last loses the transaction", n - 1, true, 1 + n},
	} {
		bad := tc.bad
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpenDB(t)
			mustOrg(t, db)
			ctx := context.Background()
			phones := groupPhones(t, db, n)
			errBad := errors.New("injected fault")
			sqlite.SetSyncFault(db, tc.lose, func(req domain.SyncRequest) error {
				if req.Device.ID == phones[bad].dev.ID {
					return errBad
				}
				return nil
			})
			// Hold the writer so that all n syncs queue up, then let them go.
			hold, err := db.BeginTx(ctx, nil)
			must(t, err)
			before := sqlite.GroupBatches(db)
			results := make([]*domain.SyncResult, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, p := range phones {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: []*syncengine.Changeset{p.cs}})
				}()
			}
			for sqlite.GroupWaiting(db) < n {
				time.Sleep(time.Millisecond)
			}
			must(t, hold.Rollback())
			wg.Wait()
			if got := sqlite.GroupBatches(db) - before; got != tc.wantBatches {
				t.Fatalf("%d syncs ran in %d transactions, want %d", n, got, tc.wantBatches)
			}
			for i, p := range phones {
				var logged, records, audited int
				must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM changesets WHERE replica_id = ?`, p.cs.Replica.String()).Scan(&logged))
				must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM records WHERE id IN (SELECT record_id FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq WHERE c.replica_id = ?)`, p.cs.Replica.String()).Scan(&records))
				must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE device_id = ? AND action = 'sync'`, p.dev.ID).Scan(&audited))
				var lastSync *string
				must(t, db.SQL().QueryRow(`SELECT last_sync_at FROM devices WHERE id = ?`, p.dev.ID).Scan(&lastSync))
				// The search index is written at the end of each sync's
				// savepoint (search.go): a failed sync leaves no entry, and
				// the next one does not inherit its queue.
				var indexed int
				must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM search_rows WHERE record_id = ?`, string(p.cs.Records()[0])).Scan(&indexed))
				if want := map[bool]int{true: 0, false: 1}[i == bad]; indexed != want {
					t.Errorf("sync %d: %d search index rows, want %d", i, indexed, want)
				}
				if i == bad {
					if !errors.Is(errs[i], errBad) {
						t.Errorf("failing sync: err %v, want the injected fault", errs[i])
					}
					if logged != 0 || records != 0 || audited != 0 || lastSync != nil {
						t.Errorf("failing sync kept writes: %d changesets, %d records, %d audit rows, last sync %v", logged, records, audited, lastSync)
					}
					continue
				}
				if errs[i] != nil || results[i].Accepted != 1 {
					t.Fatalf("sync %d beside a failing one: %v %+v", i, errs[i], results[i])
				}
				if logged != 1 || records != 1 || audited != 1 || lastSync == nil {
					t.Errorf("sync %d: %d changesets, %d records, %d audit rows, last sync %v; want 1, 1, 1, set", i, logged, records, audited, lastSync)
				}
			}
			if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
				t.Fatalf("audit chain after a rolled-back sync: %+v %v", v, err)
			}
			// Sent again, the accepted ones are duplicates and the failed
			// one is accepted: each is stored exactly once.
			sqlite.SetSyncFault(db, false, nil)
			for i, p := range phones {
				res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: []*syncengine.Changeset{p.cs}, NoPull: true})
				must(t, err)
				if want := i == bad; (res.Accepted == 1) != want || (res.Duplicates == 1) == want {
					t.Errorf("sync %d again: %+v, want accepted %v", i, res.Results, want)
				}
			}
		})
	}
}

// TestGroupCommitIndexesOnce: the syncs of one batch reach the full-text
// index together, as one FTS5 segment. FTS5 writes its pending terms out at
// every SAVEPOINT, so indexing each sync inside its own savepoint wrote a
// segment per sync (and merged them again later).
func TestGroupCommitIndexesOnce(t *testing.T) {
	const n = 6
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	phones := groupPhones(t, db, n)
	// No merging, so the segments written are the segments seen.
	_, err := db.SQL().Exec(`INSERT INTO record_search (record_search, rank) VALUES ('automerge', 0)`)
	must(t, err)
	segments := func() (n int) {
		must(t, db.SQL().QueryRow(`SELECT COUNT(DISTINCT segid) FROM record_search_idx`).Scan(&n))
		return n
	}
	before := segments()
	hold, err := db.BeginTx(ctx, nil)
	must(t, err)
	batches := sqlite.GroupBatches(db)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: []*syncengine.Changeset{p.cs}})
		}()
	}
	for sqlite.GroupWaiting(db) < n {
		time.Sleep(time.Millisecond)
	}
	must(t, hold.Rollback())
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if got := sqlite.GroupBatches(db) - batches; got != 1 {
		t.Fatalf("%d syncs ran in %d transactions, want 1", n, got)
	}
	if got := segments() - before; got != 1 {
		t.Errorf("one batch of %d syncs wrote %d index segments, want 1", n, got)
	}
	// Every sync's encounter is found.
	_, total, err := db.Search(ctx, domain.SearchQuery{Text: "park", All: true})
	must(t, err)
	if total != n {
		t.Errorf("search finds %d of the batch's %d encounters", total, n)
	}
}
