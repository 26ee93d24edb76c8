package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// syncStore is what the load drives: either store.
type syncStore interface {
	domain.SyncStore
	domain.DeviceStore
	domain.Directory
}

// BenchmarkManyDevices is the many-devices load, in one run against one
// SQLite node, one Postgres node and three Postgres nodes (three stores on
// one database, devices spread round robin): each of 30 phones saves one
// note and syncs, all at once, b.N rounds. It reports syncs per second and
// the p50/p99 latency of each, and the ratios to SQLite measured in the same
// run (2 cores shared with the database server: the ratios, not the
// absolute figures, are the result).
func BenchmarkManyDevices(b *testing.B) {
	const devices = 30
	ctx := context.Background()
	type config struct {
		name  string
		nodes []syncStore
	}
	seed := func(s syncStore) {
		must(b, s.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
		must(b, s.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
		must(b, s.UpsertPeople(ctx, []domain.Person{{ID: "w_a", Name: "W", Role: domain.RoleWorker, TeamID: "team_a"},
			{ID: "sup_a", Name: "S", Role: domain.RoleSupervisor, TeamID: "team_a"}}))
	}
	lite := sqlite.NewDB(filepath.Join(b.TempDir(), "bench.db"))
	must(b, lite.Open())
	b.Cleanup(func() { lite.Close() })
	seed(lite)
	pgNodes := func(n int) []syncStore {
		url := pgtest.URL(b)
		var out []syncStore
		for range n {
			db := postgres.NewDB(url)
			db.MaxConns = 12
			must(b, db.Open(ctx))
			b.Cleanup(func() { db.Close() })
			out = append(out, db)
		}
		seed(out[0])
		return out
	}
	configs := []config{{"sqlite-1", []syncStore{lite}}, {"postgres-1", pgNodes(1)}, {"postgres-3", pgNodes(3)}}
	rate := map[string]float64{}
	b.ResetTimer()
	for _, c := range configs {
		phones := make([]*benchPhone, devices)
		for i := range phones {
			phones[i] = newBenchPhone(b, c.nodes[i%len(c.nodes)])
		}
		var lat []time.Duration
		var mu sync.Mutex
		start := time.Now()
		for round := range b.N {
			var wg sync.WaitGroup
			for i, p := range phones {
				wg.Add(1)
				go func() {
					defer wg.Done()
					node := c.nodes[(i+round)%len(c.nodes)] // phones switch nodes between syncs
					d, err := p.sync(node, fmt.Sprintf("round %d", round))
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}()
			}
			wg.Wait()
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		if len(lat) == 0 {
			b.Fatal("no syncs")
		}
		rate[c.name] = float64(len(lat)) / elapsed.Seconds()
		b.ReportMetric(rate[c.name], c.name+"-syncs/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, c.name+"-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, c.name+"-p99-ms")
	}
	b.ReportMetric(rate["postgres-1"]/rate["sqlite-1"], "pg1/sqlite")
	b.ReportMetric(rate["postgres-3"]/rate["sqlite-1"], "pg3/sqlite")
	b.ReportMetric(rate["postgres-3"]/rate["postgres-1"], "pg3/pg1")
}

type benchPhone struct {
	p   *phone
	dev domain.Device
	per domain.Person
	id  syncengine.RecordID
}

func newBenchPhone(b *testing.B, s syncStore) *benchPhone {
	ctx := context.Background()
	code, _, err := s.IssueEnrolmentCode(ctx, "w_a", "sup_a")
	must(b, err)
	en, err := s.Enrol(ctx, code, "android")
	must(b, err)
	p := newPhone(b, en)
	dev, per, err := s.Authenticate(ctx, en.Credential)
	must(b, err)
	return &benchPhone{p: p, dev: dev, per: per}
}

// sync saves one note (a new encounter, then edits to it) and syncs once.
func (bp *benchPhone) sync(s syncStore, note string) (time.Duration, error) {
	if _, err := bp.p.tryEdit(func(tx *syncengine.Txn) (err error) {
		if bp.id == "" {
			bp.id, err = encounter(tx, note)
			return err
		}
		return tx.InsertText(bp.id, "note", 0, note+" ")
	}); err != nil {
		return 0, err
	}
	start := time.Now()
	res, err := s.Sync(context.Background(), domain.SyncRequest{Device: bp.dev, Person: bp.per, Changesets: bp.p.outbox, Cursor: bp.p.cursor, PageBytes: 64 << 10})
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	bp.p.outbox = nil
	for _, b := range res.Changesets {
		cs, err := syncengine.DecodeChangeset(b)
		if err != nil {
			return d, err
		}
		if _, err := bp.p.rep.Apply(cs); err != nil {
			return d, err
		}
	}
	for _, b := range res.Snapshots {
		recs, err := syncengine.DecodeSnapshot(b)
		if err != nil {
			return d, err
		}
		for _, r := range recs {
			bp.p.store.Put(r)
		}
	}
	bp.p.cursor = res.Cursor
	return d, nil
}
