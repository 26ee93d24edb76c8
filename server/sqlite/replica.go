package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// ServerStore is the syncengine.RecordStore of the server's own replicas:
// changesets the server authors (demo data, portal edits such as a sign-off,
// rules' follow-ups) go into the same log as pushed ones, so every device
// receives them.
type ServerStore struct {
	db     *DB
	ctx    context.Context
	ap     *applier          // set when the replica's reads and commit share one write transaction
	res    domain.SyncResult // what its commits touched
	prefix string            // meta keys of the replica's counter and clock; "" for a one-off replica
	id     syncengine.ReplicaID

	mu   sync.Mutex
	seen map[syncengine.RecordID][]byte // records read outside a transaction, as read (nil: absent)
}

var _ syncengine.RecordStore = (*ServerStore)(nil)

// ServerReplica returns the server's replica over a ServerStore of its own,
// for tools and tests that drive the engine directly (Edit, Apply): its reads
// and its commit are separate transactions (see Commit). The store keeps one,
// so callers share its counter; ServerEdit is the way to write in service.
func (db *DB) ServerReplica(ctx context.Context) (*syncengine.Replica, *ServerStore, error) {
	db.srvMu.Lock()
	defer db.srvMu.Unlock()
	if db.srv != nil {
		return db.srv, db.srvSt, nil
	}
	st := &ServerStore{db: db, ctx: context.WithoutCancel(ctx), prefix: "server"}
	var m replicaMeta
	err := db.update(ctx, func(tx *Tx) (err error) { m, err = loadReplicaMeta(ctx, tx, "server"); return err })
	if err != nil {
		return nil, nil, err
	}
	st.id = m.id
	r, err := syncengine.NewReplica(syncengine.Config{ID: m.id, Now: func() time.Time { return db.Now() }, Rand: db.Rand, Store: st,
		Counter: m.counter, Clock: m.clock})
	if err != nil {
		return nil, nil, err
	}
	db.srv, db.srvSt = r, st
	return r, st, nil
}

// ServerEdit saves one change the server authors as author (a supervisor's
// sign-off in the portal) as a changeset of the server replica, in one write
// transaction that holds the replica's reads, its counter (read from meta) and
// its commit, so a phone's push cannot land in between and two edits cannot
// share a counter value. It returns the scope keys the change touched, to
// poke the devices that hold them.
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
	return touched, nil
}

// replica is a server-side replica (prefix "server": the server's; "auto":
// the one rules write with) inside the applier's transaction: its counter
// and clock are read from meta here and written back by every commit, so
// the write lock orders all its writers.
func (a *applier) replica(prefix string) (*syncengine.Replica, *ServerStore, error) {
	m, err := loadReplicaMeta(a.ctx, a.tx, prefix)
	if err != nil {
		return nil, nil, err
	}
	st := &ServerStore{db: a.tx.db, ctx: a.ctx, ap: a, prefix: prefix, id: m.id}
	r, err := syncengine.NewReplica(syncengine.Config{ID: m.id, Now: a.tx.Now, Rand: a.tx.db.Rand, Store: st,
		Counter: m.counter, Clock: m.clock})
	return r, st, err
}

type replicaMeta struct {
	id      syncengine.ReplicaID
	counter uint64
	clock   syncengine.Timestamp
}

