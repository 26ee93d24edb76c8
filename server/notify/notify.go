// Package notify owns the rules that turn accepted record changes into push
// notifications, so that a follow-up or a referral never depends on someone
// remembering. It is the store's domain.Rules: for each record a stored
// changeset touched, Plan compares it before and after, reads the
// organisation facts it needs (assignee, team supervisors, service
// practitioners, time zones, working hours) through the store's
// domain.Facts, which reads inside the transaction storing the change, asks
// push.Planner for the notifications and returns them as intents. Plan
// writes nothing: the store writes the intents in that same transaction (a
// transactional outbox: they exist if and only if the change commits; a
// quarantined changeset is never planned).
//
// The rules:
//
//   - referral submitted (draft→submitted, or created submitted): a handoff to
//     the addressed service's practitioners (in their hours unless urgent); an
//     urgent one escalates to the referring team's supervisors if not answered
//     within Planner.UrgentAcceptWithin; and the server creates the referrer's
//     "check the service has picked it up" follow-up (kind referral_pickup,
//     due PickupAfter later) as an edit intent, which the store writes with
//     its automation replica in the same transaction, so it reaches the
//     referrer's phone through sync;
//
//   - referral accepted or declined: pending handoff and escalation are
//     cancelled; the referrer gets a notification and a data-only "sync" that
//     wakes the phone to pull the new status; on acceptance the pick-up
//     follow-up is closed (done), again as an edit intent;
//
//   - referral chased (chased_at set while submitted): the service's
//     practitioners are reminded, in their hours unless it is urgent;
//
//   - referral withdrawn, closed, deleted or erased: pending ones cancelled;
//
//   - follow-up open (created, reopened, due date, assignee or team changed):
//     the assignee is told at the due time or their next working hours, and
//     the team's supervisors Planner.EscalateAfter later if it is still open;
//     closed, cancelled, deleted or erased: pending ones cancelled.
//
//   - encounter whose safeguarding concern (domain.ConcernLevel) rises to high
//     or urgent: the team's supervisors and every designated safeguarding lead
//     are told at once, whatever the hour; a concern alert is opened
//     (domain.ConcernAlert) that stays open until a supervisor acknowledges it;
//     Planner.ConcernAckWithin later the escalation goes to the safeguarding
//     leads and the admins (the team's supervisors again when there are none)
//     unless the acknowledgement cancelled it. Lowering the level cancels
//     nothing: only a supervisor's acknowledgement closes a concern.
//
// A follow-up is urgent (ignores working hours) when its referral is urgent or
// its young person is under a safeguarding hold.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/syncengine"
)

// Author is the changeset author of the server's own rule-based writes.
const Author = "system"

// Config tunes the rules.
type Config struct {
	// Planner's EscalateAfter and UrgentAcceptWithin are used; PickupCheckAfter
	// is ignored (the pick-up check is a real follow-up record, see PickupAfter).
	Planner push.Planner
	// PickupAfter is when, after a referral is submitted, its pick-up follow-up
	// is due (default 72h).
	PickupAfter time.Duration
	Logger      *slog.Logger
}

// DefaultConfig returns the agreed defaults (push.DefaultPlanner).
func DefaultConfig() Config {
	p := push.DefaultPlanner()
	return Config{Planner: p, PickupAfter: p.PickupCheckAfter}
}

// Notifier applies the rules. Install it with db.Rules = n.
type Notifier struct {
	planner push.Planner
	cfg     Config
	log     *slog.Logger

	hoursMu sync.Mutex
	hoursOf map[string][]push.Hours // decoded working hours, by stored text (hours)
}

var _ domain.Rules = (*Notifier)(nil)

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.PickupAfter <= 0 {
		cfg.PickupAfter = 72 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := cfg.Planner
	p.PickupCheckAfter = 0 // the server creates the follow-up record instead
	return &Notifier{planner: p, cfg: cfg, log: cfg.Logger}
}

// plan is one Plan call: the facts it reads, the time the store fixed, and
// the intents it collects.
type plan struct {
	n     *Notifier
	ctx   context.Context
	facts domain.Facts
	now   time.Time
	out   domain.Intents
}

