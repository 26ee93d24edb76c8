//go:build !js

package mobilesdk

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// sqliteLocal is the native phone's store seen through localstore.Store, the
// face it shares with the browser's IndexedDB store: the client and its sync
// loop speak only that face.
type sqliteLocal struct{ *store }

var _ localstore.Store = sqliteLocal{}

// openLocal opens the encrypted SQLite store at path as a localstore.Store.
func openLocal(path string, key []byte) (localstore.Store, error) {
	return openLocalAt(path, key, time.Now)
}

func openLocalAt(path string, key []byte, now func() time.Time) (sqliteLocal, error) {
	seal, err := newSealer(key)
	if err != nil {
		return sqliteLocal{}, err
	}
	st, err := openStore(path, seal, now)
	if err != nil {
		return sqliteLocal{}, err
	}
	return sqliteLocal{st}, nil
}

func (s sqliteLocal) Meta(key string) (string, error) { return s.metaString(key) }

func (s sqliteLocal) SetMeta(kv map[string]string) error {
	var self syncengine.ReplicaID
	if v, ok := kv["replica_id"]; ok && v != "" {
		id, err := syncengine.ParseReplicaID(v)
		if err != nil {
			return errorf(syncengine.EINVALID, "set meta", "replica id is not valid")
		}
		self = id
	}
	err := s.write(func(tx *sql.Tx) error { return setMetas(tx, kv) })
	if err == nil && !self.IsZero() {
		s.self = self
	}
	return err
}

