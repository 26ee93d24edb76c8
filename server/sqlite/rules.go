package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
	w := &intentWriter{a: a}
	// A round ends when the loop takes the next changes: the round's edits
	// are stored then, so their changes are in the batch it takes.
	take := func() []domain.Change {
		if w.editErr = w.storeEdits(); w.editErr != nil {
			return nil
		}
		batch := a.changes
		a.changes = nil
		return batch
	}
	if err := w.lookPending(a.changes); err != nil {
		return err
	}
	if err := domain.Settle(a.ctx, rules, txFacts{a: a, w: w}, take, w); err != nil {
		return err
	}
	if w.editErr != nil {
		return w.editErr
	}
	return w.flush()
}

// intentWriter writes the rules' intents in the applier's transaction.
// A request's changes ask for hundreds of notifications and thousands of
// cancels, so both are kept and written together at the end (flush): one
// statement cancels what was pending before this settle, then one insert
// writes the new notifications. That gives the same outbox as writing each
// intent in its order, because a cancel reaches every notification pending
// before the settle whenever it comes, and reaches a notification asked for
// in this settle only if it comes after it, which is decided here in
// memory (a new notification it reaches is stored cancelled, as the old
// order left it).
type intentWriter struct {
	a *applier
	domain.NotificationBook

	// edits are the rules' edits asked for and not yet stored: a round's
	// edits go into one changeset of the automation replica (storeEdits),
	// not one each, since each changeset costs a log row, an audit row and
	// the replica's counter. They are stored before anything could tell the
	// difference: before a rule reads a record one of them edits (txFacts),
	// before a second edit of the same record or by another author, and at
	// the round's end. So every read sees every edit asked for before it, as
	// when each edit was stored at once, and each record is in a changeset
	// at most once, so its change (before and after) is the one its edit made.
	edits   []domain.Edit
	editing map[syncengine.RecordID]bool
	auto    *syncengine.Replica // the automation replica, read once per settle
	editErr error               // storeEdits' failure at a round's end
}

// lookPending reads which of the changed records have pending
// notifications. Records changed later (the rules' own edits) are not
// known, and their cancels are always sent.
func (w *intentWriter) lookPending(changes []domain.Change) error {
	ids := w.Changed(changes)
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := w.a.tx.QueryContext(w.a.ctx, pendingRecordsSQL, string(list))
	found, err := collect(rows, err, func(r *sql.Rows) (id string, err error) { return id, r.Scan(&id) })
	if err != nil {
		return err
	}
	for _, id := range found {
		w.HadPending(id)
	}
	return nil
}

var _ domain.IntentWriter = (*intentWriter)(nil)

// The settle's two outbox statements, each given a JSON list. Both reach
// the outbox through push_outbox_record (TestSettleOutboxPlans): a scan of
// the outbox would grow with every notification ever kept.
const (
	// pendingRecordsSQL: which of the listed record ids have pending notifications.
	pendingRecordsSQL = `SELECT DISTINCT record_id FROM push_outbox
		WHERE state = 'pending' AND record_id IN (SELECT value FROM json_each(?))`
	// cancelPendingSQL cancels the pending notifications of each listed
	// [record id, kind] pair (kind "": every kind). Driven by the list, a
	// record's pending rows found by index; a correlated scan of the list
	// per row would grow with both.
	cancelPendingSQL = `UPDATE push_outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL
		WHERE id IN (SELECT o.id FROM json_each(?) c JOIN push_outbox o
			ON o.record_id = json_extract(c.value, '$[0]') AND o.state = 'pending'
			WHERE json_extract(c.value, '$[1]') IN ('', o.kind))`
)

// flush writes the cancels, then the new notifications (see intentWriter).
func (w *intentWriter) flush() error {
	cancels, ns, cancelled := w.Take()
	*w = intentWriter{a: w.a, NotificationBook: w.NotificationBook}
	if len(cancels) > 0 {
		list, err := json.Marshal(cancels)
		if err != nil {
			return err
		}
		if _, err := w.a.tx.ExecContext(w.a.ctx, cancelPendingSQL, string(list)); err != nil {
			return fmt.Errorf("push: cancel notifications of %d records: %w", len(cancels), err)
		}
	}
	return enqueueStatesTx(w.a.ctx, w.a.tx, w.a.tx.now, ns, cancelled)
}

func (w *intentWriter) RaiseAlerts(alerts []domain.ConcernAlert) error {
	return raiseAlertsTx(w.a.ctx, w.a.tx.Tx, alerts)
}

