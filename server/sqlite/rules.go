package sqlite

import (
	"context"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// settle plans every change stored so far in this transaction with db.Rules
// and writes what they ask for here, before the transaction commits: the
// outbox rows and the server's own edits exist if and only if the change
// that caused them does. It is a bounded loop, not a hook: a rule only
// returns intents, and an edit it asks for is stored by this applier, whose
// changes wait for the loop's next round. Rules read their facts through
// txFacts, so people, services and records come from this transaction's
// snapshot and include what it has written.
func (a *applier) settle() error {
	rules := a.tx.db.Rules
	if rules == nil {
		a.changes = nil
		return nil
	}
	a.settling = true
	defer func() { a.settling = false }()
	take := func() []domain.Change { batch := a.changes; a.changes = nil; return batch }
	return domain.Settle(a.ctx, rules, txFacts{a}, take, intentWriter{a})
}

// intentWriter writes the rules' intents in the applier's transaction.
type intentWriter struct{ a *applier }

var _ domain.IntentWriter = intentWriter{}

func (w intentWriter) CancelNotifications(c domain.CancelNotifications) error {
	_, err := cancelTx(w.a.ctx, w.a.tx.Tx, c.RecordID, c.Kinds...)
	return err
}

func (w intentWriter) Enqueue(ns ...domain.Notification) error {
	return enqueueTx(w.a.ctx, w.a.tx.Tx, w.a.tx.now, ns...)
}

func (w intentWriter) RaiseAlerts(alerts []domain.ConcernAlert) error {
	return raiseAlertsTx(w.a.ctx, w.a.tx.Tx, alerts)
}

// Edit stores a server-authored change as a changeset of the automation
// replica, through this applier (so it joins the transaction and its
// records are planned in the next round). The rules write with a replica
// of their own (meta keys auto_*), so their changesets are told apart from
// people's edits in the log.
func (w intentWriter) Edit(e domain.Edit) error {
	rep, _, err := w.a.replica("auto")
	if err != nil {
		return err
	}
	_, err = rep.Edit(e.Author, e.Apply)
	return err
}

// txFacts are the rules' reads, inside the applier's transaction.
type txFacts struct{ a *applier }

var _ domain.Facts = txFacts{}

func (f txFacts) Person(ctx context.Context, id string) (domain.Person, error) {
	return findPerson(ctx, f.a.tx, "id = ?", id)
}

func (f txFacts) People(ctx context.Context, filter domain.PeopleFilter) ([]domain.Person, error) {
	return findPeople(ctx, f.a.tx, filter)
}

func (f txFacts) Service(ctx context.Context, id string) (domain.Service, error) {
	return findService(ctx, f.a.tx, id)
}

func (f txFacts) Record(_ context.Context, id syncengine.RecordID) (*syncengine.Record, error) {
	return f.a.getter(id)
}