func (p *plan) cancel(recordID string, kinds ...string) {
	p.out.Cancel = append(p.out.Cancel, domain.CancelNotifications{RecordID: recordID, Kinds: kinds})
}

func (p *plan) notify(ns ...domain.Notification) { p.out.Notify = append(p.out.Notify, ns...) }

// Plan is the rules for one stored change. It returns an error only when
// reading a fact fails, which rolls the change back: a notification is never
// lost while its cause is kept. Missing facts (an assignee who is not in the
// directory) are logged, not fatal: the change itself must still be accepted.
func (n *Notifier) Plan(ctx context.Context, facts domain.Facts, c domain.Change) (domain.Intents, error) {
	after := c.After
	if after == nil {
		return domain.Intents{}, nil
	}
	p := &plan{n: n, ctx: ctx, facts: facts, now: c.At}
	var err error
	switch after.Type {
	case syncengine.TypeReferral:
		err = p.referral(c.Before, after)
	case syncengine.TypeFollowUp:
		err = p.followUp(c.Before, after)
	case syncengine.TypeEncounter:
		err = p.encounter(c.Before, after)
	}
	if err != nil {
		return domain.Intents{}, fmt.Errorf("notify %s %s: %w", after.Type, after.ID, err)
	}
	return p.out, nil
}

func gone(r *syncengine.Record) bool { return r == nil || r.Erased != nil || r.Deleted() }

func status(r *syncengine.Record) string {
	if r == nil {
		return ""
	}
	return r.String("status")
}

// --- referrals ---

func (p *plan) referral(before, after *syncengine.Record) error {
	id := string(after.ID)
	if gone(after) {
		if !gone(before) {
			p.cancel(id)
		}
		return nil
	}
	was, now := status(before), status(after)
	if gone(before) {
		was = ""
	}
	if was == now {
		if now == "submitted" && before.String("service_id") != after.String("service_id") {
			return p.redirected(after)
		}
		if now == "submitted" && !after.Time("chased_at").IsZero() && !after.Time("chased_at").Equal(before.Time("chased_at")) {
			return p.chased(after)
		}
		return nil
	}
	switch now {
	case "submitted":
		return p.submitted(after)
	case "accepted", "declined":
		p.cancel(id, push.CancelWhenReferralAnswered...)
		return p.answered(after, now == "accepted")
	case "withdrawn", "closed":
		p.cancel(id, push.CancelWhenReferralAnswered...)
	}
	return nil
}

func (p *plan) submitted(r *syncengine.Record) error {
	svcID, team := r.String("service_id"), r.String("team_id")
	ref := push.Referral{ID: string(r.ID), Submitted: p.now, Urgent: r.String("urgency") == "urgent"}
	referrer := r.Author("status")
	if rc, ok, err := p.person(referrer); err != nil {
		return err
	} else if ok {
		ref.Referrer = rc
	}
	var err error
	if ref.Practitioners, err = p.practitioners(svcID); err != nil {
		return err
	}
	if ref.Supervisors, err = p.supervisors(team); err != nil {
		return err
	}
	if len(ref.Practitioners) == 0 {
		p.n.log.Warn("notify: referral submitted to a service with no practitioners", "referral", r.ID, "service", svcID)
	}
	p.notify(salted(p.n.planner.ReferralSubmitted(ref), referralSalt(r))...)
	if ref.Referrer.ID == "" {
		p.n.log.Warn("notify: submitted referral has no known referrer: no pick-up follow-up", "referral", r.ID)
		return nil
	}
	p.createPickup(r, ref.Referrer.ID)
	return nil
}

// redirected re-plans the handoff of a submitted referral sent on to another
// service: the first service's handoffs still waiting are cancelled and the
// new service's practitioners are told. Escalation and the pick-up follow-up
// stand: the referrer still needs it picked up.
func (p *plan) redirected(r *syncengine.Record) error {
	id := string(r.ID)
	p.cancel(id, push.KindHandoff)
	ref := push.Referral{ID: id, Submitted: p.now, Urgent: r.String("urgency") == "urgent"}
	var err error
	if ref.Practitioners, err = p.practitioners(r.String("service_id")); err != nil {
		return err
	}
	for _, nt := range salted(p.n.planner.ReferralSubmitted(ref), referralSalt(r)) {
		if nt.Kind == push.KindHandoff {
			p.notify(nt)
		}
	}
	return nil
}