// Edit stores a server-authored change as a changeset of the automation
// replica, through this applier (so it joins the transaction and its
// records are planned in the next round). The rules write with a replica
// of their own (meta keys auto_*), so their changesets are told apart from
// people's edits in the log.
func (w *intentWriter) Edit(e domain.Edit) error {
	if len(w.edits) > 0 && (w.edits[0].Author != e.Author || w.editing[e.Record]) {
		if err := w.storeEdits(); err != nil {
			return err
		}
	}
	if w.editing == nil {
		w.editing = map[syncengine.RecordID]bool{}
	}
	w.edits = append(w.edits, e)
	w.editing[e.Record] = true
	if w.a.tx.db.editEach {
		return w.storeEdits()
	}
	return nil
}

// storeEdits stores the edits asked for so far as one changeset. The
// changes it stores are put in the order the edits were asked for (the
// engine lists a changeset's records by id), so the next round plans them
// in the order it would have had they been stored one by one.
func (w *intentWriter) storeEdits() error {
	edits := w.edits
	if len(edits) == 0 {
		return nil
	}
	w.edits, w.editing = nil, nil
	if w.auto == nil {
		rep, _, err := w.a.replica("auto")
		if err != nil {
			return err
		}
		w.auto = rep
	}
	from := len(w.a.changes)
	_, err := w.auto.Edit(edits[0].Author, func(t *syncengine.Txn) error {
		for _, e := range edits {
			if err := e.Apply(t); err != nil {
				return fmt.Errorf("edit %s: %w", e.Record, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rank := make(map[syncengine.RecordID]int, len(edits))
	for i, e := range edits {
		if _, ok := rank[e.Record]; !ok {
			rank[e.Record] = i
		}
	}
	stored := w.a.changes[from:]
	for _, c := range stored {
		if _, ok := rank[c.After.ID]; !ok {
			return nil // a record no edit named (moved with a young person): left in the store's order
		}
	}
	slices.SortStableFunc(stored, func(x, y domain.Change) int { return rank[x.After.ID] - rank[y.After.ID] })
	return nil
}

// txFacts are the rules' reads, inside the applier's transaction. A read
// of a record with an edit waiting in w stores the waiting edits first.
type txFacts struct {
	a *applier
	w *intentWriter
}

var _ domain.Facts = txFacts{}

// The organisation does not change inside a sync (people, teams and
// services are edited by other write transactions), so the rules' lookups
// are read once and kept while the organisation's version (migration 0181:
// triggers give meta org_version a new random value on every write to
// people, team_supervisors and services) stays the same: a page of 200
// changesets asked for the same team's supervisors 200 times, and each of
// a week's 363 requests read everyone again.

// sharedFacts are the rules' lookups of one version of the organisation.
// Only write transactions use them (settle), one at a time (the write
// turn), so they need no lock of their own.
type sharedFacts struct {
	version string
	memo    factsMemo
}

// factsMemo is the lookups memo for the organisation this transaction sees,
// bound once per applier.
func (a *applier) factsMemo(ctx context.Context) (*factsMemo, error) {
	if a.facts != nil {
		return a.facts, nil
	}
	var v string
	if err := a.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'org_version'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("organisation version: %w", err)
	}
	sf := &a.tx.db.orgFacts
	if sf.version != v {
		*sf = sharedFacts{version: v}
	}
	a.facts = &sf.memo
	return a.facts, nil
}

func (f txFacts) Person(ctx context.Context, id string) (domain.Person, error) {
	m, err := f.a.factsMemo(ctx)
	if err != nil {
		return domain.Person{}, err
	}
	return memo(&m.person, id, func() (domain.Person, error) { return findPerson(ctx, f.a.tx, "id = ?", id) })
}

// People's lists are shared: callers get a copy of the list, whose people
// they must not modify.
func (f txFacts) People(ctx context.Context, filter domain.PeopleFilter) ([]domain.Person, error) {
	m, err := f.a.factsMemo(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := memo(&m.people, filter, func() ([]domain.Person, error) { return findPeople(ctx, f.a.tx, filter) })
	return slices.Clone(ps), err
}

func (f txFacts) Service(ctx context.Context, id string) (domain.Service, error) {
	m, err := f.a.factsMemo(ctx)
	if err != nil {
		return domain.Service{}, err
	}
	return memo(&m.service, id, func() (domain.Service, error) { return findService(ctx, f.a.tx, id) })
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

// factsMemo holds the rules' organisation lookups of one version of the
// organisation.
type factsMemo struct {
	person  map[string]domain.Person
	people  map[domain.PeopleFilter][]domain.Person
	service map[string]domain.Service
	actor   map[string]*domain.Actor // the policy's view (authorise.go actorOf)
}

func (f txFacts) Record(_ context.Context, id syncengine.RecordID) (*syncengine.Record, error) {
	if f.w != nil && f.w.editing[id] {
		if err := f.w.storeEdits(); err != nil {
			return nil, err
		}
	}
	return f.a.getter(id)
}
