// Package push delivers notifications to phones through Firebase Cloud Messaging (HTTP v1)
// from a transactional outbox, so that a follow-up or a referral handoff never depends on
// someone remembering.
//
// The flow: the server's transaction hooks ask a Planner for notifications (pure functions over
// the facts) and Enqueue them in the same transaction as the change that caused them; a
// Deliverer (Sender with FCM, LogSender without) claims due rows with a lease, fans each out to
// the recipient's registered tokens, and records the outcome. Delivery is at-least-once; every
// FCM message carries the notification id as its collapse key, so a phone shows a repeat once.
//
// Payloads carry only opaque ids and a generic text per Kind: the only input to the message
// builder is Notification, which has no field that can hold a name or note text.
package push

import (
	"fmt"
	"regexp"
	"time"

	"firebase.google.com/go/v4/messaging"
)

// Recipient kinds.
const (
	RecipientPerson  = "person"
	RecipientService = "service"
)

// Notification kinds.
const (
	KindFollowUpDue        = "followup_due"
	KindFollowUpEscalation = "followup_escalation"
	KindHandoff            = "handoff"
	KindHandoffAccepted    = "handoff_accepted"
	KindHandoffDeclined    = "handoff_declined"
	KindReferralEscalation = "referral_escalation"
	KindSync               = "sync" // data-only "sync now": wakes the app, shows nothing
)

// Notification is one thing to tell one recipient. It deliberately has no free-text field:
// everything that reaches a phone is derived from these fields (see BuildMessage).
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

// Texts is the generic, personal-data-free text shown for each kind. KindSync has none.
var Texts = map[string]string{
	KindFollowUpDue:        "You have a follow-up due",
	KindFollowUpEscalation: "A follow-up in your team is overdue",
	KindHandoff:            "A referral needs your attention",
	KindHandoffAccepted:    "A referral you made was accepted",
	KindHandoffDeclined:    "A referral you made was declined",
	KindReferralEscalation: "An urgent referral has not been picked up",
	KindSync:               "",
}

// Title is the only title a visible notification ever has.
const Title = "JoinedUp"

// opaqueID is the engine's RecordID alphabet; it cannot carry spaces, so not a full name or
// note text either (a single-word name still fits: ids must come from the id generator).
var opaqueID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports whether n can be enqueued.
func (n Notification) Validate() error {
	if !opaqueID.MatchString(n.ID) {
		return fmt.Errorf("push: notification id %q is not an opaque id", n.ID)
	}
	if n.RecipientKind != RecipientPerson && n.RecipientKind != RecipientService {
		return fmt.Errorf("push: notification %s: unknown recipient kind %q", n.ID, n.RecipientKind)
	}
	if !opaqueID.MatchString(n.RecipientID) {
		return fmt.Errorf("push: notification %s: recipient id is not an opaque id", n.ID)
	}
	if _, ok := Texts[n.Kind]; !ok {
		return fmt.Errorf("push: notification %s: unknown kind %q", n.ID, n.Kind)
	}
	if n.RecordID != "" && !opaqueID.MatchString(n.RecordID) {
		return fmt.Errorf("push: notification %s: record id is not an opaque id", n.ID)
	}
	if n.Kind != KindSync && n.RecordID == "" {
		return fmt.Errorf("push: notification %s: kind %s needs a record id", n.ID, n.Kind)
	}
	return nil
}

// BuildMessage is the only place an FCM message is made. Its input is the Notification and the
// device token; nothing else can reach the payload.
func BuildMessage(n Notification, token string) *messaging.Message {
	data := map[string]string{"nid": n.ID, "kind": n.Kind}
	if n.RecordID != "" {
		data["record_id"] = n.RecordID
	}
	if n.Urgent {
		data["urgent"] = "1"
	}
	m := &messaging.Message{Token: token, Data: data}
	if n.Kind == KindSync {
		// Data-only: wakes the app to pull, shows nothing. High priority, otherwise Android
		// Doze holds it for hours.
		m.Android = &messaging.AndroidConfig{CollapseKey: n.ID, Priority: "high"}
		m.APNS = &messaging.APNSConfig{
			Headers: map[string]string{
				"apns-collapse-id": n.ID,
				"apns-push-type":   "background",
				"apns-priority":    "5", // Apple rejects 10 for background pushes
			},
			Payload: &messaging.APNSPayload{Aps: &messaging.Aps{ContentAvailable: true}},
		}
		return m
	}
	body := Texts[n.Kind]
	m.Notification = &messaging.Notification{Title: Title, Body: body}
	priority, apnsPriority := "normal", "5"
	if n.Urgent {
		priority, apnsPriority = "high", "10"
	}
	m.Android = &messaging.AndroidConfig{
		CollapseKey: n.ID,
		Priority:    priority,
		// The tag makes a repeat replace the shown notification instead of adding a second.
		Notification: &messaging.AndroidNotification{Tag: n.ID},
	}
	m.APNS = &messaging.APNSConfig{
		Headers: map[string]string{
			"apns-collapse-id": n.ID,
			"apns-push-type":   "alert",
			"apns-priority":    apnsPriority,
		},
		Payload: &messaging.APNSPayload{Aps: &messaging.Aps{
			Alert:    &messaging.ApsAlert{Title: Title, Body: body},
			ThreadID: n.Kind,
		}},
	}
	return m
}
