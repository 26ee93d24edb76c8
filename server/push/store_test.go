package push_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/push"
)

// Enqueueing a known id does nothing: re-planning is idempotent. (That a rule's
// notifications commit with their change, and only then, is server/notify's test.)
func TestEnqueueIgnoresKnownIDs(t *testing.T) {
	e := newEnv(t)
	e.enqueue(t, note("nA", "p1"))
	e.enqueue(t, note("nA", "p1"), note("nB", "p1")) // nA again: ignored
	if c := e.counts(t); c[push.StatePending] != 2 {
		t.Fatalf("counts %v, want 2 pending", c)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.token(t, "dev1", "p1", "tok-old")
	e.token(t, "dev1", "p1", "tok-new") // refresh replaces the device's token
	e.token(t, "dev2", "p1", "tok-2")
	if got := e.tokens(t, "p1"); fmt.Sprint(got) != "[tok-2 tok-new]" {
		t.Fatalf("tokens %v", got)
	}
	e.token(t, "dev3", "p2", "tok-2") // the token moved to another device/person
	if got := e.tokens(t, "p1"); fmt.Sprint(got) != "[tok-new]" {
		t.Fatalf("p1 tokens %v", got)
	}
	if err := e.store.RemoveDeviceTokens(ctx, "dev1"); err != nil {
		t.Fatal(err)
	}
	if got := e.tokens(t, "p1"); len(got) != 0 {
		t.Fatalf("after revocation: %v", got)
	}
	if err := e.store.RemoveToken(ctx, "tok-2"); err != nil {
		t.Fatal(err)
	}
	if got := e.tokens(t, "p2"); len(got) != 0 {
		t.Fatalf("after removal: %v", got)
	}
	if err := e.store.RegisterToken(ctx, "dev 1", "p1", "x", "ios"); err == nil {
		t.Error("non-opaque device id accepted")
	}
}

func TestClaimLeaseAndOwnership(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enqueue(t, note("n1", "p1"), note("n2", "p1"))
	lease := 30 * time.Second
	a, err := e.store.Claim(ctx, "A", t0, lease, 10)
	if err != nil || len(a) != 2 || a[0].Attempts != 1 {
		t.Fatalf("A claimed %+v, %v", a, err)
	}
	if b, _ := e.store.Claim(ctx, "B", t0.Add(lease-time.Millisecond), lease, 10); len(b) != 0 {
		t.Fatalf("B claimed %d rows under A's live lease", len(b))
	}
	b, _ := e.store.Claim(ctx, "B", t0.Add(lease+time.Millisecond), lease, 10)
	if len(b) != 2 || b[0].Attempts != 2 {
		t.Fatalf("B after expiry claimed %+v", b)
	}
	// A wakes up late: its outcome must not override B's lease.
	if err := e.store.MarkRetry(ctx, "A", "n1", t0.Add(time.Hour), "late"); err != nil {
		t.Fatal(err)
	}
	if r := e.row(t, "n1"); r.LeaseOwner.String != "B" || r.State != "pending" {
		t.Fatalf("A's late MarkRetry changed the row: %+v", r)
	}
	if err := e.store.MarkSent(ctx, "B", "n1"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkDead(ctx, "B", "n2", "gave up"); err != nil {
		t.Fatal(err)
	}
	if c := e.counts(t); c[push.StateSent] != 1 || c[push.StateDead] != 1 {
		t.Fatalf("counts %v", c)
	}
}

func TestClaimNotBeforeAndCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	later := note("nLater", "p1")
	later.NotBefore = t0.Add(time.Hour)
	e.enqueue(t, later, note("nNow", "p1"))
	cs, _ := e.store.Claim(ctx, "A", t0, time.Minute, 10)
	if len(cs) != 1 || cs[0].ID != "nNow" {
		t.Fatalf("claimed %+v, want only nNow", cs)
	}
	n, err := e.store.Cancel(ctx, later.RecordID, push.CancelWhenFollowUpClosed...)
	if err != nil || n != 1 {
		t.Fatalf("Cancel = %d, %v", n, err)
	}
	for _, c := range must(e.store.Claim(ctx, "A", t0.Add(2*time.Hour), time.Minute, 10)) {
		if c.ID == later.ID {
			t.Fatalf("cancelled notification claimed: %+v", c)
		}
	}
}

// Several "processes" (separate connection pools on one SQLite file) claim concurrently:
// every row is claimed exactly once.
func TestConcurrentClaimsAcrossConnections(t *testing.T) {
	e := newEnv(t)
	const rows = 2000
	var ns []push.Notification
	for i := range rows {
		ns = append(ns, note(id(i), "p1"))
	}
	e.enqueue(t, ns...)
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p := range 4 {
		st := MustOpenDB(t, e.path).Outbox()
		for w := range 2 {
			owner := fmt.Sprintf("proc%d-w%d", p, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					cs, err := st.Claim(context.Background(), owner, t0, time.Minute, 37)
					if err != nil {
						errs <- err
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, c := range cs {
						if prev, dup := seen[c.ID]; dup {
							errs <- fmt.Errorf("%s claimed by %s and %s", c.ID, prev, owner)
						}
						seen[c.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != rows {
		t.Fatalf("claimed %d distinct rows, want %d", len(seen), rows)
	}
}
