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