// referralSalt names the versions of what a referral's handoff, or its
// answer to the referrer, was planned from. The planner's ids depend on the
// time of the change, and changes stored together share it (a phone's
// backlog in one sync, or one group commit), so a referral sent on to
// another service and back, or answered, deleted and restored, in one of
// them would get the ids its cancelled notifications had, and a cancelled
// id is never sent.
func referralSalt(r *syncengine.Record) string {
	return versions(r, "status", "service_id", syncengine.DeletedField)
}

// chased reminds the service's practitioners of a referral still waiting.
// The planner's ids depend on the chase time a phone wrote; two phones
// chasing at once can set it back to a time already chased, so the ids are
// salted with the version of that write, and a replay still plans the same.
func (p *plan) chased(r *syncengine.Record) error {
	ref := push.Referral{ID: string(r.ID), Urgent: r.String("urgency") == "urgent"}
	var err error
	if ref.Practitioners, err = p.practitioners(r.String("service_id")); err != nil {
		return err
	}
	p.notify(salted(p.n.planner.Chase(ref, r.Time("chased_at")), versions(r, "chased_at"))...)
	return nil
}

// PickupID is the id of the pick-up follow-up the server creates for a
// referral: derived from the referral id, so a replay never creates two.
func PickupID(referralID syncengine.RecordID) syncengine.RecordID {
	h := sha256.Sum256([]byte("referral_pickup\x00" + string(referralID)))
	return syncengine.RecordID("pk" + hex.EncodeToString(h[:16]))
}

func (p *plan) createPickup(r *syncengine.Record, assignee string) {
	id := PickupID(r.ID)
	due := p.now.Add(p.n.cfg.PickupAfter).UTC().Truncate(time.Second).Format(time.RFC3339)
	fields := []domain.Field{{Name: "team_id", Value: r.String("team_id")}, {Name: "referral_id", Value: string(r.ID)},
		{Name: "assignee", Value: assignee}, {Name: "due_at", Value: due}, {Name: "status", Value: "open"},
		{Name: "kind", Value: "referral_pickup"}}
	if yp := r.String("young_person_id"); yp != "" {
		fields = append(fields, domain.Field{Name: "young_person_id", Value: yp})
	}
	// The store creates it only if it does not exist yet, so a replayed
	// submission never makes two.
	p.out.Edits = append(p.out.Edits, domain.Edit{Author: Author, Record: id, Create: syncengine.TypeFollowUp, Set: fields})
}

func (p *plan) answered(r *syncengine.Record, accepted bool) error {
	pickup, err := p.facts.Record(p.ctx, PickupID(r.ID))
	if err != nil {
		return err
	}
	// The referrer is the pick-up follow-up's assignee (set at submission);
	// for referrals submitted before this rule existed, whoever set submitted_at.
	referrer := ""
	if pickup != nil && !gone(pickup) {
		referrer = pickup.String("assignee")
	}
	if referrer == "" {
		referrer = r.Author("submitted_at")
	}
	rc, ok, err := p.person(referrer)
	if err != nil {
		return err
	}
	if ok {
		a := push.Answer{ReferralID: string(r.ID), At: p.now, Accepted: accepted,
			Urgent: r.String("urgency") == "urgent", Referrer: rc}
		p.notify(salted(p.n.planner.ReferralAnswered(a), referralSalt(r))...)
	} else {
		p.n.log.Warn("notify: answered referral has no known referrer", "referral", r.ID)
	}
	// Accepted: the pick-up check has happened. (Declined: the worker still has
	// to act, so their follow-up stays open.)
	if accepted && pickup != nil && !gone(pickup) && status(pickup) == "open" {
		p.out.Edits = append(p.out.Edits, domain.Edit{Author: Author, Record: pickup.ID,
			Set: []domain.Field{{Name: "status", Value: "done"}}})
	}
	return nil
}

