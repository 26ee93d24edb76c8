package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// areaRules asks for one notification per change of an encounter's area,
// named after the record and the area, so a change settled twice or never
// shows in the outbox.
var areaRules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
	if c.After.Type != syncengine.TypeEncounter || (c.Before != nil && c.Before.String("area") == c.After.String("area")) {
		return domain.Intents{}, nil
	}
	return domain.Intents{Notify: []domain.Notification{{ID: fmt.Sprintf("n_%s_%s", c.After.ID, c.After.String("area")),
		RecipientKind: domain.RecipientPerson, RecipientID: "w1", Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}}}, nil
})

// behindDB is orgDB with areaRules and a background flush that never
// comes by itself, so a test decides when the set is written.
func behindDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "db.sqlite"))
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	db.Rules = areaRules
	db.BehindDelay = time.Hour
	must(tb, db.Open())
	tb.Cleanup(func() { db.Close() })
	mustOrg(tb, db)
	return db
}

// reopen opens db's file again as a new process would.
func reopen(tb testing.TB, db *sqlite.DB) *sqlite.DB {
	tb.Helper()
	again := sqlite.NewDB(db.Path)
	again.Now, again.Rules, again.BehindDelay = db.Now, db.Rules, db.BehindDelay
	must(tb, again.Open())
	tb.Cleanup(func() { again.Close() })
	return again
}

// outbox lists the outbox's notification ids, in order.
func outbox(tb testing.TB, db *sqlite.DB) []string {
	tb.Helper()
	rows, err := db.SQL().Query(`SELECT id FROM push_outbox ORDER BY id`)
	must(tb, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		must(tb, rows.Scan(&id))
		ids = append(ids, id)
	}
	must(tb, rows.Err())
	return ids
}

// TestWriteBehindSurvivesACrash: a process killed with pushes in its
// write-behind set loses none of them. The next Open stores their records,
// indexes them and settles them, once: the notifications the rules asked
// for are there, none twice, whatever was stored at once around them.
func TestWriteBehindSurvivesACrash(t *testing.T) {
	type step struct {
		kind  string   // "push": push-only; "sync": push and pull; "pull": another phone's pull
		areas []string // one changeset each, in one request
	}
	push := func(areas ...string) step { return step{"push", areas} }
	tests := []struct {
		name    string
		steps   []step
		pending bool // the set holds something when the process dies
		crash   bool
	}{
		{"pushed in three requests, killed", []step{push("a1"), push("a2"), push("a3")}, true, true},
		{"pushed in one request, killed", []step{push("a1", "a2", "a3")}, true, true},
		{"written for a pull, pushed again, killed", []step{push("a1"), {"pull", nil}, push("a2")}, true, true},
		{"stored at once after the set, killed", []step{push("a1"), {"sync", []string{"a2"}}}, false, true},
		{"stored at once, then pushed, killed", []step{{"sync", []string{"a1"}}, push("a2")}, true, true},
		{"written for a pull, killed", []step{push("a1"), push("a2"), {"pull", nil}}, false, true},
		{"closed", []step{push("a1"), push("a2")}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, ctx := behindDB(t), context.Background()
			phones := groupPhones(t, db, 2)
			rep, _ := phones[0].replica(t, db)
			var enc syncengine.RecordID
			var want []string
			last := ""
			for _, s := range tt.steps {
				var css []*syncengine.Changeset
				for i, area := range s.areas {
					note := ""
					if enc == "" && i == 0 {
						note = "met by the canal"
					}
					css = append(css, setArea(t, db, rep, &enc, area, note))
					want = append(want, fmt.Sprintf("n_%s_%s", enc, area))
					last = area
				}
				req := domain.SyncRequest{Device: phones[0].dev, Person: phones[0].person, Changesets: css, NoPull: s.kind == "push"}
				if s.kind == "pull" {
					req = domain.SyncRequest{Device: phones[1].dev, Person: phones[1].person}
				}
				res, err := db.Sync(ctx, req)
				must(t, err)
				if res.Accepted != len(css) {
					t.Fatalf("step %s: accepted %d of %d: %+v", s.kind, res.Accepted, len(css), res.Results)
				}
			}
			if got := sqlite.BehindPending(db); got != tt.pending {
				t.Fatalf("write-behind set pending %v at the end, want %v", got, tt.pending)
			}
			if tt.pending {
				// The record really waited: its stored row is older than the log.
				var behind bool
				must(t, sqlite.RawSQL(db).QueryRow(`SELECT (SELECT MAX(seq) FROM changesets) > COALESCE((SELECT updated_seq FROM records WHERE id = ?), 0)`, string(enc)).Scan(&behind))
				if !behind {
					t.Fatal("the last push's record was stored with it")
				}
			}
			if tt.crash {
				sqlite.Crash(db)
			} else {
				must(t, db.Close())
			}
			again := reopen(t, db)
			if sqlite.BehindPending(again) {
				t.Fatal("write-behind set pending after Open")
			}
			rec, err := again.RecordState(ctx, string(enc))
			must(t, err)
			if rec == nil || rec.String("area") != last {
				t.Fatalf("after reopening, the encounter is %v, want area %q", rec, last)
			}
			slices.Sort(want)
			if got := outbox(t, again); !slices.Equal(got, want) {
				t.Errorf("after reopening, the outbox holds %v, want %v", got, want)
			}
			_, total, err := again.Search(ctx, domain.SearchQuery{Text: "canal", All: true})
			must(t, err)
			if total != 1 {
				t.Errorf("after reopening, search finds %d encounters, want 1", total)
			}
			// A phone's pull receives it.
			res, err := again.Sync(ctx, domain.SyncRequest{Device: phones[1].dev, Person: phones[1].person})
			must(t, err)
			if len(res.Changesets)+len(res.Snapshots) == 0 {
				t.Errorf("after reopening, a pull receives nothing")
			}
		})
	}
}

