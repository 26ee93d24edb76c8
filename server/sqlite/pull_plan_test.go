package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// queryPlan returns SQLite's EXPLAIN QUERY PLAN for q, one step a line.
func queryPlan(tb testing.TB, db *DB, q string, args ...any) string {
	tb.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		tb.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			tb.Fatalf("explain: %v", err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("explain: %v", err)
	}
	return strings.Join(steps, "\n")
}

func openPlanDB(tb testing.TB) *DB {
	tb.Helper()
	db := NewDB(filepath.Join(tb.TempDir(), "plan.db"))
	if err := db.Open(); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// The incremental pull must start from the scope's changed records and
// reach changesets by key: a plan that walks the log (changesets or
// changeset_records by position) makes every sync pay for the whole
// organisation's activity since the cursor.
func TestIncrementalPullPlanUsesTeamChangesIndex(t *testing.T) {
	db := openPlanDB(t)
	tests := []struct {
		name      string
		scope     domain.Scope
		wantIndex string
	}{
		{"worker, one team", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, "records_team_changes"},
		{"supervisor, three teams", domain.Scope{PersonID: "s", Teams: []string{"t1", "t2", "t3"}}, "records_team_changes"},
		{"every team", domain.Scope{PersonID: "a", All: true}, "records_changes"},
		// records_service is partial (service_id IS NOT NULL, migration
		// 0191): the scope's service_id = ? must still let the planner use it.
		{"service", domain.Scope{Role: domain.RolePractitioner, PersonID: "p", ServiceID: "svc"}, "records_service (service_id=? AND updated_seq>?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter, fargs := scopeFilter(tt.scope)
			plan := queryPlan(t, db, incrementalPullSQL(filter), incrementalPullArgs(fargs, 10, "replica")...)
			wantR := "SEARCH r USING COVERING INDEX " + tt.wantIndex
			if tt.scope.Practitioner() {
				wantR = "SEARCH r USING INDEX " + tt.wantIndex
			}
			for _, want := range []string{
				wantR,
				"SEARCH cr USING PRIMARY KEY (record_id=? AND seq>?)",
				"SEARCH c USING INTEGER PRIMARY KEY (rowid=?)",
			} {
				if !strings.Contains(plan, want) {
					t.Errorf("plan lacks %q:\n%s", want, plan)
				}
			}
			// "FOR ORDER BY": a second sort, after the grouping's, copying
			// every changeset's body.
			for _, bad := range []string{"SCAN c", "SCAN cr", "changeset_records_seq (seq>?)", "SCAN r", "TEMP B-TREE FOR ORDER BY"} {
				if strings.Contains(plan, bad) {
					t.Errorf("plan has %q (a walk of the log or of every record):\n%s", bad, plan)
				}
			}
		})
	}
}

// A snapshot page reads an index range in id order and stops at the budget:
// a plan that sorts (TEMP B-TREE) reads and sorts the whole team per page.
func TestSnapshotPagePlanReadsIndexRange(t *testing.T) {
	db := openPlanDB(t)
	tests := []struct {
		name    string
		scope   domain.Scope
		base    int64
		since   int64 // > 0: a first sync's field subset
		want    string
		sortsOK bool // a snapshot of what changed since base sorts only that
	}{
		{"worker, whole team", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 0, 0, "SEARCH r USING INDEX records_team_field (team_id=? AND id>?)", false},
		{"worker, field subset", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 0, 1700000000, "SEARCH r USING INDEX records_team_field (team_id=? AND id>?)", false},
		{"supervisor, whole teams", domain.Scope{PersonID: "s", Teams: []string{"t1", "t2"}}, 0, 0, "SEARCH r USING INDEX records_team_field (team_id=? AND id>?)", false},
		{"every team", domain.Scope{PersonID: "a", All: true}, 0, 0, "SEARCH r USING INDEX sqlite_autoindex_records_1 (id>?)", false},
		{"worker, changed since base", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 5, 0, "SEARCH r USING INDEX records_team_changes (team_id=? AND updated_seq>?)", true},
		// A service's referrals are few: found by the (partial) service index, then sorted.
		{"service", domain.Scope{Role: domain.RolePractitioner, PersonID: "p", ServiceID: "svc"}, 0, 0, "SEARCH r USING INDEX records_service (service_id=?)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter, fargs := scopeFilter(tt.scope)
			qs := snapshotPageQueries(tt.scope, filter, fargs, "after", tt.base, tt.since)
			if fieldSubset(tt.scope) && tt.base == 0 && len(qs) != len(tt.scope.Teams) {
				t.Fatalf("%d queries for %d teams, want one a team", len(qs), len(tt.scope.Teams))
			}
			for _, q := range qs {
				plan := queryPlan(t, db, q.sql, q.args...)
				if !strings.Contains(plan, tt.want) {
					t.Errorf("plan lacks %q:\n%s", tt.want, plan)
				}
				if !tt.sortsOK && strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("plan sorts:\n%s", plan)
				}
			}
			plan := queryPlan(t, db, snapshotChurnSQL(filter), append(fargs, 3, "after")...)
			if !strings.Contains(plan, "updated_seq>?") || strings.Contains(plan, "SCAN r") {
				t.Errorf("churn plan does not search by change position:\n%s", plan)
			}
		})
	}
}

