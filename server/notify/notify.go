// Package notify owns the rules that turn accepted record changes into push
// notifications, so that a follow-up or a referral never depends on someone
// remembering. It runs as the store's AfterApply hook: inside the SQLite
// transaction that stores a changeset, it compares each touched record before
// and after, reads the organisation facts it needs (assignee, team
// supervisors, service practitioners, time zones, working hours), asks
// push.Planner for the notifications and enqueues them in the same
// transaction (a transactional outbox: they exist if and only if the change
// commits; a quarantined changeset never reaches the hook).
//
// The rules:
//   - referral submitted (draft→submitted, or created submitted): a handoff to
//     the addressed service's practitioners (in their hours unless urgent); an
//     urgent one escalates to the referring team's supervisors if not answered
//     within Planner.UrgentAcceptWithin; and the server creates the referrer's
//     "check the service has picked it up" follow-up (kind referral_pickup,
//     due PickupAfter later) through its automation replica, in the same
//     transaction, so it reaches the referrer's phone through sync;
//   - referral accepted or declined: pending handoff and escalation are
//     cancelled; the referrer gets a notification and a data-only "sync" that
//     wakes the phone to pull the new status; on acceptance the pick-up
//     follow-up is closed (done) by the automation replica;
//   - referral withdrawn, closed, deleted or erased: pending ones cancelled;
//   - follow-up open (created, reopened, due date, assignee or team changed):
//     the assignee is told at the due time or their next working hours, and
//     the team's supervisors Planner.EscalateAfter later if it is still open;
//     closed, cancelled, deleted or erased: pending ones cancelled.
//
// A follow-up is urgent (ignores working hours) when its referral is urgent or
// its young person is under a safeguarding hold.
package notify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// Directory is what notify reads about the organisation (the store).
type Directory interface {
	Person(ctx context.Context, id string) (domain.Person, error)
	People(ctx context.Context, f domain.PeopleFilter) ([]domain.Person, error)
	Service(ctx context.Context, id string) (domain.Service, error)
}

// Outbox is where notifications go, in the caller's transaction (*push.Store).
type Outbox interface {
	Enqueue(ctx context.Context, tx *sql.Tx, ns ...push.Notification) error
	Cancel(ctx context.Context, tx *sql.Tx, recordID string, kinds ...string) (int, error)
}

