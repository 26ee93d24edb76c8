package main

// pgweek (-run week -store postgres): the week push of week() against the
// Postgres store, the server in a process of its own over a throw-away
// cluster (server/postgres/pgtest, fsync off; JOINEDUP_TEST_DATABASE_URL
// uses an existing server). Baseline, same run: the week's final rows
// COPYed into Postgres in one transaction, the median of bulkRuns.
//
// Postgres does much of the work in processes of its own, so CPU is
// counted on both sides: the server process's (or this process's, for the
// baseline) plus the cluster's, read from /proc for the postmaster and its
// children (backends, writers, autovacuum; a backend that exited is in the
// postmaster's reaped-children time). Other clusters on the machine are not
// counted: only this cluster's postmaster's children are summed.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/syncengine"
)

// servePostgres is the child process of pgweek: the API over the Postgres
// database at url until stdin closes, its URL on stdout's first line.
func servePostgres(url string) error {
	api.TuneRuntime() // as server/cmd/joinedup does
	ctx := context.Background()
	db := postgres.NewDB(url)
	if err := db.Open(ctx); err != nil {
		return err
	}
	defer db.Close()
	db.Rules = benchRules()
	served := make(chan error, 1)
	a, u, err := listenAPI(db, served)
	if err != nil {
		return err
	}
	return untilStdinCloses(u, func() error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		a.Shutdown(sctx)
		return <-served
	})
}

func pgWeek(page int) error {
	ctx := context.Background()
	ds := fixtures.Generate(fixtures.Week())
	h, err := ds.Changesets(1)
	if err != nil {
		return err
	}
	order, pages := weekPages(h.Changesets)
	defer pgtest.Stop()
	seq, err := pgPush(ctx, ds.Org, order, pages, page, false)
	if err != nil {
		return err
	}
	// Then each causal round's pages at once, as the team's phones would
	// send them (main.go pushWeek), into a database of its own.
	together, err := pgPush(ctx, ds.Org, order, pages, page, true)
	if err != nil {
		return err
	}
	url := seq.url
	pg, err := clusterOf(ctx, url)
	if err != nil {
		return err
	}

	// Baseline: the final rows COPYed in one transaction, each run into a
	// table of its own.
	recs := h.Store.Records()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var bulkWalls, bulkCPUs, bulkPGs []time.Duration
	bulkBytes := 0
	for run := range bulkRuns {
		table := fmt.Sprintf("bulk_rows%d", run)
		if _, err := conn.Exec(ctx, `CREATE TABLE `+table+` (id text PRIMARY KEY, type text NOT NULL, body bytea NOT NULL)`); err != nil {
			return err
		}
		p0, c0, start := pg.cpu(), selfCPU(), time.Now()
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		bulkBytes = 0
		rows := make([][]any, 0, len(recs))
		for _, r := range recs {
			v, _ := json.Marshal(r.Values())
			bulkBytes += len(v)
			rows = append(rows, []any{string(r.ID), r.Type, v})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "type", "body"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		bulkWalls = append(bulkWalls, time.Since(start))
		bulkCPUs = append(bulkCPUs, selfCPU()-c0)
		bulkPGs = append(bulkPGs, pg.cpu()-p0)
	}
	bulkWall, bulkCPU, bulkPG := median(bulkWalls), median(bulkCPUs), median(bulkPGs)
	bulkTotal := bulkCPU + bulkPG

	fmt.Printf("week on Postgres: %d changesets (%d records), pushed to a server process over a throw-away cluster (fsync off)\n", len(h.Changesets), len(recs))
	fmt.Printf("  baseline COPY of the %d final rows in one transaction: wall %s, CPU %s here + %s Postgres (%d KiB of JSON; median of %d)\n",
		len(recs), bulkWall.Round(time.Millisecond), bulkCPU.Round(time.Millisecond), bulkPG.Round(time.Millisecond), bulkBytes>>10, bulkRuns)
	for _, r := range []struct {
		how string
		p   pgPushed
	}{{"one request at a time", seq}, {"each round's pages at once", together}} {
		p := r.p
		fmt.Printf("  push, %s: %d requests in %d causal rounds (<= %d changesets a request), wall %s = %.1fx the bulk insert's; rows written %s\n",
			r.how, p.requests, p.rounds, page, p.wall.Round(time.Millisecond), ratio(p.wall, bulkWall), p.rows)
		fmt.Printf("    CPU: server process %s + Postgres %s = %s = %.1fx the bulk insert's %s (server alone %.1fx, Postgres alone %.1fx; client process %s)\n",
			p.server.Round(time.Millisecond), p.pg.Round(time.Millisecond), (p.server + p.pg).Round(time.Millisecond), ratio(p.server+p.pg, bulkTotal),
			bulkTotal.Round(time.Millisecond), ratio(p.server, bulkTotal), ratio(p.pg, bulkTotal), p.client.Round(time.Millisecond))
	}
	return nil
}

// pgPushed is one push of the week to a server process on Postgres.
type pgPushed struct {
	url                      string
	requests, rounds         int
	wall, server, pg, client time.Duration
	rows                     string // rows written, by table
}

// pgPush seeds a new database of the cluster with the organisation and its
// devices, starts the server over it in a process of its own and pushes
// the week to it (together: each round's pages at once).
func pgPush(ctx context.Context, org fixtures.Org, order []key, pages map[key][]*syncengine.Changeset, page int, together bool) (out pgPushed, err error) {
	if out.url, err = pgtest.Database(ctx); err != nil {
		return out, err
	}
	db := postgres.NewDB(out.url)
	if err := db.Open(ctx); err != nil {
		return out, err
	}
	setReplica := func(deviceID, replica string) error {
		_, err := db.Pool().Exec(ctx, `UPDATE devices SET replica_id = $1 WHERE id = $2`, replica, deviceID)
		return err
	}
	creds, err := weekDevices(ctx, db, setReplica, org, func(code string) (domain.Enrolment, error) { return db.Enrol(ctx, code, "sim") })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	pg, err := clusterOf(ctx, out.url)
	if err != nil {
		return out, err
	}
	before, err := pgCounts(ctx, out.url)
	if err != nil {
		return out, err
	}
	srv, err := startChildArgs("-serve-pg", out.url)
	if err != nil {
		return out, err
	}
	c := (&wire{}).client(64)
	s0, err := srv.cpu()
	if err != nil {
		srv.stop()
		return out, err
	}
	p0, c0, start := pg.cpu(), selfCPU(), time.Now()
	out.requests, out.rounds, err = pushWeek(c, nil, srv.url, creds, order, pages, page, together)
	out.wall, out.client, out.pg = time.Since(start), selfCPU()-c0, pg.cpu()-p0
	s1, cerr := srv.cpu()
	if serr := srv.stop(); err == nil {
		err = serr
	}
	if err == nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	out.server = s1 - s0
	after, err := pgCounts(ctx, out.url)
	out.rows = after.since(before)
	return out, err
}

// bulkRuns is how many bulk inserts a week baseline takes the median of:
// one takes tens of milliseconds, so one run on a shared machine can move
// by 2x.
const bulkRuns = 5

// cluster is a running Postgres cluster seen through /proc.
type cluster struct{ postmaster int }

// clusterOf finds the cluster serving url: the parent of a backend.
func clusterOf(ctx context.Context, url string) (*cluster, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return nil, err
	}
	f, err := procStat(pid)
	if err != nil {
		return nil, fmt.Errorf("postgres backend %d: %w", pid, err)
	}
	ppid, _ := strconv.Atoi(f[1])
	return &cluster{postmaster: ppid}, nil
}

