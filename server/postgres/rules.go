package postgres

import (
	"context"
	"errors"
	"fmt"
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
	return domain.Settle(a.ctx, rules, txFacts{a}, take, intentWriter{a})
}

// intentWriter writes the rules' intents in the applier's transaction.
type intentWriter struct{ a *applier }

var _ domain.IntentWriter = intentWriter{}

func (w intentWriter) CancelNotifications(c domain.CancelNotifications) error {
	_, err := cancelTx(w.a.ctx, w.a.tx, c.RecordID, c.Kinds...)
	return err
}

func (w intentWriter) Enqueue(ns ...domain.Notification) error {
	return enqueueTx(w.a.ctx, w.a.tx, w.a.tx.now, ns...)
}

func (w intentWriter) RaiseAlerts(alerts []domain.ConcernAlert) error {
	return raiseAlertsTx(w.a.ctx, w.a.tx, alerts)
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

type txFacts struct{ a *applier }

var _ domain.Facts = txFacts{}

func (f txFacts) Person(ctx context.Context, id string) (domain.Person, error) {
	return findPerson(ctx, f.a.tx, "id = $1", id)
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
	if _, err := s.ap.tx.Exec(s.ap.ctx, `UPDATE meta SET value = $2 WHERE key = $1`, s.prefix+"_counter", strconv.FormatUint(cs.End(), 10)); err != nil {
		return err
	}
	_, err := s.ap.tx.Exec(s.ap.ctx, `UPDATE meta SET value = $2 WHERE key = $1`, s.prefix+"_clock", strconv.FormatUint(uint64(cs.Time), 10))
	return err
}

// replica is the server's replica named prefix ("server": supervisors'
// edits; "auto": the rules'), loaded for this transaction. Its id, counter
// and clock are rows of meta shared by every node; the counter row is
// locked until commit, so edits on different nodes take turns and each
// counter value is used once.
func (a *applier) replica(prefix string) (*syncengine.Replica, *serverStore, error) {
	ctx, tx := a.ctx, a.tx
	var idText, counter, clock string
	load := func() error {
		if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1 FOR UPDATE`, prefix+"_counter").Scan(&counter); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, prefix+"_replica").Scan(&idText); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, prefix+"_clock").Scan(&clock)
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
	return r, st, err
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
