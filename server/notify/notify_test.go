package notify_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

const reason = "Jamie is sofa surfing at his aunt's on Rye Lane"

// A worker's phone submits a referral to a co-located service: the service's
// practitioners get a handoff carrying only opaque ids and generic text; the
// server creates the referrer's pick-up follow-up and it reaches their phone
// through sync. A practitioner accepts: the referrer is woken by a data-only
// sync at once and told in their working hours, and their next pull has the
// accepted status and the pick-up follow-up done.
func TestReferralHandoffAndAcceptFlowBack(t *testing.T) {
	e := newEnv(t)
	worker, h1, h2 := e.phone("w_a"), e.phone("prac_h1"), e.phone("prac_h2")
	sup := e.phone("sup_a")

	yp := worker.youngPerson("Jamie", false)
	ref := worker.referral(yp, "routine", reason)
	for _, r := range worker.sync() {
		if r.Status != protocol.StatusAccepted {
			t.Fatalf("push result %+v", r)
		}
	}

	// The pick-up follow-up is a real record, made by the server in the same
	// transaction, assigned to the referrer, due 72 h later; the worker's
	// phone already has it from the same round trip.
	pk := notify.PickupID(ref)
	if got := worker.field(pk, "assignee"); got != "w_a" {
		t.Fatalf("pick-up follow-up on the phone: assignee %q", got)
	}
	if k, st, rid := worker.field(pk, "kind"), worker.field(pk, "status"), worker.field(pk, "referral_id"); k != "referral_pickup" || st != "open" || rid != string(ref) {
		t.Fatalf("pick-up follow-up: kind %q status %q referral %q", k, st, rid)
	}
	due, _ := time.Parse(time.RFC3339, worker.field(pk, "due_at"))
	if want := monday10.Add(72 * time.Hour); !due.Equal(want) {
		t.Fatalf("pick-up due %v, want %v", due, want)
	}
	// Its due notification waits for the worker's 18:00 start on Thursday;
	// its escalation goes to the supervisor.
	rows := e.rows(string(pk))
	if len(rows) != 2 || rows[0].Kind != push.KindFollowUpDue || rows[0].Recipient != "w_a" ||
		!rows[0].NotBefore.Equal(time.Date(2026, 3, 5, 18, 0, 0, 0, london)) || rows[1].Kind != push.KindFollowUpEscalation || rows[1].Recipient != "sup_a" {
		t.Fatalf("pick-up follow-up outbox = %+v", rows)
	}

	// Monday 10:00: prac_h1 (service hours 09-17) and prac_h2 (own hours
	// 10-14) are both at work.
	got := e.sendDue()
	if k := kinds(got[h1.token]); !slices.Equal(k, []string{push.KindHandoff}) {
		t.Fatalf("prac_h1 got %v", k)
	}
	if k := kinds(got[h2.token]); !slices.Equal(k, []string{push.KindHandoff}) {
		t.Fatalf("prac_h2 got %v", k)
	}
	if len(got[worker.token])+len(got[sup.token]) != 0 {
		t.Fatalf("unexpected sends: %v", got)
	}
	m := got[h1.token][0]
	if d := dataOf(m); d["record_id"] != string(ref) || d["kind"] != push.KindHandoff {
		t.Fatalf("handoff data = %v", d)
	}
	if n, _ := m.Message["notification"].(map[string]any); n["body"] != push.Texts[push.KindHandoff] {
		t.Fatalf("handoff notification = %v", m.Message["notification"])
	}
	noPersonalData(t, got, "Jamie", "sofa", "Rye Lane", "Robin", "Pat Housing", "Jo Housing", string(yp))

	// A retried push (the response was lost) plans nothing new.
	before := e.count(`SELECT COUNT(*) FROM push_outbox`)
	worker.outbox = append(worker.outbox, mustChangesets(t, e, ref)...)
	worker.sync()
	if after := e.count(`SELECT COUNT(*) FROM push_outbox`); after != before {
		t.Fatalf("replayed push enqueued %d more", after-before)
	}

	// prac_h1 accepts at 11:00.
	e.clock.Set(monday10.Add(time.Hour))
	h1.sync()
	if st := h1.field(ref, "status"); st != "submitted" {
		t.Fatalf("practitioner sees status %q", st)
	}
	h1.answer(ref, "accepted", "")
	if r := h1.sync(); len(r) != 1 || r[0].Status != protocol.StatusAccepted {
		t.Fatalf("accept: %+v", r)
	}
	got = e.sendDue()
	// 11:00 is outside the worker's hours: only the data-only sync wakes the phone now.
	if len(got[worker.token]) != 1 {
		t.Fatalf("worker got %d messages, want the sync wake-up: %v", len(got[worker.token]), got)
	}
	wake := got[worker.token][0]
	if dataOf(wake)["kind"] != push.KindSync || wake.Message["notification"] != nil {
		t.Fatalf("wake-up is not data-only: %s", wake.Body)
	}
	worker.sync()
	if st := worker.field(ref, "status"); st != "accepted" {
		t.Fatalf("worker's phone has status %q after the pull", st)
	}
	if st := worker.field(pk, "status"); st != "done" {
		t.Fatalf("pick-up follow-up is %q after acceptance", st)
	}
	for _, r := range e.rows(string(pk)) {
		if r.State != push.StateCancelled {
			t.Fatalf("pick-up notification still %s: %+v", r.State, r)
		}
	}
	// 18:00, the worker starts: the visible notification arrives.
	e.clock.Set(time.Date(2026, 3, 2, 18, 0, 0, 0, london))
	got = e.sendDue()
	if k := kinds(got[worker.token]); !slices.Equal(k, []string{push.KindHandoffAccepted}) {
		t.Fatalf("worker at 18:00 got %v", k)
	}
	noPersonalData(t, got, "Jamie", "sofa", "Robin")
	if n := e.count(`SELECT COUNT(*) FROM push_outbox WHERE state = 'pending'`); n != 0 {
		t.Fatalf("%d notifications still pending: %+v", n, e.rows(""))
	}
}

