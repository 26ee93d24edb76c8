package domain

import (
	"context"
	"fmt"
	"time"
)

// Recipient kinds of a notification.
const (
	RecipientPerson  = "person"
	RecipientService = "service"
)

// Notification kinds. Each has one generic, personal-data-free text (push.Texts).
const (
	KindFollowUpDue        = "followup_due"
	KindFollowUpEscalation = "followup_escalation"
	KindHandoff            = "handoff"
	KindHandoffAccepted    = "handoff_accepted"
	KindHandoffDeclined    = "handoff_declined"
	KindReferralEscalation = "referral_escalation"
	KindSync               = "sync" // data-only "sync now": wakes the app, shows nothing
	// A high or urgent safeguarding concern: to the team's supervisors and the
	// safeguarding leads at once, whatever the hour; escalated if nobody
	// acknowledges it in time.
	KindConcernRaised     = "concern_raised"
	KindConcernEscalation = "concern_escalation"
	// The referring team chased a referral still waiting for the service.
	KindReferralChase = "referral_chase"
)

var notificationKinds = map[string]bool{KindFollowUpDue: true, KindFollowUpEscalation: true, KindHandoff: true,
	KindHandoffAccepted: true, KindHandoffDeclined: true, KindReferralEscalation: true, KindSync: true,
	KindConcernRaised: true, KindConcernEscalation: true, KindReferralChase: true}

// Notification is one thing to tell one recipient, as the push outbox keeps
// it. It deliberately has no free-text field: everything that reaches a phone
// is derived from these fields (push.BuildMessage).
type Notification struct {
	// ID is opaque and unique; it is the outbox key, the FCM collapse key and the "nid" data
	// field, so a phone shows a notification delivered twice only once.
	ID            string
	RecipientKind string // RecipientPerson or RecipientService
	RecipientID   string
	Kind          string // one of the Kind* constants
	RecordID      string // opaque record id (the app fetches details after unlocking)
	Urgent        bool   // safeguarding-urgent: ignores working hours, high priority
	NotBefore     time.Time
}

// OpaqueID reports whether s may appear in a notification or a push token row: 1 to 64 of
// the engine's RecordID alphabet, [A-Za-z0-9_-]. It cannot carry spaces, so not a full name
// or note text either (a single-word name still fits: ids must come from the id generator).
// A loop, not a regular expression: every notification the rules plan checks four ids.
func OpaqueID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Validate reports whether n can be enqueued.
func (n Notification) Validate() error {
	if !OpaqueID(n.ID) {
		return fmt.Errorf("push: notification id %q is not an opaque id", n.ID)
	}
	if n.RecipientKind != RecipientPerson && n.RecipientKind != RecipientService {
		return fmt.Errorf("push: notification %s: unknown recipient kind %q", n.ID, n.RecipientKind)
	}
	if !OpaqueID(n.RecipientID) {
		return fmt.Errorf("push: notification %s: recipient id is not an opaque id", n.ID)
	}
	if !notificationKinds[n.Kind] {
		return fmt.Errorf("push: notification %s: unknown kind %q", n.ID, n.Kind)
	}
	if n.RecordID != "" && !OpaqueID(n.RecordID) {
		return fmt.Errorf("push: notification %s: record id is not an opaque id", n.ID)
	}
	if n.Kind != KindSync && n.RecordID == "" {
		return fmt.Errorf("push: notification %s: kind %s needs a record id", n.ID, n.Kind)
	}
	return nil
}

// Outbox states. cancelled: the cause went away (a follow-up closed before its
// escalation, a referral accepted in time).
const (
	StatePending   = "pending"
	StateSent      = "sent"
	StateDead      = "dead"
	StateCancelled = "cancelled"
)

// Delivery statuses recorded per token.
const (
	DeliverySent         = "sent"
	DeliveryUnregistered = "unregistered" // FCM UNREGISTERED: token removed
	DeliveryInvalid      = "invalid"      // FCM INVALID_ARGUMENT / SENDER_ID_MISMATCH: token removed
	DeliveryRetry        = "retry"        // retryable failure (429, 5xx, network)
	DeliveryFailed       = "failed"       // other failure
)

// Claimed is a notification leased to one owner for one delivery attempt.
type Claimed struct {
	Notification
	Attempts int // including this one
}

// Outcome is what happened to one claimed notification.
type Outcome struct {
	ID          string
	State       string    // StateSent, StatePending (retry at NextAttempt) or StateDead
	NextAttempt time.Time // for StatePending
	Error       string    // last error, for retry and dead; never personal data
	Deliveries  []Delivery
	// RemoveTokens are tokens FCM reported unregistered or invalid; deleted in the same
	// transaction as the outcome.
	RemoveTokens []string
}

// Delivery is one attempt to one token.
type Delivery struct {
	Token     string
	MessageID string
	Status    string
}

// DeliveryTarget is where one claimed notification still has to go. (Not
// Target: that is what the authorisation policy acts on, policy.go.)
type DeliveryTarget struct {
	Tokens    []string // registered tokens not yet delivered to
	Delivered int      // tokens an earlier attempt already delivered to
	// Lang is the recipient person's language for the text their phone
	// shows ("" not chosen, or a service's shared phone: English).
	Lang string
}

// Outbox is the push outbox as delivery sees it: notifications are leased to
// one sender at a time, so two senders never deliver the same row while a
// lease is live, and a sender that died gives its rows back when the lease
// runs out. Rows are written by the store itself, in the transaction of the
// change that caused them (see Intents); Enqueue and Cancel outside one are
// for tools and tests.
type Outbox interface {
	Enqueue(ctx context.Context, ns ...Notification) error
	Cancel(ctx context.Context, recordID string, kinds ...string) (int, error)
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Claimed, error)
	Targets(ctx context.Context, cs []Claimed) (map[string]DeliveryTarget, error)
	Complete(ctx context.Context, owner string, outcomes []Outcome) error
	Counts(ctx context.Context) (map[string]int, error)
}

// PushTokens are the phones' FCM registration tokens.
type PushTokens interface {
	RegisterToken(ctx context.Context, deviceID, personID, token, platform string) error
	RemoveToken(ctx context.Context, token string) error
}

// UnixMS is how both stores keep an outbox or alert time: milliseconds since
// the epoch, 0 for "not set" (the zero time).
func UnixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromUnixMS reads a time UnixMS wrote; 0 is the zero time.
func FromUnixMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
