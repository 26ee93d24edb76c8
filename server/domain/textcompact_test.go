package domain_test

import (
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// A compacted state is sent to phones when it is at most three quarters of
// what they keep; what passes drop without sending adds up until it is.
func TestCompactedWorthSending(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		before, after, unsent int64
		send                  bool
		next                  int64
	}{
		{"a churned note", 4464, 564, 0, true, 0},
		{"a paper mostly typed", 17871, 16498, 0, false, 1373},
		{"exactly three quarters", 400, 300, 0, true, 0},
		{"just over", 400, 301, 0, false, 99},
		{"small passes add up", 1000, 900, 300, true, 0},
		{"not yet", 1000, 950, 200, false, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send, next := domain.CompactedWorthSending(tc.before, tc.after, tc.unsent)
			if send != tc.send || next != tc.next {
				t.Fatalf("CompactedWorthSending(%d, %d, %d) = %v, %d; want %v, %d", tc.before, tc.after, tc.unsent, send, next, tc.send, tc.next)
			}
		})
	}
}
