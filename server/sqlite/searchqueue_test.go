package sqlite

import "testing"

// TestGroupedQueueKeepsTheScrub: group commit gathers each sync's search
// queue into the batch's (group.go). A supervisor's phone can erase in a
// grouped sync, and the batch's flush must then clean the index, or the
// erased words outlive the erasure in FTS5's segments.
func TestGroupedQueueKeepsTheScrub(t *testing.T) {
	tests := []struct {
		name      string
		syncs     []bool // each grouped sync's scrub
		wantScrub bool
	}{
		{"no erasure", []bool{false, false}, false},
		{"first sync erased", []bool{true, false}, true},
		{"last sync erased", []bool{false, true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var batch searchQueue
			for _, scrub := range tt.syncs {
				one := searchQueue{scrub: scrub}
				batch.takeFrom(&one)
				if one.scrub {
					t.Fatal("takeFrom left the sync's queue marked")
				}
			}
			if batch.scrub != tt.wantScrub {
				t.Errorf("batch scrub = %v, want %v", batch.scrub, tt.wantScrub)
			}
		})
	}
}
