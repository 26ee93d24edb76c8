package sqlite

import (
	"strings"
	"testing"
)

// The settle's outbox statements find pending notifications by record
// through push_outbox_record, never by scanning the outbox, which keeps
// every notification sent or cancelled until it is purged.
func TestSettleOutboxPlans(t *testing.T) {
	db := openPlanDB(t)
	tests := []struct {
		name, query, list string
	}{
		{"records with pending notifications", pendingRecordsSQL, `["r1","r2"]`},
		{"cancel pending notifications", cancelPendingSQL, `[["r1",""],["r2","handoff"]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, db, tt.query, tt.list)
			if !strings.Contains(plan, "push_outbox_record") {
				t.Errorf("plan does not use push_outbox_record:\n%s", plan)
			}
			for _, step := range strings.Split(plan, "\n") {
				if strings.HasPrefix(step, "SCAN") && !strings.Contains(step, "VIRTUAL TABLE") { // json_each's list is scanned, nothing else
					t.Errorf("plan scans the outbox (%s):\n%s", step, plan)
				}
			}
		})
	}
}
