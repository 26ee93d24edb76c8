package sqlite

import (
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestQuarantineListPlan guards a reviewer's list: the candidates are found
// from each open item's refs (their primary key) by the records' own key,
// never from the records of the reviewer's teams (each item would read them all);
// the sender by the people's and supervisors' keys; never a scan of the
// records or of the refs.
func TestQuarantineListPlan(t *testing.T) {
	db := openPlanDB(t)
	frag, args := reviewerFilter(&domain.Scope{Teams: []string{"team_a", "team_b"}})
	plan := queryPlan(t, db, `SELECT id FROM quarantine WHERE reviewed_at IS NULL AND `+frag+` ORDER BY id DESC LIMIT 100`, args...)
	for _, bad := range []string{"SCAN r\n", "SCAN records", "SCAN f", "SCAN quarantine_refs"} {
		if strings.Contains(plan+"\n", bad) {
			t.Fatalf("plan has %q:\n%s", bad, plan)
		}
	}
	// The item's refs first, then each one's record by its id.
	steps := strings.Split(plan, "\n")
	f := slices.Index(steps, "SEARCH f USING PRIMARY KEY (quarantine_id=?)")
	if f < 0 || f+1 == len(steps) || !strings.HasPrefix(steps[f+1], "SEARCH r ") || !strings.Contains(steps[f+1], "id=?)") {
		t.Fatalf("plan does not read the item's refs, then their records by id:\n%s", plan)
	}
}
