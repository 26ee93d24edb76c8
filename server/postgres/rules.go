package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// settle runs the rules over the records stored so far, writing their
// intents (notifications, cancellations, the server's own edits) in this
// transaction, until no edit provokes another.
func (a *applier) settle() error {
	rules := a.tx.db.Rules
	if rules == nil {
		a.changes = nil
		return nil
	}
	a.settling = true
	defer func() { a.settling = false }()
	take := func() []domain.Change { batch := a.changes; a.changes = nil; return batch }
	w := &intentWriter{a: a}
	if err := w.lookPending(a.changes); err != nil {
		return err
	}
	if err := domain.Settle(a.ctx, rules, txFacts{a}, take, w); err != nil {
		return err
	}
	// The rules' edits, stored deferred (applier.deferring).
	if err := a.flushRecords(); err != nil {
		return err
	}
	return w.flush()
}

// intentWriter writes the rules' intents in the applier's transaction, as
// server/sqlite's does. A request's changes ask for hundreds of
// notifications and thousands of cancels, so both are kept and written
// together at the end (flush): one statement cancels what was pending
// before this settle, then one inserts the new notifications. That gives
// the same outbox as writing each intent in its order, because a cancel
// reaches every notification pending before the settle whenever it comes,
// and reaches a notification asked for in this settle only if it comes
// after it, which is decided here in memory (a new notification it reaches
// is stored cancelled, as the old order left it).
type intentWriter struct {
	a *applier
	domain.NotificationBook
}

var _ domain.IntentWriter = (*intentWriter)(nil)

// lookPending reads which of the changed records have pending
// notifications. Records changed later (the rules' own edits) are not
// known, and their cancels are always sent.
func (w *intentWriter) lookPending(changes []domain.Change) error {
	ids := w.Changed(changes)
	if len(ids) == 0 {
		return nil
	}
	rows, err := w.a.tx.Query(w.a.ctx, pendingRecordsSQL, ids)
	found, err := collect(rows, err, func(r pgx.Rows) (id string, err error) { return id, r.Scan(&id) })
	for _, id := range found {
		w.HadPending(id)
	}
	return err
}

// Both are driven by the list of records, each record's pending rows found
// by index (push_outbox_record), as prefetch.go's lookups are and for the
// same reason: planned over a new, empty outbox, the plain join and
// "record_id = ANY" read the whole pending index for every request, and
// kept doing so as the outbox grew (TestKeyListStatementsProbeIndexes).
const (
	pendingRecordsSQL = `SELECT k.id FROM unnest($1::text[]) k (id)
		CROSS JOIN LATERAL (SELECT 1 FROM push_outbox o WHERE o.record_id = k.id AND o.state = 'pending' LIMIT 1) o`
	cancelPendingSQL = `UPDATE push_outbox o SET state = 'cancelled', lease_owner = NULL, lease_until = NULL
		WHERE o.id IN (SELECT x.id FROM unnest($1::text[], $2::text[]) c (record_id, kind)
			CROSS JOIN LATERAL (SELECT x.id FROM push_outbox x WHERE x.record_id = c.record_id AND x.state = 'pending' AND c.kind IN ('', x.kind) OFFSET 0) x)`
)

// flush writes the cancels, then the new notifications, in one round trip.
func (w *intentWriter) flush() error {
	cancels, ns, cancelled := w.Take()
	b := &pgx.Batch{}
	if len(cancels) > 0 {
		ids, kinds := make([]string, len(cancels)), make([]string, len(cancels))
		for i, c := range cancels {
			ids[i], kinds[i] = c[0], c[1]
		}
		b.Queue(cancelPendingSQL, ids, kinds)
	}
	queueEnqueue(b, w.a.tx.now, ns, cancelled)
	if b.Len() == 0 {
		return nil
	}
	if err := w.a.tx.SendBatch(w.a.ctx, b).Close(); err != nil {
		return fmt.Errorf("push: write notifications: %w", err)
	}
	return nil
}