// mustChangesets returns the stored changesets that touched a record, as a
// phone would resend them.
func mustChangesets(t *testing.T, e *env, id syncengine.RecordID) []*syncengine.Changeset {
	t.Helper()
	rs, err := e.db.SQL().Query(`SELECT c.body FROM changesets c JOIN changeset_records cr ON cr.seq = c.seq WHERE cr.record_id = ? AND c.device_id IS NOT NULL ORDER BY c.seq`, string(id))
	must(t, err)
	defer rs.Close()
	var out []*syncengine.Changeset
	for rs.Next() {
		var b []byte
		must(t, rs.Scan(&b))
		cs, err := syncengine.DecodeChangeset(b)
		must(t, err)
		out = append(out, cs)
	}
	return out
}

// An urgent referral submitted in the evening reaches the service at once
// (outside its hours); the service declines with a reason: the pending
// escalation is cancelled and the referrer is told at once, and their phone
// pulls the declined status and the reason.
func TestUrgentReferralDeclineFlowsBack(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Date(2026, 3, 2, 20, 0, 0, 0, london))
	worker, h1, sup := e.phone("w_a"), e.phone("prac_h1"), e.phone("sup_a")
	ref := worker.referral(worker.youngPerson("Jamie", false), "urgent", reason)
	worker.sync()
	got := e.sendDue()
	if k := kinds(got[h1.token]); !slices.Equal(k, []string{push.KindHandoff}) {
		t.Fatalf("urgent handoff at 20:00: prac_h1 got %v", k)
	}
	if d := dataOf(got[h1.token][0]); d["urgent"] != "1" {
		t.Fatalf("urgent handoff data %v", d)
	}
	// The escalation to the supervisor is planned for 22:00.
	var esc []outboxRow
	for _, r := range e.rows(string(ref)) {
		if r.Kind == push.KindReferralEscalation {
			esc = append(esc, r)
		}
	}
	if len(esc) != 1 || esc[0].Recipient != "sup_a" || !esc[0].NotBefore.Equal(time.Date(2026, 3, 2, 22, 0, 0, 0, london)) {
		t.Fatalf("escalation = %+v", esc)
	}

	e.clock.Set(time.Date(2026, 3, 2, 21, 0, 0, 0, london))
	h1.sync()
	h1.answer(ref, "declined", "We cannot house under-18s; try the youth homelessness team")
	h1.sync()
	got = e.sendDue()
	if k := kinds(got[worker.token]); !slices.Equal(k, []string{push.KindHandoffDeclined, push.KindSync}) {
		t.Fatalf("worker got %v", k)
	}
	noPersonalData(t, got, "Jamie", "under-18s", "homelessness")
	worker.sync()
	if st, why := worker.field(ref, "status"), worker.field(ref, "decline_reason"); st != "declined" || !strings.Contains(why, "youth homelessness") {
		t.Fatalf("worker's phone: status %q reason %q", st, why)
	}
	// Declined: the worker still has to act, so the pick-up follow-up stays open.
	if st := worker.field(notify.PickupID(ref), "status"); st != "open" {
		t.Fatalf("pick-up follow-up %q after decline", st)
	}
	e.clock.Set(time.Date(2026, 3, 3, 9, 0, 0, 0, london))
	if got := e.sendDue(); len(got[sup.token]) != 0 {
		t.Fatalf("supervisor escalated after the referral was answered: %v", kinds(got[sup.token]))
	}
}