// TestWriteBehindReadersSeeEveryPush: every way of reading the store sees
// a push-only sync's records and notifications at once, as if they had
// been written with it.
func TestWriteBehindReadersSeeEveryPush(t *testing.T) {
	tests := []struct {
		name string
		sees func(t *testing.T, db *sqlite.DB, p groupPhone, other groupPhone, enc syncengine.RecordID) bool
	}{
		{"the portal's record", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, enc syncengine.RecordID) bool {
			rec, err := db.RecordState(context.Background(), string(enc))
			must(t, err)
			return rec != nil && rec.String("area") == "park"
		}},
		{"the filed record", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, enc syncengine.RecordID) bool {
			rec, f, err := db.FiledRecord(context.Background(), string(enc))
			must(t, err)
			return rec != nil && f.Team == "team_a"
		}},
		{"search", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, _ syncengine.RecordID) bool {
			_, total, err := db.Search(context.Background(), domain.SearchQuery{Text: "park", All: true})
			must(t, err)
			return total == 1
		}},
		{"another phone's pull", func(t *testing.T, db *sqlite.DB, _, other groupPhone, _ syncengine.RecordID) bool {
			res, err := db.Sync(context.Background(), domain.SyncRequest{Device: other.dev, Person: other.person})
			must(t, err)
			return len(res.Changesets)+len(res.Snapshots) == 1
		}},
		{"the log's counts", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, _ syncengine.RecordID) bool {
			s, err := db.Stats(context.Background())
			must(t, err)
			return s.Records == 1
		}},
		{"the outbox", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, _ syncengine.RecordID) bool {
			n, err := db.Outbox().Counts(context.Background())
			must(t, err)
			return n[domain.StatePending] == 1
		}},
		{"the notification sender", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, _ syncengine.RecordID) bool {
			cs, err := db.Outbox().Claim(context.Background(), "test", db.Now().Add(time.Hour), time.Minute, 10)
			must(t, err)
			return len(cs) == 1
		}},
		{"a write transaction", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, enc syncengine.RecordID) bool {
			var area string
			_, err := db.ServerEdit(context.Background(), "s1", func(tx *syncengine.Txn) error {
				rec, err := tx.Record(enc)
				if err != nil || rec == nil {
					return fmt.Errorf("record %s not found: %v", enc, err)
				}
				area = rec.String("area")
				return tx.Set(enc, "area", "checked")
			})
			must(t, err)
			return area == "park"
		}},
		{"rows looked at directly", func(t *testing.T, db *sqlite.DB, _, _ groupPhone, enc syncengine.RecordID) bool {
			var n int
			must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM records WHERE id = ?`, string(enc)).Scan(&n))
			return n == 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := behindDB(t)
			db.Rules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
				return domain.Intents{Notify: []domain.Notification{{ID: "n_" + string(c.After.ID), RecipientKind: domain.RecipientPerson,
					RecipientID: "w1", Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}}}, nil
			})
			phones := groupPhones(t, db, 2)
			phones[0].push(t, db, []*syncengine.Changeset{phones[0].cs})
			if !sqlite.BehindPending(db) {
				t.Fatal("a push-only sync left nothing to the write-behind set")
			}
			if !tt.sees(t, db, phones[0], phones[1], phones[0].cs.Records()[0]) {
				t.Errorf("%s does not see a push-only sync's record", tt.name)
			}
		})
	}
}

// TestWriteBehindUndoneWithItsSync: a grouped sync rolled back to its
// savepoint, or a batch whose transaction is lost or whose commit fails
// (its syncs then run again alone), leaves the write-behind set as it was:
// nothing of a failed sync is ever written from it, nothing of the others
// is lost or settled twice, and a set a rolled-back sync had written is
// there again.
func TestWriteBehindUndoneWithItsSync(t *testing.T) {
	const n = 4
	tests := []struct {
		name       string
		bad        int // -1: none
		lose       bool
		commitFail bool
	}{
		{"the pull that writes the set fails", 0, false, false},
		{"a push after it fails", 2, false, false},
		{"the last push fails", n - 1, false, false},
		{"a push loses the transaction", 2, true, false},
		{"the batch's commit fails", -1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, ctx := behindDB(t), context.Background()
			db.Rules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
				return domain.Intents{Notify: []domain.Notification{{ID: "n_" + string(c.After.ID), RecipientKind: domain.RecipientPerson,
					RecipientID: "w1", Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}}}, nil
			})
			phones := groupPhones(t, db, n+1)
			// Waiting in the set before the batch: the first sync (with a
			// pull) writes it inside its savepoint.
			early := phones[n]
			early.push(t, db, []*syncengine.Changeset{early.cs})
			errBad := errors.New("injected fault")
			if tt.bad >= 0 {
				sqlite.SetSyncFault(db, tt.lose, func(req domain.SyncRequest) error {
					if req.Device.ID == phones[tt.bad].dev.ID {
						return errBad
					}
					return nil
				})
			}
			var once sync.Once
			if tt.commitFail {
				sqlite.SetCommitFault(db, func() (err error) {
					once.Do(func() { err = errors.New("injected commit fault") })
					return err
				})
			}
			hold, err := db.BeginTx(ctx, nil)
			must(t, err)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, p := range phones[:n] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: []*syncengine.Changeset{p.cs}, NoPull: i > 0})
				}()
			}
			for sqlite.GroupWaiting(db) < n {
				time.Sleep(time.Millisecond)
			}
			must(t, hold.Rollback())
			wg.Wait()
			sqlite.SetSyncFault(db, false, nil)
			sqlite.SetCommitFault(db, nil)
			var want []string
			for i, p := range phones {
				rec := string(p.cs.Records()[0])
				var stored int
				must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM records WHERE id = ?`, rec).Scan(&stored))
				if i == tt.bad {
					if !errors.Is(errs[i], errBad) {
						t.Errorf("failing sync: err %v, want the injected fault", errs[i])
					}
					if stored != 0 {
						t.Errorf("the failing sync's record was stored")
					}
					continue
				}
				if i < n && errs[i] != nil {
					t.Fatalf("sync %d: %v", i, errs[i])
				}
				if stored != 1 {
					t.Errorf("sync %d: its record stored %d times, want once", i, stored)
				}
				want = append(want, "n_"+rec)
			}
			slices.Sort(want)
			if got := outbox(t, db); !slices.Equal(got, want) {
				t.Errorf("outbox %v, want %v", got, want)
			}
		})
	}
}

