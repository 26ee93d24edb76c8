package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
)

// The pull's hot queries are served by indexes: with sequential scans
// priced out, the plan reads the log by its key and records by theirs, so a
// later schema change cannot quietly leave a query with only a full scan.
// (On tables this small the planner would scan; pricing scans out asks
// whether an index can serve the query at all.)
func TestPullQueriesUseIndexes(t *testing.T) {
	explain := scanlessPlanner(t, nodes(t, 1)[0])
	logPage, snapshot, teams := postgres.PullSQL(domain.Scope{Role: domain.RoleWorker, Teams: []string{"team_a"}})
	reviewerList, reviewerTeams := postgres.QuarantineListSQL(domain.Scope{Role: domain.RoleSupervisor, Teams: []string{"team_a", "team_b"}})
	for _, tc := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"log page", logPage, []any{int64(0), int64(100), "r", teams}, []string{"changesets_pkey", "changeset_records_seq", "records_pkey"}},
		{"team snapshot", snapshot, []any{"", int64(0), int64(0), int64(100), teams, int64(0)}, []string{"records_team"}},
		{"team field subset", snapshot, []any{"", int64(0), int64(0), int64(100), teams, int64(1700000000)}, []string{"records_team"}},
		{"access history", postgres.AccessHistorySQL, []any{[]string{"r1", "r2"}}, []string{"audit_records", "audit_record"}},
		{"unsealed audit rows", `SELECT id FROM audit_log WHERE chain_pos IS NULL ORDER BY id LIMIT 1000`, nil, []string{"audit_unchained"}},
		{"held items woken by a stored change", `SELECT quarantine_id FROM held_waits
			WHERE (record_id = $1 AND replica_id IN ($2, '*')) OR (record_id = '*' AND replica_id = '*')`, []any{"r", "x"}, []string{"held_waits_pkey"}},
		// Each item's refs by its id, then their records by theirs: never
		// every record of the reviewer's teams.
		{"a reviewer's quarantine list", reviewerList, []any{true, "", 100, reviewerTeams, int64(0)},
			[]string{"quarantine_refs_pkey", "Index Cond: (quarantine_id = quarantine.id)", "records_pkey"}},
		{"duplicate check", `SELECT seq FROM changesets WHERE replica_id = $1 AND start = $2`, []any{"r", int64(1)},
			[]string{"changesets_replica_id_start_key"}},
	} {
		text := explain(tc.query, tc.args...)
		if strings.Contains(text, "Seq Scan") {
			t.Errorf("%s: a full scan remains:\n%s", tc.name, text)
		}
		for _, idx := range tc.want {
			if !strings.Contains(text, idx) {
				t.Errorf("%s: plan does not use %s:\n%s", tc.name, idx, text)
			}
		}
	}
}