// An urgent referral nobody accepts escalates to the referring team's
// supervisor after UrgentAcceptWithin, whatever the hour.
func TestUrgentReferralNotAcceptedEscalates(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Date(2026, 3, 2, 20, 0, 0, 0, london))
	worker, sup := e.phone("w_a"), e.phone("sup_a")
	ref := worker.referral(worker.youngPerson("Jamie", false), "urgent", reason)
	worker.sync()
	if got := e.sendDue(); len(got[sup.token]) != 0 {
		t.Fatalf("supervisor told before the grace: %v", kinds(got[sup.token]))
	}
	e.clock.Set(time.Date(2026, 3, 2, 22, 0, 0, 0, london))
	got := e.sendDue()
	if k := kinds(got[sup.token]); !slices.Equal(k, []string{push.KindReferralEscalation}) {
		t.Fatalf("supervisor at 22:00 got %v", k)
	}
	if d := dataOf(got[sup.token][0]); d["record_id"] != string(ref) || d["urgent"] != "1" {
		t.Fatalf("escalation data %v", d)
	}
	noPersonalData(t, got, "Jamie", "sofa", "Robin")
}

// A follow-up due outside the assignee's hours waits until they start; an
// urgent one (young person under a safeguarding hold) goes at once; a
// follow-up still open after the grace escalates to the supervisor, and one
// closed in time does not.
func TestFollowUpHoursUrgencyAndEscalation(t *testing.T) {
	e := newEnv(t)
	worker, sup := e.phone("w_a"), e.phone("sup_a")
	plain := worker.youngPerson("Kai", false)
	held := worker.youngPerson("Mo", true)
	newFU := func(yp syncengine.RecordID) syncengine.RecordID {
		var id syncengine.RecordID
		worker.edit(func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeFollowUp); err != nil {
				return err
			}
			return set(tx, id, "team_id", "team_a", "young_person_id", string(yp), "assignee", "w_a",
				"due_at", monday10.UTC().Format(time.RFC3339), "status", "open", "kind", "check_in")
		})
		return id
	}
	fu, urgent, closed := newFU(plain), newFU(held), newFU(plain)
	worker.sync()

	// Monday 10:00, the worker starts at 18:00: only the urgent one goes now.
	got := e.sendDue()
	if len(got[worker.token]) != 1 || dataOf(got[worker.token][0])["record_id"] != string(urgent) || dataOf(got[worker.token][0])["urgent"] != "1" {
		t.Fatalf("at 10:00 the worker got %v", got[worker.token])
	}
	e.clock.Set(time.Date(2026, 3, 2, 17, 59, 0, 0, london))
	if got := e.sendDue(); len(got[worker.token]) != 0 {
		t.Fatalf("at 17:59 the worker got %v", kinds(got[worker.token]))
	}
	e.clock.Set(time.Date(2026, 3, 2, 18, 0, 0, 0, london))
	got = e.sendDue()
	var ids []string
	for _, r := range got[worker.token] {
		ids = append(ids, dataOf(r)["record_id"].(string))
	}
	slices.Sort(ids)
	want := []string{string(fu), string(closed)}
	slices.Sort(want)
	if !slices.Equal(ids, want) || !slices.Equal(kinds(got[worker.token]), []string{push.KindFollowUpDue, push.KindFollowUpDue}) {
		t.Fatalf("at 18:00 the worker got %v for %v", kinds(got[worker.token]), ids)
	}
	noPersonalData(t, got, "Kai", "Mo", "Robin")

	// The worker closes one of them the same evening.
	worker.edit(func(tx *syncengine.Txn) error { return tx.Set(closed, "status", "done") })
	worker.sync()

	// Grace 24 h after the worker was told (Tue 18:00), moved into the
	// supervisor's 09-17: Wednesday 09:00.
	e.clock.Set(time.Date(2026, 3, 4, 8, 59, 0, 0, london))
	got = e.sendDue()
	for _, r := range got[sup.token] {
		if dataOf(r)["record_id"] != string(urgent) {
			t.Fatalf("early escalation %v", dataOf(r))
		}
	}
	e.clock.Set(time.Date(2026, 3, 4, 9, 0, 0, 0, london))
	got = e.sendDue()
	if len(got[sup.token]) != 1 || dataOf(got[sup.token][0])["record_id"] != string(fu) || dataOf(got[sup.token][0])["kind"] != push.KindFollowUpEscalation {
		t.Fatalf("supervisor on Wednesday 09:00 got %v", got[sup.token])
	}
	for _, r := range e.rows(string(closed)) {
		if r.Kind == push.KindFollowUpEscalation && r.State != push.StateCancelled {
			t.Fatalf("closed follow-up's escalation is %s", r.State)
		}
	}

	// Moving the due date re-plans: the old notifications are cancelled.
	worker.edit(func(tx *syncengine.Txn) error {
		return tx.Set(fu, "due_at", time.Date(2026, 3, 9, 19, 0, 0, 0, london).UTC().Format(time.RFC3339))
	})
	worker.sync()
	pending := 0
	for _, r := range e.rows(string(fu)) {
		if r.State == push.StatePending {
			pending++
			if r.Kind == push.KindFollowUpDue && !r.NotBefore.Equal(time.Date(2026, 3, 9, 19, 0, 0, 0, london)) {
				t.Fatalf("re-planned due notification at %v", r.NotBefore)
			}
		}
	}
	if pending != 2 {
		t.Fatalf("after moving the due date: %+v", e.rows(string(fu)))
	}
}

