package sqlite

import (
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// Every pull asks whether records were re-placed after its cursor, and a
// pull past one reads them: both must go by text_rebases' key (log
// position first) and each record by its id, never scan.
func TestRebasePullPlansUseKeys(t *testing.T) {
	db := openPlanDB(t)
	exists := queryPlan(t, db, `SELECT EXISTS (SELECT 1 FROM text_rebases WHERE seq > ?)`, 5)
	if !strings.Contains(exists, "USING PRIMARY KEY (seq>?)") {
		t.Fatalf("the pull's test for rebases does not use text_rebases' key:\n%s", exists)
	}
	for _, scope := range []domain.Scope{{PersonID: "w", Teams: []string{"t1"}}, {PersonID: "a", All: true}} {
		filter, args := scopeFilter(scope)
		plan := queryPlan(t, db, rebasePullSQL(filter), append([]any{int64(1), int64(9)}, args...)...)
		if !strings.Contains(plan, "SEARCH b USING PRIMARY KEY (seq>? AND seq<?)") || !strings.Contains(plan, "id=?)") {
			t.Fatalf("scope %+v: the rebase pull does not go by keys:\n%s", scope, plan)
		}
		if strings.Contains(plan, "SCAN") {
			t.Fatalf("scope %+v: the rebase pull scans records:\n%s", scope, plan)
		}
	}
}

// The pull of compacted states reads text_compaction by its pass index
// (only records given a pass are in it), then each record by its key.
func TestCompactedPullPlanUsesPassIndex(t *testing.T) {
	db := openPlanDB(t)
	for _, scope := range []domain.Scope{{PersonID: "w", Teams: []string{"t1"}}, {PersonID: "a", All: true}} {
		filter, args := scopeFilter(scope)
		plan := queryPlan(t, db, compactedPullSQL(filter), append([]any{int64(1), int64(9)}, args...)...)
		if !strings.Contains(plan, "INDEX text_compaction_pass (pass>? AND pass<?)") || !strings.Contains(plan, "id=?)") {
			t.Fatalf("scope %+v: the compacted pull does not go by the pass index:\n%s", scope, plan)
		}
		if strings.Contains(plan, "SCAN") {
			t.Fatalf("scope %+v: the compacted pull scans:\n%s", scope, plan)
		}
	}
}