// --- follow-ups ---

// followUpKey is what, when it changes, re-plans a follow-up's notifications.
func followUpKey(r *syncengine.Record) string {
	if gone(r) || status(r) != "open" {
		return ""
	}
	return r.String("due_at") + "|" + r.String("assignee") + "|" + r.String("team_id")
}

func (p *plan) followUp(before, after *syncengine.Record) error {
	id := string(after.ID)
	was, now := "", followUpKey(after)
	if before != nil {
		was = followUpKey(before)
	}
	if was == now {
		return nil
	}
	if was != "" {
		p.cancel(id, push.CancelWhenFollowUpClosed...)
	}
	if now == "" {
		return nil
	}
	due := after.Time("due_at")
	if due.IsZero() {
		p.n.log.Warn("notify: follow-up without a readable due time", "follow_up", after.ID)
		return nil
	}
	assignee, ok, err := p.person(after.String("assignee"))
	if err != nil {
		return err
	}
	if !ok {
		p.n.log.Warn("notify: follow-up assignee is not in the directory", "follow_up", after.ID)
		return nil
	}
	f := push.FollowUp{ID: id, Due: due, Assignee: assignee}
	if f.Urgent, err = p.urgentFollowUp(after); err != nil {
		return err
	}
	if f.Supervisors, err = p.supervisors(after.String("team_id")); err != nil {
		return err
	}
	// The planner's ids depend on the due time only. Cancelled rows are never
	// revived (known ids are ignored), so a follow-up reopened, reassigned or
	// restored after a delete with the same due time needs new ids: salt them
	// with the versions of the values that define this plan, the deleted
	// flag's included (followUpKey reads it through gone).
	p.notify(salted(p.n.planner.FollowUp(f), versions(after, "status", "due_at", "assignee", "team_id", syncengine.DeletedField))...)
	return nil
}

func (p *plan) urgentFollowUp(f *syncengine.Record) (bool, error) {
	refID, ypID := f.String("referral_id"), f.String("young_person_id")
	if refID != "" && syncengine.ValidRecordID(refID) {
		ref, err := p.facts.Record(p.ctx, syncengine.RecordID(refID))
		if err != nil {
			return false, err
		}
		if ref != nil && !gone(ref) && ref.String("urgency") == "urgent" {
			return true, nil
		}
	}
	if ypID != "" && syncengine.ValidRecordID(ypID) {
		yp, err := p.facts.Record(p.ctx, syncengine.RecordID(ypID))
		if err != nil {
			return false, err
		}
		if yp != nil && !gone(yp) && yp.Bool("safeguarding_hold") {
			return true, nil
		}
	}
	return false, nil
}

// --- encounters ---

func (p *plan) encounter(before, after *syncengine.Record) error {
	if gone(after) {
		return nil
	}
	level, was := domain.ConcernLevel(after), ""
	if !gone(before) {
		was = domain.ConcernLevel(before)
	}
	if !domain.ConcernAlerting(level) || domain.ConcernRank(level) <= domain.ConcernRank(was) {
		return nil
	}
	id, team := string(after.ID), after.String("team_id")
	told, err := p.supervisors(team)
	if err != nil {
		return err
	}
	everyone, err := p.facts.People(p.ctx, domain.PeopleFilter{})
	if err != nil {
		return err
	}
	var escalation []push.Recipient
	for _, pe := range everyone {
		if pe.SafeguardingLead {
			told = append(told, push.Person(pe.ID, pe.TZ))
		}
		if pe.SafeguardingLead || pe.Role == domain.RoleAdmin {
			escalation = append(escalation, push.Person(pe.ID, pe.TZ))
		}
	}
	if len(escalation) == 0 {
		escalation = told
	}
	if len(told) == 0 {
		// Still raised: the alert is on every supervisor's dashboard.
		p.n.log.Error("notify: high concern in a team with no supervisor and no safeguarding lead", "encounter", id, "team", team)
	}
	salt := versions(after, "concern_level", "concern")
	p.notify(p.n.planner.Concern(push.Concern{EncounterID: id, Raised: p.now, Salt: salt, Told: told, Escalation: escalation})...)
	p.out.Alerts = append(p.out.Alerts, domain.ConcernAlert{ID: saltID("alert"+id, salt), EncounterID: id, TeamID: team,
		Level: level, RaisedAt: p.now})
	return nil
}

