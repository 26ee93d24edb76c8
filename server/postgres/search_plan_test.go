package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/postgres"
)

// TestSearchUsesIndex: a full-text search is served by the GIN index on the
// tsvector (scans priced out, as in TestPullQueriesUseIndexes), so the
// portal's search never reads every record's text.
func TestSearchUsesIndex(t *testing.T) {
	ns := nodes(t, 1)
	ctx := context.Background()
	conn, err := ns[0].Pool().Acquire(ctx)
	must(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET enable_seqscan = off`)
	must(t, err)
	// The whole organisation (an admin): no team index narrows it first.
	rows, err := conn.Query(ctx, "EXPLAIN SELECT r.id "+postgres.SearchSQL, "college:*", true, []string(nil))
	must(t, err)
	var plan []string
	for rows.Next() {
		var line string
		must(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	must(t, rows.Err())
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "record_search_doc") {
		t.Errorf("search does not use the GIN index record_search_doc:\n%s", text)
	}
}