func (w *intentWriter) RaiseAlerts(alerts []domain.ConcernAlert) error {
	return raiseAlertsTx(w.a.ctx, w.a.tx, alerts)
}

// Edit stores a server-authored change as a changeset of the automation
// replica, through this applier (so it joins the transaction and its
// records are planned in the next round). The rules write with a replica
// of their own (meta keys auto_*), so their changesets are told apart from
// people's edits in the log.
func (w *intentWriter) Edit(e domain.Edit) error {
	rep, _, err := w.a.replica("auto")
	if err != nil {
		return err
	}
	_, err = rep.Edit(e.Author, e.Apply)
	return err
}

// txFacts are the rules' reads, inside the applier's transaction; people
// and services come from the organisation's lookups kept while its
// version stands (orgfacts.go).
type txFacts struct{ a *applier }

var _ domain.Facts = txFacts{}

func (f txFacts) Person(ctx context.Context, id string) (domain.Person, error) {
	m, err := f.a.orgFacts()
	if err != nil {
		return domain.Person{}, err
	}
	return memo(&m.mu, &m.person, id, func() (domain.Person, error) { return findPerson(ctx, f.a.tx, "id = $1", id) })
}

// People's lists are shared: callers get a copy of the list, whose people
// they must not modify.
func (f txFacts) People(ctx context.Context, filter domain.PeopleFilter) ([]domain.Person, error) {
	m, err := f.a.orgFacts()
	if err != nil {
		return nil, err
	}
	ps, err := memo(&m.mu, &m.people, filter, func() ([]domain.Person, error) { return findPeople(ctx, f.a.tx, filter) })
	return slices.Clone(ps), err
}

func (f txFacts) Service(ctx context.Context, id string) (domain.Service, error) {
	m, err := f.a.orgFacts()
	if err != nil {
		return domain.Service{}, err
	}
	return memo(&m.mu, &m.service, id, func() (domain.Service, error) { return findService(ctx, f.a.tx, id) })
}

func (f txFacts) Record(_ context.Context, id syncengine.RecordID) (*syncengine.Record, error) {
	return f.a.getter(id)
}

// serverStore is the engine's record store for the server's own replicas:
// reads and the commit go through the applier, in its transaction.
type serverStore struct {
	ap     *applier
	prefix string
	id     syncengine.ReplicaID
	res    domain.SyncResult
}

var _ syncengine.RecordStore = (*serverStore)(nil)

func (s *serverStore) Record(id syncengine.RecordID) (*syncengine.Record, error) {
	return s.ap.getter(id)
}

// Commit stores a changeset the server's replica wrote and advances its
// counter, whose row the transaction holds locked since it read it
// (loadReplica), so two nodes never issue the same counter.
func (s *serverStore) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) error {
	if len(recs) > 0 {
		if _, err := s.ap.commit("", cs, recs, &s.res); err != nil {
			return err
		}
	}
	if s.prefix == "" {
		return nil // a one-off replica (an erasure's): no counter to keep
	}
	a := s.ap
	if a.dirty.meta == nil {
		a.dirty.meta = map[string]string{}
	}
	a.dirty.meta[s.prefix+"_counter"] = strconv.FormatUint(cs.End(), 10)
	a.dirty.meta[s.prefix+"_clock"] = strconv.FormatUint(uint64(cs.Time), 10)
	if a.deferring() {
		return nil
	}
	return a.flushRecords()
}

// serverReplica is a server replica loaded in a transaction.
type serverReplica struct {
	rep *syncengine.Replica
	st  *serverStore
}

