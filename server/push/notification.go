// Package push delivers notifications to phones through Firebase Cloud Messaging (HTTP v1)
// from a transactional outbox, so that a follow-up or a referral handoff never depends on
// someone remembering.
//
// The flow: the server's rules (server/notify) ask a Planner for notifications (pure functions
// over the facts) and return them as intents, which the store writes to its outbox in the same
// transaction as the change that caused them; a Deliverer (Sender with FCM, LogSender without) claims due rows with a lease, fans each out to
// the recipient's registered tokens, and records the outcome. Delivery is at-least-once; every
// FCM message carries the notification id as its collapse key, so a phone shows a repeat once.
//
// Payloads carry only opaque ids and a generic text per Kind: the only input to the message
// builder is Notification, which has no field that can hold a name or note text.
package push

import (
	"firebase.google.com/go/v4/messaging"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
)

// The notification and its kinds are the domain's (the store keeps them in
// its outbox); push builds and sends the messages.
type Notification = domain.Notification

// Recipient kinds.
const (
	RecipientPerson  = domain.RecipientPerson
	RecipientService = domain.RecipientService
)

// Notification kinds.
const (
	KindFollowUpDue        = domain.KindFollowUpDue
	KindFollowUpEscalation = domain.KindFollowUpEscalation
	KindHandoff            = domain.KindHandoff
	KindHandoffAccepted    = domain.KindHandoffAccepted
	KindHandoffDeclined    = domain.KindHandoffDeclined
	KindReferralEscalation = domain.KindReferralEscalation
	KindSync               = domain.KindSync
	KindConcernRaised      = domain.KindConcernRaised
	KindConcernEscalation  = domain.KindConcernEscalation
	KindReferralChase      = domain.KindReferralChase
)

// Outbox states and delivery statuses, as the store records them.
const (
	StatePending   = domain.StatePending
	StateSent      = domain.StateSent
	StateDead      = domain.StateDead
	StateCancelled = domain.StateCancelled

	DeliverySent         = domain.DeliverySent
	DeliveryUnregistered = domain.DeliveryUnregistered
	DeliveryInvalid      = domain.DeliveryInvalid
	DeliveryRetry        = domain.DeliveryRetry
	DeliveryFailed       = domain.DeliveryFailed
)

// What the outbox hands a Deliverer, and what it hands back.
type (
	Claimed  = domain.Claimed
	Outcome  = domain.Outcome
	Delivery = domain.Delivery
	Target   = domain.DeliveryTarget
)

// Texts is the generic, personal-data-free text shown for each kind. KindSync has none.
var Texts = map[string]string{
	KindFollowUpDue:        "You have a follow-up due",
	KindFollowUpEscalation: "A follow-up in your team is overdue",
	KindHandoff:            "A referral needs your attention",
	KindHandoffAccepted:    "A referral you made was accepted",
	KindHandoffDeclined:    "A referral you made was declined",
	KindReferralEscalation: "An urgent referral has not been picked up",
	KindSync:               "",
	KindConcernRaised:      "A safeguarding concern needs your attention now",
	KindConcernEscalation:  "A safeguarding concern has not been acknowledged",
	KindReferralChase:      "A referral is still waiting for your answer",
}

// Title is the only title a visible notification ever has.
const Title = "JoinedUp"

// Text is the body a phone shows for a kind, in the recipient's language
// (server/i18n; "" or unknown: English). It is a fixed text per kind and
// language, never made from a record.
func Text(kind, lang string) string {
	if Texts[kind] == "" {
		return ""
	}
	return i18n.For(lang).T(Texts[kind])
}

// BuildMessage is the only place an FCM message is made. Its input is the Notification, the
// device token and the recipient's language (which picks one of the fixed texts); nothing else
// can reach the payload.
func BuildMessage(n Notification, token, lang string) *messaging.Message {
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
		// The field app's service worker wakes the app to pull; a browser
		// delays a push of low urgency on battery.
		m.Webpush = &messaging.WebpushConfig{Headers: map[string]string{"Urgency": "high"}, Data: data}
		return m
	}
	body := Text(n.Kind, lang)
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
	// FCM gives the webpush part to web tokens only (the field app at /app/),
	// so every message carries it; the tag makes a repeat replace the shown one.
	m.Webpush = &messaging.WebpushConfig{
		Headers:      map[string]string{"Urgency": priority},
		Data:         data,
		Notification: &messaging.WebpushNotification{Title: Title, Body: body, Tag: n.ID},
	}
	return m
}
