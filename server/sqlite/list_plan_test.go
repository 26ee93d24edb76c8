package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestRecordsListPlan: the portal's list query (the versions of a type's
// records in some teams, or the whole organisation's) is served from the
// covering index records_list, never by scanning records and their states.
func TestRecordsListPlan(t *testing.T) {
	db := NewDB(filepath.Join(t.TempDir(), "db.sqlite"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, f := range []domain.RecordFilter{
		{Type: "encounter", TeamIDs: []string{"team_a", "team_b"}, Limit: 10},
		{Type: "encounter", Limit: 10},
	} {
		where, args := recordsWhere(f)
		rows, err := db.read.QueryContext(context.Background(), `EXPLAIN QUERY PLAN SELECT r.id, r.updated_seq, COALESCE(r.crc, -1) `+where, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "COVERING INDEX records_list") {
			t.Errorf("%+v: plan %q, want the covering index records_list", f, got)
		}
	}
}
