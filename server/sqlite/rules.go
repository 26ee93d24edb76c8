package sqlite

import (
	"context"
	"fmt"

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
	return domain.Settle(a.ctx, rules, txFacts{a}, take, a.write)
}

// write carries out one change's intents in their order: cancel, notify, alert, edit.
func (a *applier) write(in domain.Intents) error {
	for _, c := range in.Cancel {
		if _, err := cancelTx(a.ctx, a.tx.Tx, c.RecordID, c.Kinds...); err != nil {
			return err
		}
	}
	if err := enqueueTx(a.ctx, a.tx.Tx, a.tx.now, in.Notify...); err != nil {
		return err
	}
	if err := raiseAlertsTx(a.ctx, a.tx.Tx, in.Alerts); err != nil {
		return err
	}
	for _, e := range in.Edits {
		if err := a.edit(e); err != nil {
			return fmt.Errorf("edit %s: %w", e.Record, err)
		}
	}
	return nil
}

// edit stores one server-authored change as a changeset of the automation
// replica, through this applier (so it joins the transaction and its records
// are planned in the next round).
func (a *applier) edit(e domain.Edit) error {
	if e.Create != "" {
		existing, err := a.getter(e.Record)
		if err != nil {
			return err
		}
		if existing != nil && existing.Type != "" {
			return nil // made by an earlier run of the same rule
		}
	}
	// The rules write with a replica of their own (meta keys auto_*), so
	// their changesets are told apart from people's edits in the log.
	rep, _, err := a.replica("auto")
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