// TestWriteBehindBatchesAcrossRequests: push-only syncs in a row are
// written together, not one by one; anything else writes them first.
func TestWriteBehindBatchesAcrossRequests(t *testing.T) {
	db := behindDB(t)
	phones := groupPhones(t, db, 5)
	before := sqlite.BehindFlushes(db)
	for _, p := range phones[:4] {
		p.push(t, db, []*syncengine.Changeset{p.cs})
		// The background checkpoint is this process's own: it is not
		// another process's commit (seeOthers).
		sqlite.CheckpointNow(db)
	}
	if got := sqlite.BehindFlushes(db) - before; got != 0 {
		t.Fatalf("4 push-only syncs flushed %d times, want 0", got)
	}
	if got := sqlite.BehindReplays(db); got != 0 {
		t.Fatalf("the log was applied again %d times with no other process", got)
	}
	must(t, db.FlushBehind(context.Background()))
	if got := sqlite.BehindFlushes(db) - before; got != 1 {
		t.Fatalf("4 push-only syncs were written in %d flushes, want 1", got)
	}
	var n int
	must(t, sqlite.RawSQL(db).QueryRow(`SELECT COUNT(*) FROM records`).Scan(&n))
	if n != 4 {
		t.Fatalf("%d records stored, want 4", n)
	}
}

