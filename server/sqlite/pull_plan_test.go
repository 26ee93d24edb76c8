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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter, fargs := scopeFilter(tt.scope)
			plan := queryPlan(t, db, incrementalPullSQL(filter), incrementalPullArgs(fargs, 10, "replica")...)
			for _, want := range []string{
				"SEARCH r USING COVERING INDEX " + tt.wantIndex,
				"SEARCH cr USING PRIMARY KEY (record_id=? AND seq>?)",
				"SEARCH c USING INTEGER PRIMARY KEY (rowid=?)",
			} {
				if !strings.Contains(plan, want) {
					t.Errorf("plan lacks %q:\n%s", want, plan)
				}
			}
			for _, bad := range []string{"SCAN c", "SCAN cr", "changeset_records_seq (seq>?)", "SCAN r"} {
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
		{"worker, whole team", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 0, 0, "SEARCH r USING INDEX records_team_ids (team_id=? AND id>?)", false},
		{"worker, field subset", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 0, 1700000000, "SEARCH r USING INDEX records_team_field (team_id=? AND id>?)", false},
		{"supervisor, whole teams", domain.Scope{PersonID: "s", Teams: []string{"t1", "t2"}}, 0, 0, "SEARCH r USING INDEX records_team_ids (team_id=? AND id>?)", false},
		{"every team", domain.Scope{PersonID: "a", All: true}, 0, 0, "SEARCH r USING INDEX sqlite_autoindex_records_1 (id>?)", false},
		{"worker, changed since base", domain.Scope{PersonID: "w", Teams: []string{"t1"}}, 5, 0, "SEARCH r USING INDEX records_team_changes (team_id=? AND updated_seq>?)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filter, fargs := scopeFilter(tt.scope)
			qs := snapshotPageQueries(tt.scope, filter, fargs, "after", tt.base, tt.since)
			if !tt.scope.All && tt.base == 0 && len(qs) != len(tt.scope.Teams) {
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
