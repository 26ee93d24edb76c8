package push

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Recipient is someone (or a service's shared device) to notify, with their working hours.
type Recipient struct {
	Kind  string // RecipientPerson or RecipientService
	ID    string
	TZ    string  // IANA zone, e.g. "Europe/London"
	Hours []Hours // none: any time
}

// Person is a convenience constructor for a person recipient.
func Person(id, tz string, hours ...Hours) Recipient {
	return Recipient{Kind: RecipientPerson, ID: id, TZ: tz, Hours: hours}
}

// Planner turns facts the server supplies into notifications. Its methods are pure: same
// facts, same notifications (ids included), so re-planning after a retry or a replayed
// changeset enqueues nothing new (Enqueue ignores known ids). When the facts change (a due date
// moved) the server cancels the old ones first (domain.CancelNotifications with the Cancel* kinds) and plans
// again: the changed anchor time gives new ids.
type Planner struct {
	// EscalateAfter is the grace after the assignee was notified of a due follow-up before the
	// team's supervisors are told it is still open.
	EscalateAfter time.Duration
	// PickupCheckAfter is when, after submitting a referral, the referrer gets the automatic
	// "check the service has picked it up" follow-up. Zero: none (the server then creates the
	// follow-up record itself and plans it with FollowUp).
	PickupCheckAfter time.Duration
	// UrgentAcceptWithin is how long an urgent referral may wait for acceptance before the
	// referring team's supervisors are told.
	UrgentAcceptWithin time.Duration
	// ConcernAckWithin is how long a high or urgent safeguarding concern may
	// wait for a supervisor's acknowledgement before it escalates.
	ConcernAckWithin time.Duration
}

// DefaultPlanner returns the agreed defaults: escalate after one working day, check pick-up
// after three days, urgent referrals escalate after two hours, an unacknowledged safeguarding
// concern after thirty minutes.
func DefaultPlanner() Planner {
	return Planner{EscalateAfter: 24 * time.Hour, PickupCheckAfter: 72 * time.Hour, UrgentAcceptWithin: 2 * time.Hour,
		ConcernAckWithin: 30 * time.Minute}
}

// Kinds to cancel (domain.CancelNotifications) when the cause goes away.
var (
	CancelWhenFollowUpClosed   = []string{KindFollowUpDue, KindFollowUpEscalation}
	CancelWhenReferralAnswered = []string{KindHandoff, KindReferralEscalation, KindFollowUpDue}
)

// FollowUp is the facts about one open follow-up.
type FollowUp struct {
	ID          string // the follow_up record id
	Due         time.Time
	Urgent      bool
	Assignee    Recipient
	Supervisors []Recipient // the assignee's team's supervisors
}

// FollowUp plans the due notification to the assignee (at Due, or their next working hours)
// and the escalation to each supervisor EscalateAfter later (counted from when the assignee
// was told, then moved into each supervisor's hours). Urgent ones ignore hours. Cancel both
// kinds (CancelWhenFollowUpClosed) when the follow-up is closed.
func (p Planner) FollowUp(f FollowUp) []Notification {
	told := at(f.Due, f.Assignee, f.Urgent)
	out := []Notification{newNotification(KindFollowUpDue, f.ID, f.Assignee, f.Due, f.Urgent, told)}
	if p.EscalateAfter > 0 {
		esc := told.Add(p.EscalateAfter)
		for _, s := range f.Supervisors {
			out = append(out, newNotification(KindFollowUpEscalation, f.ID, s, f.Due, f.Urgent, at(esc, s, f.Urgent)))
		}
	}
	return out
}

// Referral is the facts about a referral just submitted to a service.
type Referral struct {
	ID        string // the referral record id
	Submitted time.Time
	Urgent    bool
	Referrer  Recipient
	// Practitioners are the service's practitioners (with the service's or their own hours);
	// a Kind=service recipient reaches devices enrolled for the service itself.
	Practitioners []Recipient
	Supervisors   []Recipient // the referring team's supervisors
}

// ReferralSubmitted plans the handoff to the service's practitioners, the referrer's automatic
// pick-up check after PickupCheckAfter, and, for an urgent referral, the escalation to the
// referring team's supervisors after UrgentAcceptWithin (sent at once then, whatever the
// hours). Cancel with CancelWhenReferralAnswered when the service accepts or declines.
func (p Planner) ReferralSubmitted(r Referral) []Notification {
	var out []Notification
	for _, pr := range r.Practitioners {
		out = append(out, newNotification(KindHandoff, r.ID, pr, r.Submitted, r.Urgent, at(r.Submitted, pr, r.Urgent)))
	}
	if p.PickupCheckAfter > 0 {
		t := r.Submitted.Add(p.PickupCheckAfter)
		out = append(out, newNotification(KindFollowUpDue, r.ID, r.Referrer, r.Submitted, false, at(t, r.Referrer, false)))
	}
	if r.Urgent && p.UrgentAcceptWithin > 0 {
		t := r.Submitted.Add(p.UrgentAcceptWithin)
		for _, s := range r.Supervisors {
			out = append(out, newNotification(KindReferralEscalation, r.ID, s, r.Submitted, true, t))
		}
	}
	return out
}

// Answer is the facts about a service accepting or declining a referral.
type Answer struct {
	ReferralID string
	At         time.Time
	Accepted   bool
	Urgent     bool
	Referrer   Recipient
}

// ReferralAnswered plans the notification back to the referrer (in their hours unless urgent)
// and a data-only sync that wakes the referrer's phone at once so the referral's new status
// arrives through sync.
func (p Planner) ReferralAnswered(a Answer) []Notification {
	kind := KindHandoffDeclined
	if a.Accepted {
		kind = KindHandoffAccepted
	}
	return []Notification{
		newNotification(kind, a.ReferralID, a.Referrer, a.At, a.Urgent, at(a.At, a.Referrer, a.Urgent)),
		p.Sync(a.Referrer, a.ReferralID, a.At),
	}
}

// Sync plans a data-only "sync now" to a recipient's devices. It shows nothing, so it ignores
// working hours. recordID may be empty.
func (p Planner) Sync(r Recipient, recordID string, now time.Time) Notification {
	return newNotification(KindSync, recordID, r, now, true, now)
}

func at(t time.Time, r Recipient, urgent bool) time.Time {
	if urgent {
		return t
	}
	return NextAllowed(t, r.TZ, r.Hours)
}

// newNotification derives the id from what makes the notification unique, so the same facts
// always give the same id.
func newNotification(kind, recordID string, r Recipient, anchor time.Time, urgent bool, notBefore time.Time) Notification {
	h := sha256.New()
	for _, s := range []string{kind, recordID, r.Kind, r.ID, strconv.FormatInt(anchor.UnixMilli(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return Notification{
		ID:            "n" + hex.EncodeToString(h.Sum(nil))[:32],
		RecipientKind: r.Kind,
		RecipientID:   r.ID,
		Kind:          kind,
		RecordID:      recordID,
		Urgent:        urgent,
		NotBefore:     notBefore.UTC(),
	}
}

// Concern is the facts about a high or urgent safeguarding concern just raised.
type Concern struct {
	EncounterID string
	Raised      time.Time
	// Salt tells this raising apart from an earlier one of the same encounter
	// (a level lowered and raised again must page people again).
	Salt string
	// Told are told at once: the team's supervisors and the safeguarding leads.
	Told []Recipient
	// Escalation are told ConcernAckWithin later unless a supervisor has
	// acknowledged it (the store cancels KindConcernEscalation then).
	Escalation []Recipient
}

// Concern plans a safeguarding concern's notifications. Both kinds are urgent:
// a child at risk does not wait for anyone's working hours. A recipient in
// both lists gets both.
func (p Planner) Concern(c Concern) []Notification {
	// The ids depend on the encounter and the salt, not on the time: the same
	// raising planned twice (a replay) gives the same ids.
	key, anchor := c.EncounterID+"\x00"+c.Salt, time.Time{}
	var out []Notification
	seen := map[string]bool{}
	for _, r := range c.Told {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, newNotification(KindConcernRaised, key, r, anchor, true, c.Raised))
		}
	}
	if p.ConcernAckWithin > 0 {
		esc := c.Raised.Add(p.ConcernAckWithin)
		seen = map[string]bool{}
		for _, r := range c.Escalation {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, newNotification(KindConcernEscalation, key, r, anchor, true, esc))
			}
		}
	}
	for i := range out {
		out[i].RecordID = c.EncounterID
	}
	return out
}

// Chase plans the reminder to a service's practitioners that a referral
// still waits for their answer, chased at the given time: in each
// practitioner's hours unless the referral is urgent. The id depends on the
// chase time, so chasing twice tells them twice and a replay does not.
func (p Planner) Chase(r Referral, chased time.Time) []Notification {
	var out []Notification
	for _, pr := range r.Practitioners {
		out = append(out, newNotification(KindReferralChase, r.ID, pr, chased, r.Urgent, at(chased, pr, r.Urgent)))
	}
	return out
}
