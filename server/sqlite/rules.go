package sqlite

import (
	"context"
	"slices"

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

// The organisation does not change inside a sync (people, teams and
// services are edited by other write transactions), so the rules' lookups
// are read once per applier: a page of 200 changesets asked for the same
// team's supervisors 200 times.

func (f txFacts) Person(ctx context.Context, id string) (domain.Person, error) {
	return memo(&f.a.facts.person, id, func() (domain.Person, error) { return findPerson(ctx, f.a.tx, "id = ?", id) })
}

func (f txFacts) People(ctx context.Context, filter domain.PeopleFilter) ([]domain.Person, error) {
	ps, err := memo(&f.a.facts.people, filter, func() ([]domain.Person, error) { return findPeople(ctx, f.a.tx, filter) })
	return slices.Clone(ps), err
}

func (f txFacts) Service(ctx context.Context, id string) (domain.Service, error) {
	return memo(&f.a.facts.service, id, func() (domain.Service, error) { return findService(ctx, f.a.tx, id) })
}

// memo returns (*m)[k], reading it with load the first time (a failed read
// is not kept).
func memo[K comparable, V any](m *map[K]V, k K, load func() (V, error)) (V, error) {
	if v, ok := (*m)[k]; ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
	return v, nil
}

// factsMemo holds the rules' organisation lookups of one applier.
type factsMemo struct {
	person  map[string]domain.Person
	people  map[domain.PeopleFilter][]domain.Person
	service map[string]domain.Service
}

func (f txFacts) Record(_ context.Context, id syncengine.RecordID) (*syncengine.Record, error) {
	return f.a.getter(id)
}