// loadReplicaMeta reads (creating on first use) a server-side replica's id,
// counter and clock from meta keys <prefix>_replica, _counter, _clock.
func loadReplicaMeta(ctx context.Context, tx *Tx, prefix string) (replicaMeta, error) {
	var m replicaMeta
	var idText, counter, clock string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, prefix+"_replica").Scan(&idText)
	if errors.Is(err, sql.ErrNoRows) {
		id, err := syncengine.NewReplicaID(tx.db.Rand)
		if err != nil {
			return m, err
		}
		idText, counter, clock = id.String(), "0", "0"
		if _, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?), (?, '0'), (?, '0')`,
			prefix+"_replica", idText, prefix+"_counter", prefix+"_clock"); err != nil {
			return m, err
		}
	} else if err != nil {
		return m, err
	} else {
		if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, prefix+"_counter").Scan(&counter); err != nil {
			return m, err
		}
		if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, prefix+"_clock").Scan(&clock); err != nil {
			return m, err
		}
	}
	if m.id, err = syncengine.ParseReplicaID(idText); err != nil {
		return m, err
	}
	m.counter, _ = strconv.ParseUint(counter, 10, 64)
	ck, _ := strconv.ParseUint(clock, 10, 64)
	m.clock = syncengine.Timestamp(ck)
	return m, nil
}

func (s *ServerStore) Record(id syncengine.RecordID) (*syncengine.Record, error) {
	if s.ap != nil {
		return s.ap.getter(id)
	}
	var rec *syncengine.Record
	err := s.db.view(s.ctx, func(tx *Tx) (err error) { rec, err = newApplier(s.ctx, tx).getter(id); return err })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[syncengine.RecordID][]byte{}
	}
	s.seen[id] = encodeOrNil(rec)
	return rec, nil
}

func encodeOrNil(r *syncengine.Record) []byte {
	if r == nil {
		return nil
	}
	return syncengine.EncodeRecord(r)
}

// Commit stores the records the engine computed. Inside ServerEdit (or a
// rule's edit) the engine read them in this same write transaction, so they
// are current and are stored as they are. Otherwise the engine read them in earlier transactions and a
// phone may have pushed to them since: if any record is not as the engine
// read it, the changeset is applied again to the state in this transaction,
// so the other writer's change is merged, not overwritten.
func (s *ServerStore) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) error {
	if s.ap != nil {
		return s.commit(s.ap, cs, recs)
	}
	s.mu.Lock()
	seen := s.seen
	s.seen = nil
	s.mu.Unlock()
	return s.db.update(s.ctx, func(tx *Tx) error {
		ap := newApplier(s.ctx, tx)
		stale, err := changedSince(ap, seen, recs)
		if err != nil {
			return err
		}
		if stale {
			applied, err := syncengine.Apply(cs, ap.getter)
			if err != nil {
				return err
			}
			switch applied.Status {
			case syncengine.Pending:
				return syncengine.Errorf(domain.EMISSINGDEP, "commit", "server changeset depends on missing changes")
			case syncengine.Duplicate:
				recs = nil
			default:
				recs = applied.Records
			}
		}
		return s.commit(ap, cs, recs)
	})
}

// changedSince reports whether any of recs is stored otherwise than the
// engine read it (or was not read through this store at all).
func changedSince(ap *applier, seen map[syncengine.RecordID][]byte, recs []*syncengine.Record) (bool, error) {
	for _, r := range recs {
		was, ok := seen[r.ID]
		if !ok {
			return true, nil
		}
		now, err := ap.getter(r.ID)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(was, encodeOrNil(now)) {
			return true, nil
		}
	}
	return false, nil
}

func (s *ServerStore) commit(ap *applier, cs *syncengine.Changeset, recs []*syncengine.Record) error {
	own := cs.Replica == s.id && s.prefix != ""
	if own {
		// Our own changeset: its counter range must follow the stored one,
		// or two writers of this replica (two processes, a tool beside the
		// server) would give phones two changesets with one id.
		m, err := loadReplicaMeta(s.ctx, ap.tx, s.prefix)
		if err != nil {
			return err
		}
		if m.id != s.id || cs.Start <= m.counter {
			return syncengine.Errorf(domain.ECONFLICT, "commit", "replica %s counter %d already used (stored %d): another writer", s.prefix, cs.Start, m.counter)
		}
	}
	if len(recs) > 0 {
		if _, err := ap.commit("", cs, recs, &s.res); err != nil {
			return err
		}
	}
	if !own {
		// A remote changeset the engine applied through this store: its
		// counter is another replica's, never this one's. Or a one-off
		// replica (an erasure's: a fresh id used in one transaction only),
		// whose counter nothing will continue.
		return nil
	}
	_, err := ap.tx.ExecContext(s.ctx, `INSERT INTO meta (key, value) VALUES (?, ?), (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		s.prefix+"_counter", strconv.FormatUint(cs.End(), 10), s.prefix+"_clock", strconv.FormatUint(uint64(cs.Time), 10))
	return err
}

// Meta reads a server-wide setting ("" if unset).
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a server-wide setting.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}

// Import appends trusted changesets (demo data, migrations from another
// system) to the log in one transaction: applied like pushes, without the
// device scope check. Duplicates are skipped, so an import can be re-run.
func (db *DB) Import(ctx context.Context, css []*syncengine.Changeset) (accepted int, err error) {
	err = db.update(ctx, func(tx *Tx) error {
		ap := newApplier(ctx, tx)
		var res domain.SyncResult
		for _, cs := range css {
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
		return ap.drainHeld(&res)
	})
	return accepted, err
}
