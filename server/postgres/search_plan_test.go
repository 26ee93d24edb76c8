package postgres_test

import (
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/postgres"
)

// TestSearchUsesIndex: a full-text search is served by the GIN index on the
// tsvector (scans priced out, as in TestPullQueriesUseIndexes), so the
// portal's search never reads every record's text.
func TestSearchUsesIndex(t *testing.T) {
	explain := scanlessPlanner(t, nodes(t, 1)[0])
	// The whole organisation (an admin): no team index narrows it first.
	text := explain("SELECT r.id "+postgres.SearchSQL, "college:*", true, []string(nil))
	if !strings.Contains(text, "record_search_doc") {
		t.Errorf("search does not use the GIN index record_search_doc:\n%s", text)
	}
}