// A first sync's progress and the background paging of older records read
// records_team_field: counts never touch a record's row, and pages never
// sort the team.
func TestFieldSubsetPlans(t *testing.T) {
	db := openPlanDB(t)
	for _, tc := range []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"subset total", subsetTotalSQL, []any{"t1", 1700000000}, "SEARCH r USING COVERING INDEX records_team_field (team_id=?)"},
		{"rest count", restCountSQL, []any{"r", "t1", 1700000000, 5}, "SEARCH r USING COVERING INDEX records_team_field (team_id=?)"},
		{"rest page", restPageSQL, []any{"t1", "r", 1700000000, 5}, "SEARCH r USING INDEX records_team_field (team_id=? AND id>?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := queryPlan(t, db, tc.sql, tc.args...)
			if !strings.Contains(plan, tc.want) || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan lacks %q or sorts:\n%s", tc.want, plan)
			}
		})
	}
}

// The roster is read by team from the people and team_supervisors indexes:
// a scan of people would cost a large organisation's phones on every
// roster change.
func TestRosterPlanUsesTeamIndexes(t *testing.T) {
	db := openPlanDB(t)
	for _, teams := range [][]string{{"t1"}, {"t1", "t2", "t3"}} {
		plan := queryPlan(t, db, rosterSQL(len(teams)), rosterArgs(teams)...)
		for _, want := range []string{"people USING INDEX people_team", "team_supervisors_team"} {
			if !strings.Contains(plan, want) {
				t.Errorf("%d teams: the roster's plan does not use %s:\n%s", len(teams), want, plan)
			}
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "SCAN") && !strings.Contains(line, "INDEX") {
				t.Errorf("%d teams: the roster's plan scans a table:\n%s", len(teams), plan)
			}
		}
	}
}

// Every push rewrites a record's row and every index on records that holds
// it, so each index there must be one a query needs (the plan tests above
// name the query), and none a prefix of another. A new index on records
// belongs in this list with the query whose plan needs it.
func TestRecordsIndexesAreTheNeededOnes(t *testing.T) {
	db := openPlanDB(t)
	want := map[string]string{
		"records_changes":            "CREATE INDEX records_changes ON records (updated_seq, id)",                                      // pull, every team
		"records_list":               "CREATE INDEX records_list ON records (type, team_id, id, updated_seq, crc)",                     // portal lists
		"records_service":            "CREATE INDEX records_service ON records (service_id, updated_seq) WHERE service_id IS NOT NULL", // a service's pull
		"records_team_changes":       "CREATE INDEX records_team_changes ON records (team_id, updated_seq, id)",                        // incremental pull
		"records_team_field":         "CREATE INDEX records_team_field ON records (team_id, id, field_at, updated_seq)",                // snapshot pages, first sync
		"records_young_person":       "CREATE INDEX records_young_person ON records (young_person_id)",                                 // history, access, ownership
		"sqlite_autoindex_records_1": "",                                                                                               // primary key
	}
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			t.Fatal(err)
		}
		got[name] = sql
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, sql := range got {
		if w, ok := want[name]; !ok {
			t.Errorf("index %s on records is not one a query needs: %s", name, sql)
		} else if w != sql {
			t.Errorf("index %s is %q, want %q", name, sql, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("index %s missing", name)
		}
	}
}
