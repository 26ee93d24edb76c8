package sqlite_test

import (
	"strings"
	"testing"
)

// TestHeldQueriesUseTheirIndexes guards the queries every accepted push
// and every held changeset runs: a scan would bring back the cost of held
// changesets to unrelated pushes.
func TestHeldQueriesUseTheirIndexes(t *testing.T) {
	db := MustOpenDB(t)
	for _, tc := range []struct {
		name, query, want string
	}{
		{"wake held items", `SELECT quarantine_id FROM held_waits WHERE record_id = 'r' AND replica_id = 'x'`, "USING PRIMARY KEY"},
		{"per-device bound", `SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM quarantine WHERE device_id = 'd' AND reviewed_at IS NULL`, "quarantine_device_open"},
		{"device's open item", `SELECT id, code, message FROM quarantine WHERE device_id = 'd' AND replica_id = 'x' AND start = 1 AND reviewed_at IS NULL`, "sqlite_autoindex_quarantine"},
		{"reindex a held item", `DELETE FROM held_waits WHERE quarantine_id = 1`, "held_waits_item"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN ` + tc.query)
			must(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				must(t, rows.Scan(&id, &parent, &unused, &detail))
				plan = append(plan, detail)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, tc.want) || strings.Contains(got, "SCAN quarantine") || strings.Contains(got, "SCAN held_waits") {
				t.Fatalf("plan %q, want %s", got, tc.want)
			}
		})
	}
}
