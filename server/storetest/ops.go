package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// The audit log only grows: entries come back newest first with what was
// written, later entries never change earlier ones, and a sync is audited
// without any note text.
func testAudit(t *testing.T, e *env) {
	for i, a := range []string{domain.ActionRead, domain.ActionExport, domain.ActionRead} {
		e.must(e.s.AppendAudit(e.ctx, domain.AuditEntry{PersonID: "sup_a", Action: a, RecordID: fmt.Sprintf("r%d", i),
			Detail: map[string]any{"via": "portal"}}))
	}
	first, err := e.s.Audit(e.ctx, domain.AuditFilter{PersonID: "sup_a"})
	e.must(err)
	if len(first) != 3 || first[0].RecordID != "r2" || first[2].RecordID != "r0" || first[1].Action != domain.ActionExport {
		t.Fatalf("audit newest first: %+v", first)
	}
	for i := 1; i < len(first); i++ {
		if first[i].ID >= first[i-1].ID || first[i].At.After(first[i-1].At) {
			t.Fatalf("audit not in append order: %+v", first)
		}
	}
	if first[0].Detail["via"] != "portal" || first[0].At.IsZero() {
		t.Fatalf("audit entry lost its detail or time: %+v", first[0])
	}
	if page, err := e.s.Audit(e.ctx, domain.AuditFilter{PersonID: "sup_a", BeforeID: first[0].ID, Limit: 1}); err != nil ||
		len(page) != 1 || page[0].ID != first[1].ID {
		t.Fatalf("audit paging: %+v %v", page, err)
	}

	a := e.enrolPhone("w_a")
	a.encounter("team_a", "A note that must never reach the audit log.")
	a.sync(0)
	again, err := e.s.Audit(e.ctx, domain.AuditFilter{PersonID: "sup_a"})
	e.must(err)
	if !reflect.DeepEqual(again[len(again)-3:], first) {
		t.Fatal("earlier audit entries changed")
	}
	synced, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: a.enrol.DeviceID, Action: "sync"})
	e.must(err)
	if len(synced) != 1 {
		t.Fatalf("sync audited %d times", len(synced))
	}
	all, err := e.s.Audit(e.ctx, domain.AuditFilter{Limit: 1000})
	e.must(err)
	for _, en := range all {
		if strings.Contains(fmt.Sprint(en.Detail), "must never reach") {
			t.Fatalf("audit entry carries note text: %+v", en)
		}
	}
}

func note(id, recipient string) domain.Notification {
	return domain.Notification{ID: id, RecipientKind: domain.RecipientPerson, RecipientID: recipient,
		Kind: domain.KindFollowUpDue, RecordID: "fu_" + id}
}

// Two senders claiming at once never get the same notification; a lease
// held by a sender that died runs out and the row is claimed again; a
// completion by a sender whose lease ran out changes nothing; a notification
// is not claimed before it is due, nor once cancelled.
func testOutboxLeases(t *testing.T, e *env) {
	o := e.h.Outbox
	var ns []domain.Notification
	for i := range 60 {
		ns = append(ns, note(fmt.Sprintf("n%02d", i), "w_a"))
	}
	later := note("later", "w_a")
	later.NotBefore = t0.Add(time.Hour)
	gone := note("gone", "w_a")
	e.must(o.Enqueue(e.ctx, append(ns, later, gone)...))
	e.must(o.Enqueue(e.ctx, ns[0])) // a known id is ignored
	if n, err := o.Cancel(e.ctx, gone.RecordID); err != nil || n != 1 {
		t.Fatalf("cancel: %d %v", n, err)
	}

	// Two senders race; each claims in small batches until nothing is left.
	claimed := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error // under mu
	for _, owner := range []string{"A", "B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 * len(ns) { // more rounds than rows: a live lease is claimed once
				cs, err := o.Claim(e.ctx, owner, t0, time.Minute, 7)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if err != nil || len(cs) == 0 {
					mu.Unlock()
					return
				}
				for _, c := range cs {
					if prev, dup := claimed[c.ID]; dup {
						errs = append(errs, fmt.Errorf("%s claimed by %s and %s", c.ID, prev, owner))
					}
					claimed[c.ID] = owner
				}
				mu.Unlock()
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: claims never ran out", owner))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if len(claimed) != len(ns) {
		t.Fatalf("claimed %d of %d due notifications", len(claimed), len(ns))
	}
	if _, ok := claimed[later.ID]; ok {
		t.Fatal("a notification was claimed before it was due")
	}
	if _, ok := claimed[gone.ID]; ok {
		t.Fatal("a cancelled notification was claimed")
	}

	// While the leases live nobody else gets them; once they run out, C does.
	if cs, err := o.Claim(e.ctx, "C", t0.Add(30*time.Second), time.Minute, 100); err != nil || len(cs) != 0 {
		t.Fatalf("claimed under live leases: %d %v", len(cs), err)
	}
	retaken, err := o.Claim(e.ctx, "C", t0.Add(2*time.Minute), time.Minute, 100)
	e.must(err)
	if len(retaken) != len(ns) {
		t.Fatalf("after the leases ran out C claimed %d, want %d", len(retaken), len(ns))
	}
	for _, c := range retaken {
		if c.Attempts != 2 {
			t.Fatalf("%s attempts %d, want 2 (each claim counts)", c.ID, c.Attempts)
		}
	}
	// A, whose leases ran out, reports its sends: the rows stay C's.
	var stale, fresh []domain.Outcome
	for id, owner := range claimed {
		if owner == "A" {
			stale = append(stale, domain.Outcome{ID: id, State: domain.StateSent})
		}
		fresh = append(fresh, domain.Outcome{ID: id, State: domain.StateSent})
	}
	e.must(o.Complete(e.ctx, "A", stale))
	counts, err := o.Counts(e.ctx)
	e.must(err)
	if counts[domain.StateSent] != 0 {
		t.Fatalf("a completion without the lease changed rows: %v", counts)
	}
	e.must(o.Complete(e.ctx, "C", fresh))
	counts, err = o.Counts(e.ctx)
	e.must(err)
	if counts[domain.StateSent] != len(ns) || counts[domain.StatePending] != 1 || counts[domain.StateCancelled] != 1 {
		t.Fatalf("counts %v, want %d sent, 1 pending (later), 1 cancelled", counts, len(ns))
	}
	if cs, err := o.Claim(e.ctx, "D", t0.Add(2*time.Hour), time.Minute, 100); err != nil || len(cs) != 1 || cs[0].ID != later.ID {
		t.Fatalf("the later notification, once due: %+v %v", cs, err)
	}

	// Tokens: the claimed notification's recipient is reached on their phone.
	e.must(e.h.Tokens.RegisterToken(e.ctx, "dev1", "w_a", "tok-1", "android"))
	tg, err := o.Targets(e.ctx, []domain.Claimed{{Notification: later, Attempts: 1}})
	e.must(err)
	if !slices.Equal(tg[later.ID].Tokens, []string{"tok-1"}) {
		t.Fatalf("targets %+v", tg)
	}
}