// TestWriteBehindWokenHeldChanges: a push-only sync that wakes held
// changesets is stored in its own transaction, after what the set held,
// and so is everything the woken ones bring; nothing is lost if the
// process dies right after.
func TestWriteBehindWokenHeldChanges(t *testing.T) {
	db, ctx := behindDB(t), context.Background()
	phones := groupPhones(t, db, 2)
	phones[1].push(t, db, []*syncengine.Changeset{phones[1].cs})
	rep, _ := phones[0].replica(t, db)
	var enc syncengine.RecordID
	first := setArea(t, db, rep, &enc, "a1", "met by the canal")
	second := setArea(t, db, rep, &enc, "a2", "")
	res, err := db.Sync(ctx, domain.SyncRequest{Device: phones[0].dev, Person: phones[0].person, Changesets: []*syncengine.Changeset{second}, NoPull: true})
	must(t, err)
	if res.Accepted != 0 {
		t.Fatalf("a changeset whose record is missing was accepted: %+v", res.Results)
	}
	phones[0].push(t, db, []*syncengine.Changeset{first})
	if sqlite.BehindPending(db) {
		t.Fatal("a push that woke held changesets was left to the write-behind set")
	}
	sqlite.Crash(db)
	again := reopen(t, db)
	rec, err := again.RecordState(ctx, string(enc))
	must(t, err)
	if rec == nil || rec.String("area") != "a2" {
		t.Fatalf("the woken change is not stored: %v", rec)
	}
	other, err := again.RecordState(ctx, string(phones[1].cs.Records()[0]))
	must(t, err)
	if other == nil {
		t.Fatal("the record the set held before is lost")
	}
	want := []string{fmt.Sprintf("n_%s_a1", enc), fmt.Sprintf("n_%s_a2", enc), fmt.Sprintf("n_%s_park", phones[1].cs.Records()[0])}
	slices.Sort(want)
	if got := outbox(t, again); !slices.Equal(got, want) {
		t.Errorf("outbox %v, want %v", got, want)
	}
}