// replica is the server's replica named prefix ("server": supervisors'
// edits; "auto": the rules'), loaded once per transaction (the rules edit
// through it hundreds of times in a week's push). Its id, counter and
// clock are rows of meta shared by every node, locked until commit, so
// edits on different nodes take turns and each counter value is used once;
// the replica keeps them in memory meanwhile, and Commit writes them back.
func (a *applier) replica(prefix string) (*syncengine.Replica, *serverStore, error) {
	if r, ok := a.replicas[prefix]; ok {
		return r.rep, r.st, nil
	}
	ctx, tx := a.ctx, a.tx
	var idText, counter, clock string
	load := func() error {
		rows, err := tx.Query(ctx, `SELECT key, value FROM meta WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`,
			[]string{prefix + "_counter", prefix + "_replica", prefix + "_clock"})
		kvs, err := collect(rows, err, func(r pgx.Rows) (kv [2]string, err error) { return kv, r.Scan(&kv[0], &kv[1]) })
		if err != nil {
			return err
		}
		found := 0
		for _, kv := range kvs {
			switch kv[0] {
			case prefix + "_counter":
				counter, found = kv[1], found+1
			case prefix + "_replica":
				idText, found = kv[1], found+1
			case prefix + "_clock":
				clock, found = kv[1], found+1
			}
		}
		if found < 3 {
			return pgx.ErrNoRows
		}
		return nil
	}
	err := load()
	if errors.Is(err, pgx.ErrNoRows) {
		id, nerr := syncengine.NewReplicaID(tx.db.Rand)
		if nerr != nil {
			return nil, nil, nerr
		}
		// Two nodes making the replica at once: one insert wins (the other
		// waits on the key, then inserts nothing) and both load the winner's.
		if _, ierr := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2), ($3, '0'), ($4, '0') ON CONFLICT (key) DO NOTHING`,
			prefix+"_replica", id.String(), prefix+"_counter", prefix+"_clock"); ierr != nil {
			return nil, nil, ierr
		}
		err = load()
	}
	if err != nil {
		return nil, nil, err
	}
	id, err := syncengine.ParseReplicaID(idText)
	if err != nil {
		return nil, nil, err
	}
	n, _ := strconv.ParseUint(counter, 10, 64)
	ck, _ := strconv.ParseUint(clock, 10, 64)
	st := &serverStore{ap: a, prefix: prefix, id: id}
	r, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: tx.Now, Rand: tx.db.Rand, Store: st,
		Counter: n, Clock: syncengine.Timestamp(ck)})
	if err != nil {
		return nil, nil, err
	}
	if a.replicas == nil {
		a.replicas = map[string]*serverReplica{}
	}
	a.replicas[prefix] = &serverReplica{r, st}
	return r, st, nil
}

// ServerEdit stores a change the server authors (a supervisor's sign-off)
// like a pushed one, in one transaction; it returns the scope keys touched.
func (db *DB) ServerEdit(ctx context.Context, author string, fn func(*syncengine.Txn) error) ([]string, error) {
	var touched []string
	err := db.update(ctx, func(tx *Tx) error {
		ap := newApplier(ctx, tx)
		rep, st, err := ap.replica("server")
		if err != nil {
			return err
		}
		if _, err := rep.Edit(author, fn); err != nil {
			return err
		}
		touched = st.res.Touched
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.poke(ctx, touched)
	return touched, nil
}

// Import appends trusted changesets; duplicates are skipped.
func (db *DB) Import(ctx context.Context, css []*syncengine.Changeset) (accepted int, err error) {
	var touched []string
	err = db.update(ctx, func(tx *Tx) error {
		accepted = 0
		ap := newApplier(ctx, tx)
		var res domain.SyncResult
		for _, cs := range css {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM changesets WHERE replica_id = $1 AND start = $2`, cs.Replica.String(), cs.Start).Scan(&n); err != nil {
				return err
			} else if n > 0 {
				continue
			}
			applied, err := syncengine.Apply(cs, ap.getter)
			if err != nil {
				return fmt.Errorf("import %s/%d: %w", cs.Replica, cs.Start, err)
			}
			switch applied.Status {
			case syncengine.Pending:
				return fmt.Errorf("import %s/%d: dependencies missing", cs.Replica, cs.Start)
			case syncengine.Applied:
				if _, err := ap.commit("", cs, applied.Records, &res); err != nil {
					return err
				}
				accepted++
			}
		}
		touched = res.Touched
		return nil
	})
	if err == nil {
		db.poke(ctx, touched)
	}
	return accepted, err
}
