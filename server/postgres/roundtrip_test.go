package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/syncengine"
)

// roundTrips counts the round trips to Postgres made with a context it
// marked (a batch is one, whatever it holds), so the audit sealer's own
// transactions in the background are not counted.
type roundTrips struct {
	n   atomic.Int64
	mu  sync.Mutex
	sql map[string]int // statements sent alone, by text
}

type countedKey struct{}

func (r *roundTrips) counting(ctx context.Context) context.Context {
	return context.WithValue(ctx, countedKey{}, true)
}

func (r *roundTrips) count(ctx context.Context) {
	if ctx.Value(countedKey{}) != nil {
		r.n.Add(1)
	}
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if ctx.Value(countedKey{}) != nil {
		r.mu.Lock()
		if r.sql == nil {
			r.sql = map[string]int{}
		}
		r.sql[strings.Join(strings.Fields(d.SQL), " ")]++
		r.mu.Unlock()
	}
	r.count(ctx)
	return ctx
}

// repeated lists the statements sent alone more than once.
func (r *roundTrips) repeated() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for q, n := range r.sql {
		if n > 1 {
			out = append(out, fmt.Sprintf("%d× %.120s", n, q))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.count(ctx)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// A push request's round trips to Postgres do not grow with its changesets
// (each is a trip to another process, and a page carries 200): the
// request's lookups, the records its filing references name, its records,
// log rows, audit rows and the rules' intents go in a fixed number of
// batches. The rules' follow-ups each read the record they create first,
// one trip per changeset at most.
func TestPushRoundTripsDoNotGrowWithChangesets(t *testing.T) {
	encounters := func(p *phone, i int, _ []syncengine.RecordID) {
		var id syncengine.RecordID
		p.edit(func(tx *syncengine.Txn) (err error) { id, err = encounter(tx, fmt.Sprintf("Visit %d.", i)); return err })
		p.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Again: ") })
	}
	for _, tc := range []struct {
		name  string
		rules domain.Rules
		// youngPeople are stored, in a request not counted, before the one
		// counted; each changeset i then may refer to youngPeople[i].
		youngPeople bool
		edit        func(p *phone, i int, yps []syncengine.RecordID)
		// perChangeset is the most each further changeset may add.
		perChangeset float64
	}{
		{"encounters", nil, false, encounters, 0},
		{"encounters, the rules writing a follow-up and a notification for each", followUps, false, encounters, 1.1},
		{"referrals, each of another stored young person", nil, true, func(p *phone, i int, yps []syncengine.RecordID) {
			p.edit(func(tx *syncengine.Txn) error {
				ref, err := tx.Create(syncengine.TypeReferral)
				if err != nil {
					return err
				}
				for k, v := range map[string]any{"team_id": "team_a", "young_person_id": string(yps[i]), "service_id": "svc_housing",
					"urgency": "soon", "consent": "given", "status": "draft"} {
					if err := tx.Set(ref, k, v); err != nil {
						return err
					}
				}
				return tx.InsertText(ref, "reason", 0, "Sofa surfing.")
			})
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trips := map[int]int64{}
			var rt *roundTrips
			for _, n := range []int{5, 45} {
				rt = pushRoundTrips(t, tc.rules, n, tc.youngPeople, tc.edit)
				trips[n] = rt.n.Load()
			}
			grew := float64(trips[45]-trips[5]) / 40
			t.Logf("round trips: %d for 5 changesets, %d for 45", trips[5], trips[45])
			if grew > tc.perChangeset {
				t.Fatalf("each further changeset added %.2f round trips (5 changesets: %d, 45: %d); want at most %.1f; statements sent more than once for 45:\n%s",
					grew, trips[5], trips[45], tc.perChangeset, rt.repeated())
			}
		})
	}
}

// tracedStore is a fresh store whose statements rt sees, with team_a's
// worker w_a and supervisor sup_a.
func tracedStore(t *testing.T) (*postgres.DB, *roundTrips) {
	t.Helper()
	ctx := context.Background()
	rt := &roundTrips{}
	db := postgres.NewDB(pgtest.URL(t))
	now := time.Now()
	db.Now = func() time.Time { return now }
	postgres.SetTracer(db, rt)
	must(t, db.Open(ctx))
	t.Cleanup(func() { db.Close() })
	must(t, db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, db.UpsertPeople(ctx, []domain.Person{{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a"},
		{ID: "sup_a", Name: "Alex Supervisor", Role: domain.RoleSupervisor, TeamID: "team_a"}}))
	return db, rt
}

// pushRoundTrips makes n edits with edit and pushes them in one request to
// a fresh store, counting that request's round trips.
func pushRoundTrips(t *testing.T, rules domain.Rules, n int, youngPeople bool, edit func(p *phone, i int, yps []syncengine.RecordID)) *roundTrips {
	t.Helper()
	ctx := context.Background()
	db, rt := tracedStore(t)
	must(t, db.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", SharedFields: []string{"reason"}}))
	db.Rules = rules
	p := enrol(t, db, "w_a")
	var yps []syncengine.RecordID
	if youngPeople {
		for i := range n {
			p.edit(func(tx *syncengine.Txn) error {
				yp, err := tx.Create(syncengine.TypeYoungPerson)
				yps = append(yps, yp)
				if err == nil {
					err = tx.Set(yp, "team_id", "team_a")
				}
				if err == nil {
					err = tx.Set(yp, "known_as", fmt.Sprintf("Jamie %d", i))
				}
				return err
			})
		}
		res, err := p.sync(db, true)
		must(t, err)
		if res.Accepted != n {
			t.Fatalf("young people: accepted %d of %d: %+v", res.Accepted, n, res.Results)
		}
	}
	for i := range n {
		edit(p, i, yps)
	}
	want := len(p.outbox)
	dev, person, err := db.Authenticate(ctx, p.en.Credential)
	must(t, err)
	res, err := db.Sync(rt.counting(ctx), domain.SyncRequest{Device: dev, Person: person, Changesets: p.outbox, NoPull: true})
	must(t, err)
	if res.Accepted != want {
		t.Fatalf("accepted %d of %d changesets: %+v", res.Accepted, want, res.Results)
	}
	return rt
}

// Statements are prepared once per connection and kept (pgx's statement
// cache, its default unless the URL asks otherwise): the push's statements
// are the same text whatever their row counts (arrays, unnest), so each is
// parsed and planned once per connection, not once per request.
func TestStatementsArePreparedAndKept(t *testing.T) {
	now := time.Now()
	db := openDB(t, pgtest.URL(t), &now)
	cfg := db.Pool().Config().ConnConfig
	if cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement || cfg.StatementCacheCapacity == 0 {
		t.Fatalf("query exec mode %v, statement cache %d: want cached prepared statements", cfg.DefaultQueryExecMode, cfg.StatementCacheCapacity)
	}
}

// An incremental pull reads the records a late text edit re-placed only
// when text_rebases holds an entry after the device's cursor; most pulls
// follow no compaction at all, and the query was a round trip each. Where
// there is one, storetest's TextCompactionPlacesLateEdits checks it is
// sent.
func TestPullReadsRebasesOnlyAfterOne(t *testing.T) {
	ctx := context.Background()
	db, rt := tracedStore(t)
	a, b := enrol(t, db, "w_a"), enrol(t, db, "sup_a")
	a.edit(func(tx *syncengine.Txn) error { _, err := encounter(tx, "By the shops."); return err })
	a.syncAll(db)
	b.syncAll(db) // b's cursor is past the log's start: its next pull is incremental
	a.edit(func(tx *syncengine.Txn) error { _, err := encounter(tx, "By the ramp."); return err })
	a.syncAll(db)
	// b's pull brings a's changeset: an incremental page, nothing re-placed.
	dev, person, err := db.Authenticate(ctx, b.en.Credential)
	must(t, err)
	res, err := db.Sync(rt.counting(ctx), domain.SyncRequest{Device: dev, Person: person, Cursor: b.cursor})
	must(t, err)
	if len(res.Changesets) != 1 || len(res.Snapshots) != 0 {
		t.Fatalf("pull: %d changesets, %d snapshots; want a's one changeset", len(res.Changesets), len(res.Snapshots))
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for q := range rt.sql {
		if strings.Contains(q, "FROM text_rebases b") {
			t.Fatalf("a pull after no compaction read the re-placed records (%d round trips in all): %.160s", rt.n.Load(), q)
		}
	}
}