var (
	_ Directory = (*sqlite.DB)(nil)
	_ Outbox    = (*push.Store)(nil)
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

// Notifier applies the rules. Install it with db.AfterApply = n.AfterApply.
type Notifier struct {
	dir     Directory
	outbox  Outbox
	planner push.Planner
	cfg     Config
	log     *slog.Logger
}

// New returns a Notifier reading dir and writing to outbox.
func New(dir Directory, outbox Outbox, cfg Config) *Notifier {
	if cfg.PickupAfter <= 0 {
		cfg.PickupAfter = 72 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := cfg.Planner
	p.PickupCheckAfter = 0 // the server creates the follow-up record instead
	return &Notifier{dir: dir, outbox: outbox, planner: p, cfg: cfg, log: cfg.Logger}
}

// AfterApply is the store's sqlite.ApplyHook. It returns an error only when
// storage fails, which rolls the change back: a notification is never lost
// while its cause is kept. Missing facts (an assignee who is not in the
// directory) are logged, not fatal: the change itself must still be accepted.
func (n *Notifier) AfterApply(ctx context.Context, tx *sqlite.Tx, before, after *syncengine.Record) error {
	if after == nil {
		return nil
	}
	var err error
	switch after.Type {
	case syncengine.TypeReferral:
		err = n.referral(ctx, tx, before, after)
	case syncengine.TypeFollowUp:
		err = n.followUp(ctx, tx, before, after)
	}
	if err != nil {
		return fmt.Errorf("notify %s %s: %w", after.Type, after.ID, err)
	}
	return nil
}

var _ sqlite.ApplyHook = (*Notifier)(nil).AfterApply

func gone(r *syncengine.Record) bool { return r == nil || r.Erased != nil || r.Deleted() }

func status(r *syncengine.Record) string {
	if r == nil {
		return ""
	}
	return r.String("status")
}

// --- referrals ---

func (n *Notifier) referral(ctx context.Context, tx *sqlite.Tx, before, after *syncengine.Record) error {
	id := string(after.ID)
	if gone(after) {
		if !gone(before) {
			_, err := n.outbox.Cancel(ctx, tx.Tx, id)
			return err
		}
		return nil
	}
	was, now := status(before), status(after)
	if gone(before) {
		was = ""
	}
	if was == now {
		if now == "submitted" && before.String("service_id") != after.String("service_id") {
			return n.redirected(ctx, tx, after)
		}
		return nil
	}
	switch now {
	case "submitted":
		return n.submitted(ctx, tx, after)
	case "accepted", "declined":
		if _, err := n.outbox.Cancel(ctx, tx.Tx, id, push.CancelWhenReferralAnswered...); err != nil {
			return err
		}
		return n.answered(ctx, tx, after, now == "accepted")
	case "withdrawn", "closed":
		_, err := n.outbox.Cancel(ctx, tx.Tx, id, push.CancelWhenReferralAnswered...)
		return err
	}
	return nil
}

func (n *Notifier) submitted(ctx context.Context, tx *sqlite.Tx, r *syncengine.Record) error {
	svcID, team := r.String("service_id"), r.String("team_id")
	ref := push.Referral{ID: string(r.ID), Submitted: tx.Now(), Urgent: r.String("urgency") == "urgent"}
	referrer := registerAuthor(r, "status")
	if p, ok, err := n.person(ctx, referrer); err != nil {
		return err
	} else if ok {
		ref.Referrer = p
	}
	var err error
	if ref.Practitioners, err = n.practitioners(ctx, svcID); err != nil {
		return err
	}
	if ref.Supervisors, err = n.supervisors(ctx, team); err != nil {
		return err
	}
	if len(ref.Practitioners) == 0 {
		n.log.Warn("notify: referral submitted to a service with no practitioners", "referral", r.ID, "service", svcID)
	}
	if err := n.outbox.Enqueue(ctx, tx.Tx, n.planner.ReferralSubmitted(ref)...); err != nil {
		return err
	}
	if ref.Referrer.ID == "" {
		n.log.Warn("notify: submitted referral has no known referrer: no pick-up follow-up", "referral", r.ID)
		return nil
	}
	return n.createPickup(ctx, tx, r, ref.Referrer.ID)
}

// redirected re-plans the handoff of a submitted referral sent on to another
// service: the first service's handoffs still waiting are cancelled and the
// new service's practitioners are told. Escalation and the pick-up follow-up
// stand: the referrer still needs it picked up.
func (n *Notifier) redirected(ctx context.Context, tx *sqlite.Tx, r *syncengine.Record) error {
	id := string(r.ID)
	if _, err := n.outbox.Cancel(ctx, tx.Tx, id, push.KindHandoff); err != nil {
		return err
	}
	ref := push.Referral{ID: id, Submitted: tx.Now(), Urgent: r.String("urgency") == "urgent"}
	var err error
	if ref.Practitioners, err = n.practitioners(ctx, r.String("service_id")); err != nil {
		return err
	}
	var handoffs []push.Notification
	for _, nt := range n.planner.ReferralSubmitted(ref) {
		if nt.Kind == push.KindHandoff {
			handoffs = append(handoffs, nt)
		}
	}
	return n.outbox.Enqueue(ctx, tx.Tx, handoffs...)
}

// PickupID is the id of the pick-up follow-up the server creates for a
// referral: derived from the referral id, so a replay never creates two.
func PickupID(referralID syncengine.RecordID) syncengine.RecordID {
	h := sha256.Sum256([]byte("referral_pickup\x00" + string(referralID)))
	return syncengine.RecordID("pk" + hex.EncodeToString(h[:16]))
}

func (n *Notifier) createPickup(ctx context.Context, tx *sqlite.Tx, r *syncengine.Record, assignee string) error {
	rep, err := tx.AutomationReplica(ctx)
	if err != nil {
		return err
	}
	id := PickupID(r.ID)
	if existing, err := rep.Record(id); err != nil {
		return err
	} else if existing != nil && existing.Type != "" {
		return nil
	}
	due := tx.Now().Add(n.cfg.PickupAfter).UTC().Truncate(time.Second).Format(time.RFC3339)
	_, err = rep.Edit(Author, func(t *syncengine.Txn) error {
		if err := t.CreateWithID(id, syncengine.TypeFollowUp); err != nil {
			return err
		}
		fields := []struct {
			k string
			v any
		}{{"team_id", r.String("team_id")}, {"referral_id", string(r.ID)}, {"assignee", assignee},
			{"due_at", due}, {"status", "open"}, {"kind", "referral_pickup"}}
		if yp := r.String("young_person_id"); yp != "" {
			fields = append(fields, struct {
				k string
				v any
			}{"young_person_id", yp})
		}
		for _, f := range fields {
			if err := t.Set(id, f.k, f.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create pick-up follow-up: %w", err)
	}
	return nil
}

func (n *Notifier) answered(ctx context.Context, tx *sqlite.Tx, r *syncengine.Record, accepted bool) error {
	rep, err := tx.AutomationReplica(ctx)
	if err != nil {
		return err
	}
	pickup, err := rep.Record(PickupID(r.ID))
	if err != nil {
		return err
	}
	// The referrer is the pick-up follow-up's assignee (set at submission);
	// for referrals submitted before this hook existed, whoever set submitted_at.
	referrer := ""
	if pickup != nil && !gone(pickup) {
		referrer = pickup.String("assignee")
	}
	if referrer == "" {
		referrer = registerAuthor(r, "submitted_at")
	}
	p, ok, err := n.person(ctx, referrer)
	if err != nil {
		return err
	}
	if ok {
		a := push.Answer{ReferralID: string(r.ID), At: tx.Now(), Accepted: accepted,
			Urgent: r.String("urgency") == "urgent", Referrer: p}
		if err := n.outbox.Enqueue(ctx, tx.Tx, n.planner.ReferralAnswered(a)...); err != nil {
			return err
		}
	} else {
		n.log.Warn("notify: answered referral has no known referrer", "referral", r.ID)
	}
	// Accepted: the pick-up check has happened. (Declined: the worker still has
	// to act, so their follow-up stays open.)
	if accepted && pickup != nil && !gone(pickup) && status(pickup) == "open" {
		if _, err := rep.Edit(Author, func(t *syncengine.Txn) error { return t.Set(pickup.ID, "status", "done") }); err != nil {
			return fmt.Errorf("close pick-up follow-up: %w", err)
		}
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

func (n *Notifier) followUp(ctx context.Context, tx *sqlite.Tx, before, after *syncengine.Record) error {
	id := string(after.ID)
	was, now := "", followUpKey(after)
	if before != nil {
		was = followUpKey(before)
	}
	if was == now {
		return nil
	}
	if was != "" {
		if _, err := n.outbox.Cancel(ctx, tx.Tx, id, push.CancelWhenFollowUpClosed...); err != nil {
			return err
		}
	}
	if now == "" {
		return nil
	}
	due, err := time.Parse(time.RFC3339Nano, after.String("due_at"))
	if err != nil {
		n.log.Warn("notify: follow-up without a readable due time", "follow_up", after.ID)
		return nil
	}
	assignee, ok, err := n.person(ctx, after.String("assignee"))
	if err != nil {
		return err
	}
	if !ok {
		n.log.Warn("notify: follow-up assignee is not in the directory", "follow_up", after.ID)
		return nil
	}
	f := push.FollowUp{ID: id, Due: due, Assignee: assignee}
	if f.Urgent, err = n.urgentFollowUp(ctx, tx, after); err != nil {
		return err
	}
	if f.Supervisors, err = n.supervisors(ctx, after.String("team_id")); err != nil {
		return err
	}
	ns := n.planner.FollowUp(f)
	// The planner's ids depend on the due time only. Cancelled rows are never
	// revived (Enqueue ignores known ids), so a follow-up reopened or
	// reassigned with the same due time needs new ids: salt them with the
	// versions of the values that define this plan.
	salt := versions(after, "status", "due_at", "assignee", "team_id")
	for i := range ns {
		ns[i].ID = saltID(ns[i].ID, salt)
	}
	return n.outbox.Enqueue(ctx, tx.Tx, ns...)
}

func (n *Notifier) urgentFollowUp(ctx context.Context, tx *sqlite.Tx, f *syncengine.Record) (bool, error) {
	refID, ypID := f.String("referral_id"), f.String("young_person_id")
	if refID == "" && ypID == "" {
		return false, nil
	}
	rep, err := tx.AutomationReplica(ctx)
	if err != nil {
		return false, err
	}
	if refID != "" && syncengine.ValidRecordID(refID) {
		ref, err := rep.Record(syncengine.RecordID(refID))
		if err != nil {
			return false, err
		}
		if ref != nil && !gone(ref) && ref.String("urgency") == "urgent" {
			return true, nil
		}
	}
	if ypID != "" && syncengine.ValidRecordID(ypID) {
		yp, err := rep.Record(syncengine.RecordID(ypID))
		if err != nil {
			return false, err
		}
		if yp != nil && !gone(yp) && registerTrue(yp, "safeguarding_hold") {
			return true, nil
		}
	}
	return false, nil
}

// --- facts ---

// person returns a person as a recipient; ok is false when id is not a
// known person (not an error: the change is accepted regardless).
func (n *Notifier) person(ctx context.Context, id string) (push.Recipient, bool, error) {
	if id == "" || !syncengine.ValidRecordID(id) {
		return push.Recipient{}, false, nil
	}
	p, err := n.dir.Person(ctx, id)
	if syncengine.ErrorCode(err) == domain.ENOTFOUND {
		return push.Recipient{}, false, nil
	} else if err != nil {
		return push.Recipient{}, false, err
	}
	return push.Person(p.ID, p.TZ, hours(p.Hours)...), true, nil
}

// practitioners are the service's practitioners, each in their own hours or,
// when they have none, the service's.
func (n *Notifier) practitioners(ctx context.Context, serviceID string) ([]push.Recipient, error) {
	if serviceID == "" {
		return nil, nil
	}
	ps, err := n.dir.People(ctx, domain.PeopleFilter{Role: domain.RolePractitioner, ServiceID: serviceID})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, nil
	}
	svc, err := n.dir.Service(ctx, serviceID)
	if err != nil && syncengine.ErrorCode(err) != domain.ENOTFOUND {
		return nil, err
	}
	out := make([]push.Recipient, 0, len(ps))
	for _, p := range ps {
		tz, hs := p.TZ, hours(p.Hours)
		if len(hs) == 0 {
			tz, hs = svc.TZ, hours(svc.Hours)
		}
		out = append(out, push.Person(p.ID, tz, hs...))
	}
	return out, nil
}

// supervisors are the people who supervise team: its own supervisors and
// those who supervise it from elsewhere.
func (n *Notifier) supervisors(ctx context.Context, team string) ([]push.Recipient, error) {
	if team == "" {
		return nil, nil
	}
	ps, err := n.dir.People(ctx, domain.PeopleFilter{Role: domain.RoleSupervisor})
	if err != nil {
		return nil, err
	}
	var out []push.Recipient
	for _, p := range ps {
		if p.TeamID == team || slices.Contains(p.Supervises, team) {
			out = append(out, push.Person(p.ID, p.TZ, hours(p.Hours)...))
		}
	}
	return out, nil
}

// hours reads stored working hours ([{Weekday, Start, End}], as the
// directory keeps them). Anything else ('{}', unset) means no hours: any time.
func hours(raw json.RawMessage) []push.Hours {
	var hs []push.Hours
	if len(raw) == 0 || json.Unmarshal(raw, &hs) != nil {
		return nil
	}
	return hs
}

// registerAuthor is who wrote a register's winning value.
func registerAuthor(r *syncengine.Record, field string) string {
	if f := r.Fields[field]; f != nil && f.Kind == syncengine.KindRegister && len(f.Values) > 0 {
		return f.Values[0].Author
	}
	return ""
}

func registerTrue(r *syncengine.Record, field string) bool {
	f := r.Fields[field]
	if f == nil || f.Kind != syncengine.KindRegister || len(f.Values) == 0 {
		return false
	}
	var b bool
	return json.Unmarshal(f.Values[0].Value, &b) == nil && b
}

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

func saltID(id, salt string) string {
	h := sha256.Sum256([]byte(id + "\x00" + salt))
	return "n" + hex.EncodeToString(h[:16])
}