// TestWriteBehindRolledBackWrite: a write transaction that wrote the set
// and then failed puts it back: nothing of it is lost.
func TestWriteBehindRolledBackWrite(t *testing.T) {
	db, ctx := behindDB(t), context.Background()
	phones := groupPhones(t, db, 1)
	phones[0].push(t, db, []*syncengine.Changeset{phones[0].cs})
	errEdit := errors.New("edit refused")
	if _, err := db.ServerEdit(ctx, "s1", func(*syncengine.Txn) error { return errEdit }); !errors.Is(err, errEdit) {
		t.Fatalf("edit: %v", err)
	}
	if !sqlite.BehindPending(db) {
		t.Fatal("a rolled-back transaction emptied the write-behind set")
	}
	rec, err := db.RecordState(ctx, string(phones[0].cs.Records()[0]))
	must(t, err)
	if rec == nil {
		t.Fatal("the pushed record is lost")
	}
	if got := outbox(t, db); len(got) != 1 {
		t.Errorf("outbox %v, want one notification", got)
	}
}

// TestWriteBehindBoundAndDelay: the set is written by the push that fills
// it to its bound, and in the background once its oldest record has waited.
func TestWriteBehindBoundAndDelay(t *testing.T) {
	t.Run("bound", func(t *testing.T) {
		db := behindDB(t)
		db.BehindRecords = 3
		phones := groupPhones(t, db, 4)
		for i, p := range phones {
			p.push(t, db, []*syncengine.Changeset{p.cs})
			if want := i != 2; sqlite.BehindPending(db) != want {
				t.Fatalf("after push %d of a set bounded at 3 records: pending %v, want %v", i+1, !want, want)
			}
		}
	})
	t.Run("delay", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db.sqlite")
		db := sqlite.NewDB(path)
		db.Rules, db.BehindDelay = areaRules, time.Millisecond
		must(t, db.Open())
		t.Cleanup(func() { db.Close() })
		mustOrg(t, db)
		phones := groupPhones(t, db, 1)
		phones[0].push(t, db, []*syncengine.Changeset{phones[0].cs})
		for deadline := time.Now().Add(20 * time.Second); sqlite.BehindPending(db); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the write-behind set was never written in the background")
			}
		}
		var n int
		must(t, sqlite.RawSQL(db).QueryRow(`SELECT COUNT(*) FROM records`).Scan(&n))
		if n != 1 {
			t.Fatalf("%d records stored in the background, want 1", n)
		}
	})
}