// cpu is the cluster's CPU time so far: the postmaster's own and its reaped
// children's, and its live children's.
func (c *cluster) cpu() time.Duration {
	f, err := procStat(c.postmaster)
	if err != nil {
		return 0
	}
	ticks := statField(f, 11) + statField(f, 12) + statField(f, 13) + statField(f, 14)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == c.postmaster {
			continue
		}
		f, err := procStat(pid)
		if err != nil || len(f) < 13 || f[1] != strconv.Itoa(c.postmaster) {
			continue
		}
		ticks += statField(f, 11) + statField(f, 12)
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procStat is /proc/<pid>/stat's fields after the command name: [0] is
// the state, [1] the parent's pid, [11] and [12] utime and stime, [13] and
// [14] the reaped children's (clock ticks of 1/100 s).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func statField(f []string, i int) int64 {
	if i >= len(f) {
		return 0
	}
	n, _ := strconv.ParseInt(f[i], 10, 64)
	return n
}

// tableCounts are rows per table of the store, to show what a push wrote.
type tableCounts map[string]int64

var countedTables = []string{"changesets", "changeset_records", "records", "record_search", "audit_log", "push_outbox", "scope_events"}

func pgCounts(ctx context.Context, url string) (tableCounts, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	out := tableCounts{}
	for _, t := range countedTables {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}

func (after tableCounts) since(before tableCounts) string {
	var parts []string
	for _, t := range countedTables {
		parts = append(parts, fmt.Sprintf("%s %d", t, after[t]-before[t]))
	}
	return strings.Join(parts, ", ")
}