// scanlessPlanner returns a function giving a query's plan on db with
// sequential scans priced out: on test-sized tables the planner would scan,
// so pricing scans out asks whether an index can serve the query at all.
func scanlessPlanner(t *testing.T, db *postgres.DB) func(query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Pool().Acquire(ctx)
	must(t, err)
	t.Cleanup(conn.Release)
	_, err = conn.Exec(ctx, `SET enable_seqscan = off`)
	must(t, err)
	return func(query string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+query, args...)
		must(t, err)
		var plan []string
		for rows.Next() {
			var line string
			must(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		must(t, rows.Err())
		return strings.Join(plan, "\n")
	}
}

// The push's statements driven by a list of keys probe an index per key
// even as generic plans made over empty tables: pgx prepares each
// statement once per connection, and Postgres keeps a generic plan from
// its sixth run, priced from the table sizes of that moment. On a new
// database a join over the key list was planned as a full scan (or a hash
// over the whole pending index) and stayed one while the tables grew: the
// week bench read 1.6 million log rows and 1.2 million outbox rows that
// way. The same held for the held items a change wakes, the records a
// request updates, the pull's positions and scope moves, and an erasure's
// reads of the log (a supervisor's phone erases in a push): each read
// every row of its table.
func TestKeyListStatementsProbeIndexes(t *testing.T) {
	explain := genericPlanner(t)
	want := map[string]string{"logged keys": "changesets_replica_id_start_key", "open quarantine": "quarantine_device_id_replica_id_start_key",
		"pending notifications": "push_outbox_record", "cancel notifications": "push_outbox_record",
		"held items woken": "held_waits_pkey", "records updated": "records_pkey", "pull positions": "text_rebases_pkey",
		"scope moves": "records_pkey", "record history": "changesets_pkey", "records' history": "changesets_pkey",
		"holders of erased records": "changesets_pkey", "search rows removed": "record_search_pkey"}
	// The request's own rows may be hashed and matched against rows found
	// by key; no other hash (or merge) join is allowed, as it would take a
	// whole table or index to one side.
	hashOK := map[string]bool{"records updated": true}
	for name, query := range postgres.KeyListSQL {
		if want[name] == "" {
			t.Errorf("%s: no index named for it", name)
		}
		lines, err := explain(query)
		must(t, err)
		plan := strings.Join(lines, "\n")
		joins := strings.Contains(plan, "Hash Join") || strings.Contains(plan, "Hash Semi Join") || strings.Contains(plan, "Merge Join")
		if strings.Contains(plan, "Seq Scan") || (joins && !hashOK[name]) || walksIndex(lines) ||
			!strings.Contains(plan, want[name]) || !strings.Contains(plan, "Index Cond") {
			t.Errorf("%s: the generic plan over empty tables does not probe %s per key:\n%s", name, want[name], plan)
		}
	}
}

// walksIndex reports whether a plan reads an index without a condition
// (the whole index).
func walksIndex(plan []string) bool {
	for i, line := range plan {
		if strings.Contains(line, "Index Scan") || strings.Contains(line, "Index Only Scan") {
			if i+1 >= len(plan) || !strings.Contains(plan[i+1], "Index Cond") {
				return true
			}
		}
	}
	return false
}

// statements collects the text of every statement sent (a pgx tracer).
type statements struct {
	mu  sync.Mutex
	sql map[string]bool
}

func (s *statements) add(q string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sql == nil {
		s.sql = map[string]bool{}
	}
	s.sql[q] = true
}

func (s *statements) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sql))
	for q := range s.sql {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.add(d.SQL)
	return ctx
}
func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (s *statements) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	s.add(d.SQL)
}
func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// logSized are the tables that grow with the organisation's work: a plan
// that reads one of them whole costs more every week.
var logSized = []string{"changesets", "changeset_records", "records", "record_search", "audit_log", "push_outbox",
	"quarantine", "held_waits", "scope_events", "text_rebases", "text_compaction", "young_person_links",
	"purge_notices", "erasure_ledger", "sharing_decisions", "concern_alerts"}

