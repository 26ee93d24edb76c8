package mobilesdk

import (
	"testing"
	"time"
)

// Round trip sizes: a failure halves what was tried (the page to half of what
// got through, if anything did), down to one changeset and the server's
// smallest page; a quick success doubles them back up to the ceiling.
func TestLinkSizesAdapt(t *testing.T) {
	type step struct {
		ok                        bool
		pushed, changesets, recvd int
		took                      time.Duration
		wantPush, wantPage        int
		wantShrank                bool
	}
	const timeout = 60 * time.Second
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"timeouts halve the push batch and page", []step{
			{pushed: 400 << 10, changesets: 100, wantPush: 200 << 10, wantPage: 256 << 10, wantShrank: true},
			{pushed: 200 << 10, changesets: 50, wantPush: 100 << 10, wantPage: 128 << 10, wantShrank: true},
		}},
		{"a partial answer sets the page to half of what got through", []step{
			{recvd: 30 << 10, wantPush: pushBudget, wantPage: 15 << 10, wantShrank: true},
		}},
		{"one changeset and the smallest page are the floor", []step{
			{pushed: 900, changesets: 1, recvd: 100, wantPush: pushBudget, wantPage: minPageBytes, wantShrank: true},
			{pushed: 900, changesets: 1, wantPush: pushBudget, wantPage: minPageBytes, wantShrank: false},
		}},
		{"quick successes grow back to the ceiling, slow ones hold", []step{
			{pushed: 1000, changesets: 10, recvd: 2048, wantPush: 500, wantPage: minPageBytes, wantShrank: true},
			{ok: true, took: timeout / 2, wantPush: 500, wantPage: minPageBytes},
			{ok: true, took: time.Second, wantPush: 1000, wantPage: 2 * minPageBytes},
			{ok: true, took: time.Second, wantPush: 2000, wantPage: 4 * minPageBytes},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLinkSizes(pushBudget, pageBytes)
			for i, s := range tc.steps {
				if s.ok {
					l.succeeded(s.took, timeout)
				} else if got := l.failed(s.pushed, s.changesets, s.recvd); got != s.wantShrank {
					t.Fatalf("step %d: shrank = %v, want %v", i, got, s.wantShrank)
				}
				if l.push != s.wantPush || l.page != s.wantPage {
					t.Fatalf("step %d: push %d page %d, want %d %d", i, l.push, l.page, s.wantPush, s.wantPage)
				}
			}
		})
	}
}
