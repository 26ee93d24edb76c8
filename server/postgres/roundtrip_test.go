package postgres_test

import (
	"context"
	"fmt"
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
type roundTrips struct{ n atomic.Int64 }

type countedKey struct{}

func (r *roundTrips) counting(ctx context.Context) context.Context {
	return context.WithValue(ctx, countedKey{}, true)
}

func (r *roundTrips) count(ctx context.Context) {
	if ctx.Value(countedKey{}) != nil {
		r.n.Add(1)
	}
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.count(ctx)
	return ctx
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
// request's lookups, records, log rows, audit rows and the rules' intents
// go in a fixed number of batches. The rules' follow-ups each read the
// record they create first, one trip per changeset at most.
func TestPushRoundTripsDoNotGrowWithChangesets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules domain.Rules
		// perChangeset is the most each further changeset may add.
		perChangeset float64
	}{
		{"no rules", nil, 0},
		{"rules writing a follow-up and a notification per encounter", followUps, 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trips := map[int]int64{}
			for _, n := range []int{5, 45} {
				trips[n] = pushRoundTrips(t, tc.rules, n)
			}
			grew := float64(trips[45]-trips[5]) / 40
			t.Logf("round trips: %d for 5 changesets, %d for 45", trips[5], trips[45])
			if grew > tc.perChangeset {
				t.Fatalf("each further changeset added %.2f round trips (5 changesets: %d, 45: %d); want at most %.1f",
					grew, trips[5], trips[45], tc.perChangeset)
			}
		})
	}
}

// pushRoundTrips pushes n new encounters, each edited once more, in one
// request to a fresh store and counts the request's round trips.
func pushRoundTrips(t *testing.T, rules domain.Rules, n int) int64 {
	t.Helper()
	ctx := context.Background()
	var rt roundTrips
	db := postgres.NewDB(pgtest.URL(t))
	now := time.Now()
	db.Now = func() time.Time { return now }
	postgres.SetTracer(db, &rt)
	must(t, db.Open(ctx))
	t.Cleanup(func() { db.Close() })
	must(t, db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, db.UpsertPeople(ctx, []domain.Person{{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a"},
		{ID: "sup_a", Name: "Alex Supervisor", Role: domain.RoleSupervisor, TeamID: "team_a"}}))
	db.Rules = rules
	p := enrol(t, db, "w_a")
	for i := range n {
		var id syncengine.RecordID
		p.edit(func(tx *syncengine.Txn) (err error) { id, err = encounter(tx, fmt.Sprintf("Visit %d.", i)); return err })
		p.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Again: ") })
	}
	dev, person, err := db.Authenticate(ctx, p.en.Credential)
	must(t, err)
	res, err := db.Sync(rt.counting(ctx), domain.SyncRequest{Device: dev, Person: person, Changesets: p.outbox, NoPull: true})
	must(t, err)
	if res.Accepted != 2*n {
		t.Fatalf("accepted %d of %d changesets: %+v", res.Accepted, 2*n, res.Results)
	}
	return rt.n.Load()
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