// fullReads are the statements that read a log-sized table whole on
// purpose (by the start of their text), none of them on a phone's push or
// pull: what each is for says why.
var fullReads = map[string]string{
	"SELECT id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail::text FROM audit_log WHERE ($1": "the audit listing's optional filters (portal)",
	"SELECT id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), COALESCE(detail":                       "access history export over the audit",
	"SELECT id, chain_pos, at,":                                                             "audit verification walks the whole chain",
	"UPDATE audit_log a SET chain_pos":                                                      "the sealer's update, planned for each batch (QueryExecModeCacheDescribe), never kept",
	"DELETE FROM changesets WHERE seq <= $1":                                                "log compaction removes the log's oldest part, hourly",
	"DELETE FROM scope_events WHERE seq <= $1":                                              "log compaction",
	"DELETE FROM text_rebases WHERE seq <= $1":                                              "log compaction",
	"SELECT state, count(*) FROM push_outbox":                                               "the outbox's metrics",
	"SELECT id, body FROM quarantine WHERE body IS NOT NULL FOR UPDATE":                     "an erasure scrubs every stored quarantined body",
	"SELECT id FROM quarantine WHERE body IS NOT NULL ORDER BY id":                          "once, at the first start after migration 0260 (quarantine refs backfill)",
	"SELECT id, device_id, person_id, replica_id, start, code":                              "the quarantine listing's optional filters (portal)",
	"SELECT (SELECT COALESCE(MAX(seq), 0) FROM changesets), (SELECT COUNT(*) FROM records)": "the store's counts (metrics)",
	"SELECT id FROM records WHERE id = $1 OR young_person_id = $1":                          "an erasure's list of a young person's records (portal)",
	"SELECT id, state FROM records WHERE type = $1 AND NOT erased":                          "a young person's encounters by their state (erasure), the links pass",
	"SELECT r.id FROM records r LEFT JOIN text_compaction t":                                "the text compaction pass looks at every record",
	"SELECT state FROM records WHERE NOT erased AND NOT deleted AND type = ANY($1)":         "a pass over every record of the types (search backfill, concern alerts)",
	"SELECT EXISTS (SELECT 1 FROM text_compaction WHERE vv IS NOT NULL)":                    "once per pass",
	"DELETE FROM text_rebases WHERE record_id = ANY($1::text[])":                            "an erasure forgets a record's compaction; text_rebases holds only what the last log compaction left",
	"SELECT n.record_id, n.device_id, COALESCE(d.person_id, '')":                            "the purge notices listing (portal)",
}

// genericPlansScan prepares each statement as a kept generic plan over an
// empty database (pgx prepares once per connection; Postgres keeps a
// generic plan from the sixth run, priced from the table sizes of that
// moment) and fails for any that would read a log-sized table whole,
// unless fullReads names it. The week bench read millions of rows a push
// through such plans.
func genericPlansScan(t *testing.T, qs []string) {
	if len(qs) == 0 {
		t.Skip("no conformance test ran before (go test -run)")
	}
	explain := genericPlanner(t)
	dml := regexp.MustCompile(`(?is)^\s*(select|insert|update|delete|with)\b`)
	scan := regexp.MustCompile(`Seq Scan on (\w+)`)
	checked := 0
	for _, q := range qs {
		q = strings.Join(strings.Fields(q), " ")
		if !dml.MatchString(q) || slices.ContainsFunc(slices.Collect(maps.Keys(fullReads)), func(p string) bool { return strings.HasPrefix(q, p) }) {
			continue
		}
		lines, err := explain(q)
		if err != nil {
			t.Errorf("%.100s: %v", q, err)
			continue
		}
		checked++
		plan := strings.Join(lines, "\n")
		for _, m := range scan.FindAllStringSubmatch(plan, -1) {
			if slices.Contains(logSized, m[1]) {
				t.Errorf("a kept plan reads all of %s:\n%s\n%s", m[1], q, plan)
			}
		}
	}
	t.Logf("%d statements' generic plans checked, %d seen", checked, len(qs))
}

// genericPlanner returns a function giving a statement's generic plan, as
// Postgres keeps it for a prepared statement, on a fresh empty store: a
// generic plan does not depend on the values, so each parameter is NULL.
func genericPlanner(t *testing.T) func(query string) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := nodes(t, 1)[0].Pool().Acquire(ctx)
	must(t, err)
	t.Cleanup(conn.Release)
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	must(t, err)
	param := regexp.MustCompile(`\$(\d+)`)
	prepared := 0
	return func(query string) ([]string, error) {
		prepared++
		stmt := fmt.Sprintf("generic_%d", prepared)
		if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+query); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		n := 0
		for _, m := range param.FindAllStringSubmatch(query, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		args := ""
		if n > 0 {
			args = "(" + strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") + ")"
		}
		rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+stmt+args)
		if err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return nil, err
			}
			lines = append(lines, l)
		}
		return lines, rows.Err()
	}
}