// A device's token is registered through the API; revoking the device removes
// its tokens in the revocation's transaction, and the revoked device cannot
// register again.
func TestRevokedDeviceTokensAreGone(t *testing.T) {
	e := newEnv(t)
	worker := e.phone("w_a")
	if n := e.count(`SELECT COUNT(*) FROM push_tokens WHERE device_id = ? AND person_id = 'w_a'`, worker.enrol.DeviceID); n != 1 {
		t.Fatalf("%d tokens registered", n)
	}
	must(t, e.db.RevokeDevice(context.Background(), worker.enrol.DeviceID, "sup_a", "lost"))
	if n := e.count(`SELECT COUNT(*) FROM push_tokens WHERE device_id = ?`, worker.enrol.DeviceID); n != 0 {
		t.Fatalf("%d tokens left after revocation", n)
	}
	st, body := e.post("/v1/push/token", worker.enrol.Credential, map[string]string{"token": "again", "platform": "android"})
	if st != 401 || !strings.Contains(string(body), `"revoked"`) {
		t.Fatalf("revoked device registering: %d %s", st, body)
	}
}

// Notifications are written in the transaction of the change: a changeset
// the server quarantines produces none (and no pick-up follow-up), and a
// change whose transaction fails leaves neither the change nor its
// notifications.
func TestOutboxIsTransactional(t *testing.T) {
	e := newEnv(t)
	intruder := e.phone("w_b") // team B may not write team A's records
	yp := intruder.youngPerson("Jamie", false)
	intruder.outbox = nil // the young person is team A's too: send only the referral
	ref := intruder.referral(yp, "urgent", reason)
	for _, r := range intruder.sync() {
		if r.Status != protocol.StatusQuarantined {
			t.Fatalf("push result %+v, want quarantined", r)
		}
	}
	if n := e.count(`SELECT COUNT(*) FROM push_outbox`); n != 0 {
		t.Fatalf("quarantined changeset enqueued %d notifications", n)
	}
	if rec, err := e.db.RecordState(context.Background(), string(notify.PickupID(ref))); err != nil || rec != nil {
		t.Fatalf("quarantined referral got a pick-up follow-up: %v %v", rec, err)
	}

	// The rules fail after planning: the sync is refused (500) and nothing
	// of it is kept.
	worker := e.phone("w_a")
	e.db.Rules = failingRules{e.notes}
	worker.referral(worker.youngPerson("Jamie", false), "routine", reason)
	req := worker.outbox
	st, _ := e.post("/v1/sync", worker.enrol.Credential, syncBody(req))
	if st != 500 {
		t.Fatalf("sync with failing rules: %d", st)
	}
	if n := e.count(`SELECT COUNT(*) FROM push_outbox`); n != 0 {
		t.Fatalf("%d notifications survived the rolled-back change", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM records WHERE type = 'referral'`); n != 0 {
		t.Fatalf("%d referrals survived the rolled-back change", n)
	}
	// Retried once the fault is gone: accepted, and now notified.
	e.db.Rules = e.notes
	worker.sync()
	if n := e.count(`SELECT COUNT(*) FROM push_outbox WHERE kind = 'handoff'`); n != 2 {
		t.Fatalf("%d handoffs after the retry, want 2", n)
	}
}

func encode(cs *syncengine.Changeset) string {
	return base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))
}

func syncBody(css []*syncengine.Changeset) map[string]any {
	var frames []string
	for _, cs := range css {
		frames = append(frames, encode(cs))
	}
	return map[string]any{"changesets": frames, "no_pull": true}
}

// failingRules plan like the real ones, then fail on a submitted referral.
type failingRules struct{ domain.Rules }

func (f failingRules) Plan(ctx context.Context, facts domain.Facts, c domain.Change) (domain.Intents, error) {
	in, err := f.Rules.Plan(ctx, facts, c)
	if err == nil && c.After.Type == syncengine.TypeReferral && c.After.String("status") == "submitted" {
		return in, errors.New("disk on fire")
	}
	return in, err
}

// A decision written through the server replica (the portal's service view)
// takes the same path as a phone's: the referrer is told and woken.
func TestServerReplicaWritesNotify(t *testing.T) {
	e := newEnv(t)
	worker := e.phone("w_a")
	ref := worker.referral(worker.youngPerson("Jamie", false), "urgent", reason)
	worker.sync()
	e.sendDue()
	rep, _, err := e.db.ServerReplica(context.Background())
	must(t, err)
	if _, err := rep.Edit("prac_h1", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", "accepted") }); err != nil {
		t.Fatal(err)
	}
	got := e.sendDue()
	if k := kinds(got[worker.token]); !slices.Equal(k, []string{push.KindHandoffAccepted, push.KindSync}) {
		t.Fatalf("worker got %v", k)
	}
	worker.sync()
	if st := worker.field(ref, "status"); st != "accepted" {
		t.Fatalf("worker's phone has %q", st)
	}
	// The portal's replica and the automation replica never share counters:
	// a second portal edit after the automation's write is accepted.
	if _, err := rep.Edit("prac_h1", func(tx *syncengine.Txn) error { return tx.Set(ref, "outcome", "housed") }); err != nil {
		t.Fatalf("portal edit after an automation write: %v", err)
	}
}

// A submitted referral sent on to another service before anyone picked it up:
// the first service's waiting handoffs are cancelled and the new service's
// practitioners get theirs.
func TestRedirectedReferralReplansHandoff(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Date(2026, 3, 2, 20, 0, 0, 0, london)) // Monday evening: services are closed
	worker, h1, c1 := e.phone("w_a"), e.phone("prac_h1"), e.phone("prac_c1")
	ref := worker.referral(worker.youngPerson("Jamie", false), "routine", reason)
	worker.sync()
	if got := e.sendDue(); len(got[h1.token]) != 0 {
		t.Fatalf("handoff sent outside the service's hours: %v", kinds(got[h1.token]))
	}
	// Re-addressing a submitted referral takes a new consent decision.
	worker.edit(func(tx *syncengine.Txn) error {
		if err := tx.Set(ref, "consent", "given"); err != nil {
			return err
		}
		return tx.Set(ref, "service_id", "svc_camhs")
	})
	worker.sync()
	e.clock.Set(time.Date(2026, 3, 3, 10, 0, 0, 0, london)) // Tuesday morning
	got := e.sendDue()
	if k := kinds(got[c1.token]); !slices.Equal(k, []string{push.KindHandoff}) {
		t.Fatalf("new service's practitioner got %v", k)
	}
	if len(got[h1.token]) != 0 {
		t.Fatalf("the first service was still handed the referral: %v", kinds(got[h1.token]))
	}
}

// A referral sent on to another service and back to the first before
// anyone picked it up, all in one sync (a phone's backlog) or in syncs
// stored at the same instant (one group commit): the first service's
// practitioners are handed it at the end. Their first handoff was cancelled
// by the redirect, and a cancelled id is never sent, so the handoff planned
// when it comes back needs an id of its own.
func TestReferralRedirectedAndBackIsHandedOff(t *testing.T) {
	for _, oneSync := range []bool{true, false} {
		t.Run(map[bool]string{true: "one sync", false: "a sync each, one instant"}[oneSync], func(t *testing.T) {
			e := newEnv(t)
			e.clock.Set(time.Date(2026, 3, 2, 20, 0, 0, 0, london)) // Monday evening: services are closed
			worker, h1, c1 := e.phone("w_a"), e.phone("prac_h1"), e.phone("prac_c1")
			ref := worker.referral(worker.youngPerson("Jamie", false), "routine", reason)
			for _, svc := range []string{"svc_camhs", "svc_housing"} {
				if !oneSync {
					worker.sync()
				}
				worker.edit(func(tx *syncengine.Txn) error {
					if err := tx.Set(ref, "consent", "given"); err != nil {
						return err
					}
					return tx.Set(ref, "service_id", svc)
				})
			}
			for _, r := range worker.sync() {
				if r.Status != "accepted" {
					t.Fatalf("push: %+v", r)
				}
			}
			e.clock.Set(time.Date(2026, 3, 3, 10, 0, 0, 0, london)) // Tuesday morning
			got := e.sendDue()
			if k := kinds(got[h1.token]); !slices.Equal(k, []string{push.KindHandoff}) {
				t.Fatalf("the service it came back to got %v; outbox %+v", k, e.rows(string(ref)))
			}
			if len(got[c1.token]) != 0 {
				t.Fatalf("the service it left got %v", kinds(got[c1.token]))
			}
		})
	}
}

// TestNoHandoffWithoutConsent: a referral submitted with consent refused or
// never asked is refused at the push, so the service is not handed the young
// person's details and no handoff push is queued.
func TestNoHandoffWithoutConsent(t *testing.T) {
	for _, consent := range []string{"refused", "not_asked"} {
		t.Run(consent, func(t *testing.T) {
			e := newEnv(t)
			e.clock.Set(time.Date(2026, 3, 3, 10, 0, 0, 0, london)) // Tuesday morning: services open
			worker, h1 := e.phone("w_a"), e.phone("prac_h1")
			yp := worker.youngPerson("Jamie", false)
			var ref syncengine.RecordID
			worker.edit(func(tx *syncengine.Txn) (err error) {
				if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
					return err
				}
				if err := set(tx, ref, "team_id", "team_a", "young_person_id", string(yp), "service_id", "svc_housing", "urgency", "urgent",
					"consent", consent, "submitted_at", e.clock.Now().UTC().Format(time.RFC3339), "status", "submitted"); err != nil {
					return err
				}
				return tx.InsertText(ref, "reason", 0, reason)
			})
			res := worker.sync()
			if last := res[len(res)-1]; last.Status != protocol.StatusQuarantined || last.Code != "forbidden" {
				t.Fatalf("submission without consent: %+v", last)
			}
			if got := e.sendDue(); len(got[h1.token]) != 0 {
				t.Fatalf("the service was handed the referral: %v", kinds(got[h1.token]))
			}
			if rows := e.rows(string(ref)); len(rows) != 0 {
				t.Fatalf("pushes queued for the referral: %v", rows)
			}
		})
	}
}

// A follow-up deleted and then restored (a supervisor undoes a worker's
// delete) is open again
// with the same due time, assignee and team: its assignee must be told and
// its supervisors escalated to as before. The notifications of the deleted
// one were cancelled, and a cancelled id is never sent, so the restored
// follow-up's plan needs ids of its own.
func TestRestoredFollowUpNotifiesAgain(t *testing.T) {
	tests := []struct {
		name     string
		together bool // deleted in the same sync that created it
	}{
		{"deleted in a later sync", false},
		{"deleted in the sync that created it", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			worker, sup := e.phone("w_a"), e.phone("sup_a")
			var fu syncengine.RecordID
			worker.edit(func(tx *syncengine.Txn) (err error) {
				if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
					return err
				}
				return set(tx, fu, "team_id", "team_a", "assignee", "w_a",
					"due_at", monday10.UTC().Format(time.RFC3339), "status", "open", "kind", "check_in")
			})
			if !tt.together {
				worker.sync()
			}
			worker.edit(func(tx *syncengine.Txn) error { return tx.Delete(fu) })
			worker.sync()
			for _, r := range e.rows(string(fu)) {
				if r.State == push.StatePending {
					t.Fatalf("deleted follow-up has a pending %s", r.Kind)
				}
			}
			sup.sync()
			sup.edit(func(tx *syncengine.Txn) error { return tx.Undelete(fu) })
			for _, r := range sup.sync() {
				if r.Status != "accepted" {
					t.Fatalf("restore: %+v", r)
				}
			}

			e.clock.Set(time.Date(2026, 3, 2, 18, 0, 0, 0, london))
			got := e.sendDue()
			if len(got[worker.token]) != 1 || dataOf(got[worker.token][0])["record_id"] != string(fu) ||
				dataOf(got[worker.token][0])["kind"] != push.KindFollowUpDue {
				t.Fatalf("restored follow-up: the worker got %v at 18:00; outbox %+v", kinds(got[worker.token]), e.rows(string(fu)))
			}
			e.clock.Set(time.Date(2026, 3, 4, 9, 0, 0, 0, london))
			got = e.sendDue()
			if len(got[sup.token]) != 1 || dataOf(got[sup.token][0])["kind"] != push.KindFollowUpEscalation {
				t.Fatalf("restored follow-up: the supervisor got %v; outbox %+v", kinds(got[sup.token]), e.rows(string(fu)))
			}
		})
	}
}

// A referral the service accepted, then deleted by a supervisor and
// restored at the same instant (in one sync, or in syncs stored together):
// the delete cancelled the referrer's answer and wake-up before they were
// sent, so the restored referral's answer must reach the referrer with ids
// of its own (a cancelled id is never sent).
func TestAnsweredReferralRestoredTellsTheReferrer(t *testing.T) {
	for _, oneSync := range []bool{true, false} {
		t.Run(map[bool]string{true: "deleted and restored in one sync", false: "a sync each, one instant"}[oneSync], func(t *testing.T) {
			e := newEnv(t)
			worker, h1, sup := e.phone("w_a"), e.phone("prac_h1"), e.phone("sup_a")
			ref := worker.referral(worker.youngPerson("Jamie", false), "routine", reason)
			worker.sync()
			e.sendDue() // the handoff

			e.clock.Set(monday10.Add(time.Hour)) // 11:00: outside the worker's hours
			h1.sync()
			h1.answer(ref, "accepted", "")
			if r := h1.sync(); len(r) != 1 || r[0].Status != protocol.StatusAccepted {
				t.Fatalf("accept: %+v", r)
			}
			sup.sync()
			sup.edit(func(tx *syncengine.Txn) error { return tx.Delete(ref) })
			if !oneSync {
				sup.sync()
			}
			sup.edit(func(tx *syncengine.Txn) error { return tx.Undelete(ref) })
			for _, r := range sup.sync() {
				if r.Status != protocol.StatusAccepted {
					t.Fatalf("delete and restore: %+v", r)
				}
			}

			got := e.sendDue()
			if k := kinds(got[worker.token]); !slices.Equal(k, []string{push.KindSync}) {
				t.Fatalf("the referrer got %v at 11:00, want the wake-up; outbox %+v", k, e.rows(string(ref)))
			}
			e.clock.Set(time.Date(2026, 3, 2, 18, 0, 0, 0, london))
			got = e.sendDue()
			if k := kinds(got[worker.token]); !slices.Equal(k, []string{push.KindHandoffAccepted}) {
				t.Fatalf("the referrer got %v at 18:00, want the answer; outbox %+v", k, e.rows(string(ref)))
			}
		})
	}
}