// --- facts ---

// person returns a person as a recipient; ok is false when id is not a
// known person (not an error: the change is accepted regardless).
func (p *plan) person(id string) (push.Recipient, bool, error) {
	if id == "" || !syncengine.ValidRecordID(id) {
		return push.Recipient{}, false, nil
	}
	pe, err := p.facts.Person(p.ctx, id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return push.Recipient{}, false, nil
	} else if err != nil {
		return push.Recipient{}, false, err
	}
	return push.Person(pe.ID, pe.TZ, p.n.hours(pe.Hours)...), true, nil
}

// practitioners are the service's practitioners, each in their own hours or,
// when they have none, the service's.
func (p *plan) practitioners(serviceID string) ([]push.Recipient, error) {
	if serviceID == "" {
		return nil, nil
	}
	ps, err := p.facts.People(p.ctx, domain.PeopleFilter{Role: domain.RolePractitioner, ServiceID: serviceID})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, nil
	}
	svc, err := p.facts.Service(p.ctx, serviceID)
	if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
		return nil, err
	}
	out := make([]push.Recipient, 0, len(ps))
	for _, pe := range ps {
		tz, hs := pe.TZ, p.n.hours(pe.Hours)
		if len(hs) == 0 {
			tz, hs = svc.TZ, p.n.hours(svc.Hours)
		}
		out = append(out, push.Person(pe.ID, tz, hs...))
	}
	return out, nil
}

// supervisors are the people who supervise team: its own supervisors and
// those who supervise it from elsewhere.
func (p *plan) supervisors(team string) ([]push.Recipient, error) {
	if team == "" {
		return nil, nil
	}
	ps, err := p.facts.People(p.ctx, domain.PeopleFilter{Role: domain.RoleSupervisor})
	if err != nil {
		return nil, err
	}
	var out []push.Recipient
	for _, pe := range ps {
		if pe.TeamID == team || slices.Contains(pe.Supervises, team) {
			out = append(out, push.Person(pe.ID, pe.TZ, p.n.hours(pe.Hours)...))
		}
	}
	return out, nil
}

// hours reads stored working hours ([{Weekday, Start, End}], as the
// directory keeps them). Anything else ('{}', unset) means no hours: any time.
// Each text is decoded once: the rules read a recipient's hours for every
// notification they plan, and the directory holds a few distinct texts. The
// slices returned are shared, and only ever read.
func (n *Notifier) hours(raw json.RawMessage) []push.Hours {
	if len(raw) == 0 {
		return nil
	}
	n.hoursMu.Lock()
	defer n.hoursMu.Unlock()
	if hs, ok := n.hoursOf[string(raw)]; ok {
		return hs
	}
	var hs []push.Hours
	if json.Unmarshal(raw, &hs) != nil {
		hs = nil
	}
	if len(n.hoursOf) >= maxHoursKept {
		clear(n.hoursOf) // texts edited away are not kept for ever
	}
	if n.hoursOf == nil {
		n.hoursOf = map[string][]push.Hours{}
	}
	n.hoursOf[string(raw)] = hs
	return hs
}

const maxHoursKept = 1024

// versions names the op ids of the fields' current values.
func versions(r *syncengine.Record, fields ...string) string {
	h := sha256.New()
	for _, name := range fields {
		if f := r.Fields[name]; f != nil {
			for _, id := range f.ValueIDs() {
				h.Write([]byte(id.String()))
			}
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// salted gives the planner's notifications ids of their own for one
// version of the values they were planned from (versions).
func salted(ns []domain.Notification, salt string) []domain.Notification {
	for i := range ns {
		ns[i].ID = saltID(ns[i].ID, salt)
	}
	return ns
}

func saltID(id, salt string) string {
	h := sha256.Sum256([]byte(id + "\x00" + salt))
	return "n" + hex.EncodeToString(h[:16])
}
