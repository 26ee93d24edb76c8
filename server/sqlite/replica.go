package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// ServerStore is the server replica's syncengine.RecordStore: changesets the
// server itself authors (demo data, portal edits such as a sign-off) go into
// the same log as pushed ones, so every device receives them. Each Commit is
// its own transaction unless the store was made by Batch.
type ServerStore struct {
	db     *DB
	ctx    context.Context
	ap     *applier // set while batching
	res    domain.SyncResult
	prefix string               // meta keys of the replica's counter and clock ("" = "server")
	id     syncengine.ReplicaID // the replica writing through this store
}

var _ syncengine.RecordStore = (*ServerStore)(nil)

// ServerReplica returns the server's replica (created on first use, its id,
// counter and clock persisted in meta) over a ServerStore.
func (db *DB) ServerReplica(ctx context.Context) (*syncengine.Replica, *ServerStore, error) {
	st := &ServerStore{db: db, ctx: ctx}
	var m replicaMeta
	err := db.update(ctx, func(tx *Tx) (err error) { m, err = loadReplicaMeta(ctx, tx, "server"); return err })
	if err != nil {
		return nil, nil, err
	}
	st.id = m.id
	r, err := syncengine.NewReplica(syncengine.Config{ID: m.id, Now: func() time.Time { return db.Now() }, Rand: db.Rand, Store: st,
		Counter: m.counter, Clock: m.clock})
	return r, st, err
}

// AutomationReplica returns the replica the server writes with by rule inside
// tx (server/notify creates a submitted referral's pick-up follow-up with it
// from the AfterApply hook): its commits join tx, share the running applier's
// view and call AfterApply again. It is a replica of its own (meta keys
// auto_replica, auto_counter, auto_clock), not the server replica: the portal
// keeps the server replica's counter in memory, and two writers of one
// replica would reuse counter values.
func (tx *Tx) AutomationReplica(ctx context.Context) (*syncengine.Replica, error) {
	ap := tx.ap
	if ap == nil {
		ap = &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
	}
	m, err := loadReplicaMeta(ctx, tx, "auto")
	if err != nil {
		return nil, err
	}
	st := &ServerStore{db: tx.db, ctx: ctx, ap: ap, prefix: "auto", id: m.id}
	return syncengine.NewReplica(syncengine.Config{ID: m.id, Now: tx.Now, Rand: tx.db.Rand, Store: st,
		Counter: m.counter, Clock: m.clock})
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

// Batch runs fn with every Commit of the store inside one transaction (bulk
// loads). If fn fails nothing is committed.
func (s *ServerStore) Batch(fn func() error) error {
	return s.db.update(s.ctx, func(tx *Tx) error {
		s.ap = &applier{ctx: s.ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
		defer func() { s.ap = nil }()
		return fn()
	})
}

// Touched returns and clears the scope keys changed by commits (to poke devices).
func (s *ServerStore) Touched() []string {
	t := s.res.Touched
	s.res.Touched = nil
	return t
}

func (s *ServerStore) Record(id syncengine.RecordID) (*syncengine.Record, error) {
	if s.ap != nil {
		return s.ap.getter(id)
	}
	var rec *syncengine.Record
	err := s.db.view(s.ctx, func(tx *Tx) error {
		ap := &applier{ctx: s.ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
		var err error
		rec, err = ap.getter(id)
		return err
	})
	return rec, err
}

func (s *ServerStore) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) error {
	commit := func(ap *applier) error {
		// Re-apply against the state inside this transaction: a device may have
		// pushed to the same records since the replica read them.
		applied, err := syncengine.Apply(cs, ap.getter)
		if err != nil {
			return err
		}
		switch applied.Status {
		case syncengine.Pending:
			return syncengine.Errorf(domain.EMISSINGDEP, "commit", "server changeset depends on missing changes")
		case syncengine.Applied:
			if _, err := ap.commit("", cs, applied.Records, &s.res); err != nil {
				return err
			}
		}
		if cs.Replica != s.id {
			// A remote changeset the engine applied through this store: its
			// counter is another replica's, never this one's.
			return nil
		}
		prefix := s.prefix
		if prefix == "" {
			prefix = "server"
		}
		_, err = ap.tx.ExecContext(s.ctx, `INSERT INTO meta (key, value) VALUES (?, ?), (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			prefix+"_counter", strconv.FormatUint(cs.End(), 10), prefix+"_clock", strconv.FormatUint(uint64(cs.Time), 10))
		return err
	}
	if s.ap != nil {
		return commit(s.ap)
	}
	return s.db.update(s.ctx, func(tx *Tx) error {
		return commit(&applier{ctx: s.ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}})
	})
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
		ap := &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
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
