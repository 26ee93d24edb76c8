package domain

import (
	"context"
	"fmt"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Change is one record a stored changeset touched: its state before (nil: it
// is new) and after, at the time the store's transaction fixed.
type Change struct {
	Before, After *syncengine.Record
	At            time.Time
}

// Facts is what a rule may read, inside the transaction that stores the
// change, so every fact and every record comes from one snapshot (and sees
// the changes stored before it in that transaction). It has no method that
// writes: a rule says what it wants done by returning Intents.
type Facts interface {
	Person(ctx context.Context, id string) (Person, error)
	People(ctx context.Context, f PeopleFilter) ([]Person, error)
	Service(ctx context.Context, id string) (Service, error)
	// Record is a record's current state (nil: no such record).
	Record(ctx context.Context, id syncengine.RecordID) (*syncengine.Record, error)
}

// Rules turn one accepted change into what the server must do about it. A
// rule does not write: the store writes the intents in the transaction that
// stores the change, so they happen if and only if the change commits.
type Rules interface {
	Plan(ctx context.Context, facts Facts, c Change) (Intents, error)
}

// RulesFunc adapts a function to Rules (as http.HandlerFunc does), for a
// rule set of one function, as tests write.
type RulesFunc func(ctx context.Context, facts Facts, c Change) (Intents, error)

// Plan calls r.
func (r RulesFunc) Plan(ctx context.Context, facts Facts, c Change) (Intents, error) {
	return r(ctx, facts, c)
}

// Intents are what a rule wants done, in this order: cancel, enqueue, alert, edit.
type Intents struct {
	// Cancel marks pending notifications about a record cancelled (before
	// re-planning: a cancelled row is never revived).
	Cancel []CancelNotifications
	// Notify puts notifications in the push outbox (known ids are ignored,
	// so re-planning is idempotent).
	Notify []Notification
	// Edits are changes the server authors by rule (a referral's pick-up
	// follow-up created or closed): changesets of the server's automation
	// replica, stored like any other and planned again in their turn.
	Edits []Edit
	// Alerts are safeguarding concerns to keep open until a supervisor
	// acknowledges them (known ids are ignored, like Notify).
	Alerts []ConcernAlert
}

// Empty reports whether there is nothing to do.
func (in Intents) Empty() bool {
	return len(in.Cancel) == 0 && len(in.Notify) == 0 && len(in.Edits) == 0 && len(in.Alerts) == 0
}

// Add appends other's intents to in.
func (in *Intents) Add(other Intents) {
	in.Cancel = append(in.Cancel, other.Cancel...)
	in.Notify = append(in.Notify, other.Notify...)
	in.Edits = append(in.Edits, other.Edits...)
	in.Alerts = append(in.Alerts, other.Alerts...)
}

// CancelNotifications cancels the pending notifications about RecordID of
// the given kinds (all kinds when none are given).
type CancelNotifications struct {
	RecordID string
	Kinds    []string
}

// Edit is one server-authored change to one record: create it (Create is its
// type) unless it already exists, then set fields in order. An edit whose
// record exists when Create is set does nothing at all, so a replayed rule
// never creates a record twice.
type Edit struct {
	Author string
	Record syncengine.RecordID
	Create string // record type to create; "" edits an existing record
	Set    []Field
}

// Field is one register value an Edit sets.
type Field struct {
	Name  string
	Value any
}

// MaxRuleRounds bounds how many times the intents of one stored change may
// lead to another server-authored change (a referral submitted creates a
// follow-up, whose notifications are planned in round two). A longer chain
// is a rule bug; the store fails the transaction instead of looping.
const MaxRuleRounds = 8

// Settle runs rules over the changes a transaction stored, writing each
// plan's intents with write, round after round while the intents' edits
// store more changes (take returns, and clears, the changes stored since it
// was last called). Every store calls it in the transaction that stored the
// changes.
func Settle(ctx context.Context, rules Rules, facts Facts, take func() []Change, w IntentWriter) error {
	for round := 0; ; round++ {
		batch := take()
		if len(batch) == 0 {
			return nil
		}
		if round == MaxRuleRounds {
			return fmt.Errorf("rules: still editing after %d rounds (a rule reacts to its own edits)", round)
		}
		for _, c := range batch {
			in, err := rules.Plan(ctx, facts, c)
			if err != nil {
				return fmt.Errorf("rules for %s %s: %w", c.After.Type, c.After.ID, err)
			}
			if err := writeIntents(ctx, facts, w, in); err != nil {
				return fmt.Errorf("intents for %s %s: %w", c.After.Type, c.After.ID, err)
			}
		}
	}
}

// IntentWriter is what a store does with intents, inside the transaction
// that stored the change they answer.
type IntentWriter interface {
	CancelNotifications(c CancelNotifications) error
	Enqueue(ns ...Notification) error
	RaiseAlerts(alerts []ConcernAlert) error
	// Edit stores e as a changeset of the server's automation replica.
	Edit(e Edit) error
}

// writeIntents carries out one change's intents in their order: cancel,
// notify, alert, edit. An edit that creates a record already there (made
// by an earlier run of the same rule) is skipped.
func writeIntents(ctx context.Context, facts Facts, w IntentWriter, in Intents) error {
	for _, c := range in.Cancel {
		if err := w.CancelNotifications(c); err != nil {
			return err
		}
	}
	if err := w.Enqueue(in.Notify...); err != nil {
		return err
	}
	if err := w.RaiseAlerts(in.Alerts); err != nil {
		return err
	}
	for _, e := range in.Edits {
		if e.Create != "" {
			existing, err := facts.Record(ctx, e.Record)
			if err != nil {
				return err
			}
			if existing != nil && existing.Type != "" {
				continue
			}
		}
		if err := w.Edit(e); err != nil {
			return fmt.Errorf("edit %s: %w", e.Record, err)
		}
	}
	return nil
}

// Apply makes the edit in an engine transaction (the store checks first
// that a record to create does not exist yet).
func (e Edit) Apply(t *syncengine.Txn) error {
	if e.Create != "" {
		if err := t.CreateWithID(e.Record, e.Create); err != nil {
			return err
		}
	}
	for _, f := range e.Set {
		if err := t.Set(e.Record, f.Name, f.Value); err != nil {
			return err
		}
	}
	return nil
}