// TestPropertyWriteBehindIsInvisible: the same changesets, pushed in the
// same requests, leave the same records, filings, search results and
// notifications whether each sync is push-only (written behind, with
// flushes, other phones' pulls and crashes at random points) or pulls too
// (stored at once).
func TestPropertyWriteBehindIsInvisible(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := mrand.New(mrand.NewSource(seed))
			ctx := context.Background()
			const phones = 3
			ids := make([]syncengine.ReplicaID, phones)
			reps := make([]*syncengine.Replica, phones)
			for i := range ids {
				var err error
				ids[i], err = syncengine.NewReplicaID(rng)
				must(t, err)
			}
			ref, wb := behindDB(t), behindDB(t)
			devsOf := func(db *sqlite.DB) []groupPhone {
				ps := groupPhones(t, db, phones+1)
				for i := range ids {
					_, err := db.SQL().Exec(`UPDATE devices SET replica_id = ? WHERE id = ?`, ids[i].String(), ps[i].dev.ID)
					must(t, err)
					ps[i].dev.ReplicaID = ids[i].String()
				}
				return ps
			}
			refPhones, wbPhones := devsOf(ref), devsOf(wb)
			for i := range reps {
				var err error
				reps[i], err = syncengine.NewReplica(syncengine.Config{ID: ids[i], Now: ref.Now, Rand: rng, Store: syncengine.NewMemStore()})
				must(t, err)
			}
			var recs [phones][]syncengine.RecordID
			words := []string{"canal", "park", "bridge", "market"}
			for step := 0; step < 40; step++ {
				i := rng.Intn(phones)
				author := fmt.Sprintf("gw%d", i)
				var css []*syncengine.Changeset
				for range 1 + rng.Intn(3) {
					cs, err := reps[i].Edit(author, func(tx *syncengine.Txn) error {
						if len(recs[i]) == 0 || rng.Intn(4) == 0 {
							id, err := tx.Create(syncengine.TypeEncounter)
							if err != nil {
								return err
							}
							recs[i] = append(recs[i], id)
							must(t, tx.Set(id, "team_id", "team_a"))
							must(t, tx.Set(id, "started_at", ref.Now().Add(-time.Hour)))
							must(t, tx.Set(id, "area", "a0"))
							return tx.InsertText(id, "note", 0, words[rng.Intn(len(words))]+" ")
						}
						id := recs[i][rng.Intn(len(recs[i]))]
						if rng.Intn(2) == 0 {
							return tx.InsertText(id, "note", 0, words[rng.Intn(len(words))]+" ")
						}
						return tx.Set(id, "area", fmt.Sprintf("a%d", rng.Intn(5)))
					})
					must(t, err)
					css = append(css, cs)
				}
				_, err := ref.Sync(ctx, domain.SyncRequest{Device: refPhones[i].dev, Person: refPhones[i].person, Changesets: css})
				must(t, err)
				res, err := wb.Sync(ctx, domain.SyncRequest{Device: wbPhones[i].dev, Person: wbPhones[i].person, Changesets: css, NoPull: rng.Intn(4) != 0})
				must(t, err)
				if res.Accepted != len(css) {
					t.Fatalf("step %d: accepted %d of %d: %+v", step, res.Accepted, len(css), res.Results)
				}
				switch rng.Intn(8) {
				case 0:
					sqlite.Crash(wb)
					wb = reopen(t, wb)
				case 1:
					must(t, wb.FlushBehind(ctx))
				case 2:
					other := wbPhones[phones]
					_, err := wb.Sync(ctx, domain.SyncRequest{Device: other.dev, Person: other.person})
					must(t, err)
				}
			}
			type stored struct {
				state             string
				team, service, yp string
				seq               int64
			}
			rows := func(db *sqlite.DB) map[string]stored {
				out := map[string]stored{}
				rs, err := db.SQL().Query(`SELECT id, state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, ''), updated_seq FROM records`)
				must(t, err)
				defer rs.Close()
				for rs.Next() {
					var id string
					var s stored
					must(t, rs.Scan(&id, &s.state, &s.team, &s.service, &s.yp, &s.seq))
					out[id] = s
				}
				must(t, rs.Err())
				return out
			}
			want, got := rows(ref), rows(wb)
			if len(got) != len(want) {
				t.Fatalf("%d records stored, want %d", len(got), len(want))
			}
			for id, w := range want {
				g := got[id]
				// Log sequences differ where a pull of the other phone
				// took none; the state and filing must not.
				if g.state != w.state || g.team != w.team || g.service != w.service || g.yp != w.yp {
					t.Errorf("record %s differs from the one stored at once", id)
				}
			}
			if g, w := outbox(t, wb), outbox(t, ref); !slices.Equal(g, w) {
				t.Errorf("outbox %v, want %v", g, w)
			}
			for _, word := range words {
				_, gn, err := wb.Search(ctx, domain.SearchQuery{Text: word, All: true})
				must(t, err)
				_, wn, err := ref.Search(ctx, domain.SearchQuery{Text: word, All: true})
				must(t, err)
				if gn != wn {
					t.Errorf("search %q finds %d, want %d", word, gn, wn)
				}
			}
		})
	}
}

