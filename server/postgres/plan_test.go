package postgres_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

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
	ctx := context.Background()
	db := nodes(t, 1)[0]
	conn, err := db.Pool().Acquire(ctx)
	must(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	must(t, err)
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
		stmt := "plan_" + regexp.MustCompile(`\W+`).ReplaceAllString(name, "_")
		_, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+query)
		must(t, err)
		// A generic plan does not depend on the values: NULL for each.
		n := 0
		for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(query, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		var lines []string
		rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+stmt+"("+strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")+")")
		must(t, err)
		for rows.Next() {
			var line string
			must(t, rows.Scan(&line))
			lines = append(lines, line)
		}
		must(t, rows.Err())
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