func setMetas(tx *sql.Tx, kv map[string]string) error {
	for k, v := range kv {
		if err := setMeta(tx, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s sqliteLocal) Secret(key string) (string, error) { return s.getSecret(s.db, key) }

func (s sqliteLocal) SetSecret(key, value string) error {
	return s.update(func(tx *sql.Tx) error { return s.setSecret(tx, key, value) })
}

func (s sqliteLocal) Outbox(maxBytes int) ([]localstore.Entry, error) {
	es, err := s.outbox(s.db, maxBytes)
	if err != nil {
		return nil, err
	}
	out := make([]localstore.Entry, len(es))
	for i, e := range es {
		out[i] = localstore.Entry{Start: e.start, Body: e.body}
	}
	return out, nil
}

func (s sqliteLocal) Inbox() ([]*syncengine.Changeset, error) { return s.inbox() }

func (s sqliteLocal) Queued() ([]localstore.Queued, error) {
	type row struct {
		queue, replica, direction string
		start                     int64
		blob                      []byte
	}
	rows, err := s.db.Query(`SELECT 'outbox', '', '', start, body FROM outbox
		UNION ALL SELECT 'inbox', replica, '', start, body FROM inbox
		UNION ALL SELECT 'sent', '', '', start, body FROM sent
		UNION ALL SELECT 'quarantine', replica, direction, start, body FROM quarantine`)
	got, err := collect(rows, err, func(r *sql.Rows) (x row, err error) {
		return x, r.Scan(&x.queue, &x.replica, &x.direction, &x.start, &x.blob)
	})
	if err != nil {
		return nil, err
	}
	out := make([]localstore.Queued, len(got))
	for i, x := range got {
		ad := outboxAD(uint64(x.start))
		if x.queue == localstore.QueueInbox || (x.queue == localstore.QueueQuarantine && x.direction == "pull") {
			ad = inboxAD(x.replica, uint64(x.start))
		}
		out[i] = localstore.Queued{Key: localstore.Key{Queue: x.queue, Replica: x.replica, Start: uint64(x.start)},
			Direction: x.direction, Changeset: s.openChangeset(ad, x.blob)}
	}
	return out, nil
}

func (s *store) openChangeset(ad string, blob []byte) *syncengine.Changeset {
	frame, err := s.seal.open(ad, blob)
	if err != nil {
		return nil
	}
	cs, err := syncengine.DecodeChangeset(frame)
	if err != nil {
		return nil
	}
	return cs
}

func (s sqliteLocal) Quarantined() ([]localstore.Quarantined, error) {
	rows, err := s.db.Query(`SELECT replica, start, direction, code, message, at FROM quarantine ORDER BY at, replica, start`)
	out, err := collect(rows, err, func(r *sql.Rows) (q localstore.Quarantined, err error) {
		return q, r.Scan(&q.Replica, &q.Start, &q.Direction, &q.Code, &q.Message, &q.At)
	})
	if out == nil {
		out = []localstore.Quarantined{}
	}
	return out, err
}

func (s sqliteLocal) Counts() (c localstore.Counts, err error) {
	err = s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM outbox), (SELECT COALESCE(SUM(bytes), 0) FROM outbox),
		(SELECT COUNT(*) FROM inbox), (SELECT COUNT(*) FROM quarantine),
		(SELECT COUNT(*) FROM sent WHERE start NOT IN (SELECT start FROM outbox)), (SELECT COUNT(*) FROM records)`).
		Scan(&c.Outbox, &c.OutboxBytes, &c.Inbox, &c.Quarantined, &c.SentOnly, &c.Records)
	return
}

func (s sqliteLocal) Batch(fn func() error) error { return s.inBatch(fn) }

// Write applies b in one transaction (the open batch, if any).
func (s sqliteLocal) Write(b *localstore.Batch) error {
	var self syncengine.ReplicaID
	if v := b.Meta["replica_id"]; v != "" {
		id, err := syncengine.ParseReplicaID(v)
		if err != nil {
			return errorf(syncengine.EINVALID, "write", "replica id is not valid")
		}
		self = id
	}
	err := s.write(func(tx *sql.Tx) error {
		at := b.At
		if at == 0 {
			at = s.now().UnixMilli()
		}
		if b.Reset {
			for _, q := range []string{`DELETE FROM links`, `DELETE FROM records`, `DELETE FROM inbox`} {
				if _, err := tx.Exec(q); err != nil {
					return err
				}
			}
		}
		for _, start := range b.Ack {
			// Kept for keepSent, in case the server is restored from a
			// backup taken before it had this save.
			if _, err := tx.Exec(`INSERT OR IGNORE INTO sent (start, acked, body) SELECT start, ?, body FROM outbox WHERE start = ?`,
				at, int64(start)); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM outbox WHERE start = ?`, int64(start)); err != nil {
				return err
			}
		}
		for _, r := range b.Refuse {
			table, replica, direction, where := "outbox", s.self.String(), "push", `start = ?`
			args := []any{int64(r.Start)}
			if r.Queue == localstore.QueueInbox {
				table, replica, direction, where = "inbox", r.Replica, "pull", `replica = ? AND start = ?`
				args = []any{r.Replica, int64(r.Start)}
			}
			var blob []byte
			err := tx.QueryRow(`SELECT body FROM `+table+` WHERE `+where, args...).Scan(&blob)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO quarantine (replica, start, direction, code, message, at, body) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (replica, start) DO UPDATE SET code = excluded.code, message = excluded.message, at = excluded.at`,
				replica, int64(r.Start), direction, r.Code, r.Message, at, blob); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM `+table+` WHERE `+where, args...); err != nil {
				return err
			}
		}
		for _, k := range b.Release {
			replica := k.Replica
			if replica == "" {
				replica = s.self.String()
			}
			if _, err := tx.Exec(`DELETE FROM quarantine WHERE replica = ? AND start = ?`, replica, int64(k.Start)); err != nil {
				return err
			}
		}
		for _, id := range b.Drop {
			if _, err := tx.Exec(`DELETE FROM records WHERE id = ?`, string(id)); err != nil {
				return err
			}
		}
		for _, r := range b.Put {
			if err := s.putRecord(tx, r); err != nil {
				return err
			}
		}
		for _, cs := range b.Hold {
			if err := s.putInbox(tx, cs, syncengine.EncodeChangeset(cs)); err != nil {
				return err
			}
		}
		for _, k := range b.Unhold {
			if _, err := tx.Exec(`DELETE FROM inbox WHERE replica = ? AND start = ?`, k.Replica, int64(k.Start)); err != nil {
				return err
			}
		}
		for _, q := range b.Rewrite {
			switch q.Queue {
			case localstore.QueueOutbox:
				sealed, err := s.seal.seal(outboxAD(q.Start), syncengine.EncodeChangeset(q.Changeset))
				if err != nil {
					return err
				}
				if _, err := tx.Exec(`UPDATE outbox SET body = ?, bytes = ? WHERE start = ?`, sealed, len(sealed), int64(q.Start)); err != nil {
					return err
				}
			case localstore.QueueInbox:
				sealed, err := s.seal.seal(inboxAD(q.Replica, q.Start), syncengine.EncodeChangeset(q.Changeset))
				if err != nil {
					return err
				}
				if _, err := tx.Exec(`UPDATE inbox SET body = ? WHERE replica = ? AND start = ?`, sealed, q.Replica, int64(q.Start)); err != nil {
					return err
				}
			default:
				return fmt.Errorf("rewrite: queue %q is not rewritable", q.Queue)
			}
		}
		for _, k := range b.Forget {
			var err error
			switch k.Queue {
			case localstore.QueueSent:
				_, err = tx.Exec(`DELETE FROM sent WHERE start = ?`, int64(k.Start))
			case localstore.QueueQuarantine:
				_, err = tx.Exec(`DELETE FROM quarantine WHERE replica = ? AND start = ?`, k.Replica, int64(k.Start))
			default:
				err = fmt.Errorf("forget: queue %q is not forgettable", k.Queue)
			}
			if err != nil {
				return err
			}
		}
		if b.PruneSentBefore > 0 {
			if _, err := tx.Exec(`DELETE FROM sent WHERE acked < ?`, b.PruneSentBefore); err != nil {
				return err
			}
		}
		if b.Resend {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO outbox (start, bytes, created, body) SELECT start, length(body), acked, body FROM sent`); err != nil {
				return err
			}
		}
		for k, v := range b.Secrets {
			if err := s.setSecret(tx, k, v); err != nil {
				return err
			}
		}
		return setMetas(tx, b.Meta)
	})
	if err == nil && !self.IsZero() {
		s.self = self
	}
	if err == nil && b.Scrub {
		// Old WAL frames would still hold the sealed blobs.
		_, err = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return err
}

// Wipe makes the WAL's content part of the main file and truncates it (so
// nothing lingers in a -wal file a failed delete could leave), removes the
// database with its journals and checks none remains. The data were
// encrypted, so deleting the keystore key (the host's job, told by
// Listener.OnWiped) makes any copy unreadable too.
func (s sqliteLocal) Wipe() ([]string, error) {
	s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	if err := s.close(); err != nil {
		return nil, err
	}
	files := []string{s.path, s.path + "-wal", s.path + "-shm", s.path + "-journal"}
	removed := []string{}
	var errs []error
	for _, f := range files {
		err := os.Remove(f)
		switch {
		case err == nil:
			removed = append(removed, f[strings.LastIndexAny(f, `/\`)+1:])
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s remains", f))
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("wipe: %w", errors.Join(errs...))
	}
	return removed, nil
}

func (s sqliteLocal) Close() error { return s.close() }

// Find says Query in SQL over the plain index columns, so a list decrypts
// only the records it shows.
func (s sqliteLocal) Find(q localstore.Query) ([]*syncengine.Record, error) {
	from := `records r`
	var where []string
	var args []any
	if q.YoungPerson != "" {
		from = `links l JOIN records r ON r.id = l.record_id`
		where, args = append(where, `l.young_person_id = ?`), append(args, q.YoungPerson)
	}
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if q.Type != "" {
		add(`r.type = ?`, q.Type)
	}
	if q.Live {
		where = append(where, `r.deleted = 0`)
	}
	if q.StartedFrom != 0 || q.StartedTo != 0 {
		add(`r.started_at >= ?`, q.StartedFrom)
		add(`r.started_at < ?`, q.StartedTo)
	}
	if q.Assignee != "" {
		add(`r.assignee = ?`, q.Assignee)
	}
	if q.Status != "" {
		add(`r.status = ?`, q.Status)
	}
	if q.DueBefore != 0 {
		add(`r.due_at < ?`, q.DueBefore)
	}
	query := `SELECT r.id, r.state FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	switch q.Order {
	case localstore.ByUpdatedDesc:
		query += ` ORDER BY r.updated DESC, r.id`
	case localstore.ByStarted:
		query += ` ORDER BY r.started_at, r.id`
	case localstore.ByDue:
		query += ` ORDER BY r.due_at, r.id`
	case localstore.ByChronology:
		query += ` ORDER BY CASE r.type WHEN 'young_person' THEN 0 ELSE 1 END,
			CASE WHEN r.started_at > 0 THEN r.started_at WHEN r.due_at > 0 THEN r.due_at ELSE r.updated END, r.id`
	default:
		query += ` ORDER BY r.id`
	}
	return s.records(query, args...)
}