// TestWriteBehindAnotherProcess: another process on the same file (a tool
// beside the server) that writes a record the set holds, from the row as it
// was, loses nothing when the set is written after it, and the set never
// overwrites its row with a state made without its change.
func TestWriteBehindAnotherProcess(t *testing.T) {
	a, ctx := behindDB(t), context.Background()
	phones := groupPhones(t, a, 2)
	rep0, _ := phones[0].replica(t, a)
	rep1, _ := phones[1].replica(t, a)
	var enc syncengine.RecordID
	created := setArea(t, a, rep0, &enc, "a0", "")
	_, err := a.Sync(ctx, domain.SyncRequest{Device: phones[0].dev, Person: phones[0].person, Changesets: []*syncengine.Changeset{created}})
	must(t, err)
	_, err = rep1.Apply(created)
	must(t, err)
	b := reopen(t, a) // the other process
	// This process keeps the area's change in its set...
	phones[0].push(t, a, []*syncengine.Changeset{setArea(t, a, rep0, &enc, "a1", "")})
	// ...while the other one stores a note to the same record at once.
	note, err := rep1.Edit("gw1", func(tx *syncengine.Txn) error { return tx.InsertText(enc, "note", 0, "met by the canal") })
	must(t, err)
	res, err := b.Sync(ctx, domain.SyncRequest{Device: phones[1].dev, Person: phones[1].person, Changesets: []*syncengine.Changeset{note}})
	must(t, err)
	if res.Accepted != 1 {
		t.Fatalf("the other process's push: %+v", res.Results)
	}
	must(t, a.FlushBehind(ctx))
	if sqlite.BehindReplays(a) == 0 {
		t.Error("the other process's commit went unnoticed")
	}
	for name, db := range map[string]*sqlite.DB{"this process": a, "the other process": b} {
		rec, err := db.RecordState(ctx, string(enc))
		must(t, err)
		if rec == nil || rec.String("area") != "a1" || rec.String("note") != "met by the canal" {
			t.Errorf("%s reads %v, want area a1 and the other process's note", name, rec)
		}
	}
}

// TestWriteBehindHeldSavedPast: a held changeset sent again in a push-only
// sync, with what it waited for, after its phone saved past it (the record
// holds a later changeset of the same replica), is stored at once: replayed
// after a crash it would look applied already and be lost.
func TestWriteBehindHeldSavedPast(t *testing.T) {
	db, ctx := behindDB(t), context.Background()
	p := groupPhones(t, db, 1)[0]
	rep, st := p.replica(t, db)
	var enc, other syncengine.RecordID
	p.push(t, db, []*syncengine.Changeset{setArea(t, db, rep, &enc, "a1", "met by the canal")})
	lost := setArea(t, db, rep, &other, "b1", "")
	held, err := rep.Edit("gw0", func(tx *syncengine.Txn) error {
		if err := tx.Set(other, "area", "b2"); err != nil {
			return err
		}
		return tx.InsertText(enc, "note", 0, "HELD ")
	})
	must(t, err)
	res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: []*syncengine.Changeset{held}, NoPull: true})
	must(t, err)
	if res.Results[0].Code != domain.EMISSINGDEP {
		t.Fatalf("a changeset before the one it depends on: %+v", res.Results)
	}
	// The phone drops it, as the SDK does, and saves past it.
	stored, err := db.RecordState(ctx, string(enc))
	must(t, err)
	st.Put(stored)
	st.Drop(other)
	p.push(t, db, []*syncengine.Changeset{setArea(t, db, rep, &enc, "a2", "Later: ")})
	p.push(t, db, []*syncengine.Changeset{lost, held})
	sqlite.Crash(db)
	again := reopen(t, db)
	rec, err := again.RecordState(ctx, string(enc))
	must(t, err)
	if rec == nil || rec.String("note") != "Later: HELD met by the canal" && rec.String("note") != "HELD Later: met by the canal" {
		t.Fatalf("after a crash the note is %q", rec.String("note"))
	}
}
