//go:build !js

package mobilesdk

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
	_ "github.com/mattn/go-sqlite3" // the phone's database
)

// schema is the phone's database. Record states, outbox and inbox bodies are
// AES-GCM blobs; the plain columns hold only ids, types, times and statuses
// that the UI's lists filter and sort on (never text a person typed).
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (
	id              TEXT PRIMARY KEY,
	type            TEXT NOT NULL,
	team_id         TEXT NOT NULL DEFAULT '',
	young_person_id TEXT NOT NULL DEFAULT '',
	started_at      INTEGER NOT NULL DEFAULT 0, -- encounters: unix ms
	due_at          INTEGER NOT NULL DEFAULT 0, -- follow-ups: unix ms
	assignee        TEXT NOT NULL DEFAULT '',
	status          TEXT NOT NULL DEFAULT '',
	deleted         INTEGER NOT NULL DEFAULT 0,
	conflicts       INTEGER NOT NULL DEFAULT 0,
	updated         INTEGER NOT NULL DEFAULT 0, -- unix ms of the last change applied
	state           BLOB NOT NULL               -- sealed syncengine.EncodeRecord
);
CREATE INDEX IF NOT EXISTS records_encounters ON records (type, started_at);
CREATE INDEX IF NOT EXISTS records_followups ON records (type, assignee, status, due_at);
-- which records concern which young person: their chronology.
CREATE TABLE IF NOT EXISTS links (
	young_person_id TEXT NOT NULL,
	record_id       TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
	PRIMARY KEY (young_person_id, record_id)
);
CREATE INDEX IF NOT EXISTS links_record ON links (record_id);
-- local saves not yet acknowledged by the server, in counter order.
CREATE TABLE IF NOT EXISTS outbox (
	start   INTEGER PRIMARY KEY,
	bytes   INTEGER NOT NULL,
	created INTEGER NOT NULL,
	body    BLOB NOT NULL -- sealed JUC1 frame
);
-- changesets received whose dependencies are not here yet (or that were
-- received just before the app died): applied at the next chance.
CREATE TABLE IF NOT EXISTS inbox (
	replica TEXT NOT NULL,
	start   INTEGER NOT NULL,
	body    BLOB NOT NULL,
	PRIMARY KEY (replica, start)
);
-- our changesets the server acknowledged, kept for keepSent: if the server
-- is ever restored from a backup that predates them, they are sent again.
CREATE TABLE IF NOT EXISTS sent (
	start INTEGER PRIMARY KEY,
	acked INTEGER NOT NULL,
	body  BLOB NOT NULL -- sealed JUC1 frame, as it was in the outbox
);
-- our changesets the server refused (kept with its reason), and received
-- changesets that could never apply here.
CREATE TABLE IF NOT EXISTS quarantine (
	replica   TEXT NOT NULL,
	start     INTEGER NOT NULL,
	direction TEXT NOT NULL, -- 'push' or 'pull'
	code      TEXT NOT NULL,
	message   TEXT NOT NULL,
	at        INTEGER NOT NULL,
	body      BLOB NOT NULL,
	PRIMARY KEY (replica, start)
);
`

const schemaVersion = 1

// store is the phone's syncengine.RecordStore: one SQLite file in WAL mode
// with synchronous=FULL, so a save that returned survives kill -9 and power
// loss. It uses one connection: a phone has one writer, and it keeps the
// tx-inside-query deadlocks of a pool impossible to hit by accident.
type store struct {
	db   *sql.DB
	path string
	seal *sealer
	now  func() time.Time
	self syncengine.ReplicaID // zero until enrolled

	bmu   sync.Mutex
	batch *sql.Tx // while applying a pulled page: every commit goes here, one fsync for the page

	// states keeps decoded record states by their sealed bytes: typing
	// into a long note neither opens nor decodes it again per keystroke.
	states *syncengine.StateCache
}

var _ syncengine.RecordStore = (*store)(nil)

func openStore(path string, seal *sealer, now func() time.Time) (*store, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_secure_delete", "on") // deleted pages are zeroed, not left in the file
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open local database: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &store{db: db, path: path, seal: seal, now: now, states: syncengine.NewStateCache(8 << 20)}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if v, err := s.metaString("replica_id"); err != nil {
		db.Close()
		return nil, err
	} else if v != "" {
		if s.self, err = syncengine.ParseReplicaID(v); err != nil {
			db.Close()
			return nil, syncengine.Errorf(ECORRUPT, "open", "stored replica id is not valid")
		}
	}
	if err := s.checkKey(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v == schemaVersion {
		return nil
	}
	if v > schemaVersion {
		return syncengine.Errorf(ECORRUPT, "open", "local database is from a newer app (schema %d)", v)
	}
	return s.update(func(tx *sql.Tx) error {
		if _, err := tx.Exec(schema); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		_, err := tx.Exec(`PRAGMA user_version = ` + strconv.Itoa(schemaVersion))
		return err
	})
}

// checkKey makes sure the key opens this database: a key canary is written
// on first open and must decrypt afterwards, so a wrong key fails at Open,
// not halfway through a sync.
func (s *store) checkKey() error {
	return s.update(func(tx *sql.Tx) error {
		var blob []byte
		err := tx.QueryRow(`SELECT value FROM meta WHERE key = 'key_check'`).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) {
			b, err := s.seal.seal("meta:key_check", []byte("joinedup"))
			if err != nil {
				return err
			}
			_, err = tx.Exec(`INSERT INTO meta (key, value) VALUES ('key_check', ?)`, b)
			return err
		} else if err != nil {
			return err
		}
		_, err = s.seal.open("meta:key_check", blob)
		return err
	})
}

func (s *store) close() error { return s.db.Close() }

// q is where reads and commits go: the open batch, or the database.
func (s *store) q() querier {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if s.batch != nil {
		return s.batch
	}
	return s.db
}

// inBatch runs fn with every Commit going into one transaction, committed at
// the end: applying a page of N changesets costs one fsync, not N. If fn
// fails nothing of it is stored (the inbox still holds the changesets).
func (s *store) inBatch(fn func() error) error {
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	s.bmu.Lock()
	s.batch = tx
	s.bmu.Unlock()
	err = fn()
	s.bmu.Lock()
	s.batch = nil
	s.bmu.Unlock()
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// write runs fn in the open batch, or in a transaction of its own.
func (s *store) write(fn func(tx *sql.Tx) error) error {
	s.bmu.Lock()
	b := s.batch
	s.bmu.Unlock()
	if b != nil {
		return fn(b)
	}
	return s.update(fn)
}

// update runs fn in one write transaction.
func (s *store) update(fn func(tx *sql.Tx) error) error {
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	Exec(query string, args ...any) (sql.Result, error)
	Query(query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
}

// ---- meta ----

func getMeta(q querier, key string) (string, error) {
	var v []byte
	err := q.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return string(v), err
}

func setMeta(q querier, key, value string) error {
	_, err := q.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, []byte(value))
	return err
}

func getMetaInt(q querier, key string) (int64, error) {
	v, err := getMeta(q, key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, syncengine.Errorf(ECORRUPT, "read meta", "meta %s is not a number", key)
	}
	return n, nil
}

func setMetaInt(q querier, key string, v int64) error {
	return setMeta(q, key, strconv.FormatInt(v, 10))
}

// raiseMetaInt stores v if it is larger than what is stored.
func raiseMetaInt(q querier, key string, v int64) error {
	old, err := getMetaInt(q, key)
	if err != nil || v <= old {
		return err
	}
	return setMetaInt(q, key, v)
}

func (s *store) metaString(key string) (string, error) { return getMeta(s.db, key) }

// secret metadata (the device credential) is sealed like records.
func (s *store) getSecret(q querier, key string) (string, error) {
	v, err := getMeta(q, key)
	if err != nil || v == "" {
		return "", err
	}
	b, err := s.seal.open("meta:"+key, []byte(v))
	return string(b), err
}

func (s *store) setSecret(q querier, key, value string) error {
	b, err := s.seal.seal("meta:"+key, []byte(value))
	if err != nil {
		return err
	}
	return setMeta(q, key, string(b))
}

// ---- records ----

// Record implements syncengine.RecordStore.
func (s *store) Record(id syncengine.RecordID) (*syncengine.Record, error) {
	return s.record(s.q(), id)
}

func (s *store) record(q querier, id syncengine.RecordID) (*syncengine.Record, error) {
	var blob []byte
	err := q.QueryRow(`SELECT state FROM records WHERE id = ?`, string(id)).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return s.decodeRecord(id, blob)
}

func (s *store) decodeRecord(id syncengine.RecordID, blob []byte) (*syncengine.Record, error) {
	if r := s.states.Get(id, blob); r != nil {
		return r, nil
	}
	plain, err := s.seal.open("rec:"+string(id), blob)
	if err != nil {
		return nil, err
	}
	r, err := syncengine.DecodeRecord(plain)
	if err != nil {
		return nil, syncengine.Errorf(ECORRUPT, "read record", "stored record %s does not decode", id)
	}
	s.states.Put(id, blob, r)
	return r, nil
}

// Commit implements syncengine.RecordStore: the new record states, and for a
// local save the outbox entry and the replica's counter, in one transaction.
// When a save returns it is on disk, queued for the server.
func (s *store) Commit(cs *syncengine.Changeset, recs []*syncengine.Record) error {
	return s.write(func(tx *sql.Tx) error { return s.commitTx(tx, cs, recs) })
}

func (s *store) commitTx(tx *sql.Tx, cs *syncengine.Changeset, recs []*syncengine.Record) error {
	for _, r := range recs {
		if err := s.putRecord(tx, r); err != nil {
			return err
		}
	}
	if !s.self.IsZero() && cs.Replica == s.self {
		counter, err := getMetaInt(tx, "counter")
		if err != nil {
			return err
		}
		if int64(cs.End()) > counter {
			// A new local save: queue it. (Our own older changesets replayed
			// over a snapshot are already queued.)
			body, err := s.seal.seal(outboxAD(cs.Start), syncengine.EncodeChangeset(cs))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO outbox (start, bytes, created, body) VALUES (?, ?, ?, ?)`,
				int64(cs.Start), len(body), s.now().UnixMilli(), body); err != nil {
				return fmt.Errorf("queue changeset: %w", err)
			}
			if err := setMetaInt(tx, "counter", int64(cs.End())); err != nil {
				return err
			}
		}
	} else {
		if _, err := tx.Exec(`DELETE FROM inbox WHERE replica = ? AND start = ?`, cs.Replica.String(), int64(cs.Start)); err != nil {
			return err
		}
	}
	return raiseMetaInt(tx, "hlc", int64(cs.Time))
}

func outboxAD(start uint64) string { return "out:" + strconv.FormatUint(start, 10) }
func inboxAD(replica string, start uint64) string {
	return "in:" + replica + ":" + strconv.FormatUint(start, 10)
}

// putRecord stores a record state and refreshes its index columns and links.
func (s *store) putRecord(q querier, r *syncengine.Record) error {
	blob, err := s.seal.seal("rec:"+string(r.ID), syncengine.EncodeRecord(r))
	if err != nil {
		return err
	}
	s.states.Put(r.ID, blob, r)
	ix := localstore.IndexOf(r, func(id syncengine.RecordID) string {
		var team string
		_ = q.QueryRow(`SELECT team_id FROM records WHERE id = ?`, string(id)).Scan(&team)
		return team
	})
	if _, err := q.Exec(`INSERT INTO records (id, type, team_id, young_person_id, started_at, due_at, assignee, status, deleted, conflicts, updated, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, team_id = excluded.team_id, young_person_id = excluded.young_person_id,
			started_at = excluded.started_at, due_at = excluded.due_at, assignee = excluded.assignee, status = excluded.status,
			deleted = excluded.deleted, conflicts = excluded.conflicts, updated = excluded.updated, state = excluded.state`,
		string(r.ID), r.Type, ix.Team, ix.YoungPerson, ix.Started, ix.Due, ix.Assignee, ix.Status, ix.Deleted,
		ix.Conflicts, ix.Updated, blob); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	if _, err := q.Exec(`DELETE FROM links WHERE record_id = ?`, string(r.ID)); err != nil {
		return err
	}
	for _, yp := range ix.Links {
		if _, err := q.Exec(`INSERT OR IGNORE INTO links (young_person_id, record_id) VALUES (?, ?)`, yp, string(r.ID)); err != nil {
			return err
		}
	}
	return nil
}

// records runs a query selecting (id, state) and decodes the results.
func (s *store) records(query string, args ...any) ([]*syncengine.Record, error) {
	type row struct {
		id   string
		blob []byte
	}
	rows, err := s.db.Query(query, args...)
	got, err := collect(rows, err, func(r *sql.Rows) (x row, err error) { return x, r.Scan(&x.id, &x.blob) })
	if err != nil {
		return nil, fmt.Errorf("query records: %w", err)
	}
	out := make([]*syncengine.Record, 0, len(got))
	for _, r := range got {
		rec, err := s.decodeRecord(syncengine.RecordID(r.id), r.blob)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// ---- outbox, inbox, quarantine ----

type outboxEntry struct {
	start uint64
	bytes int
	body  []byte // JUC1 frame, decrypted
}

// outbox returns queued changesets in counter order, up to maxBytes (at least one).
func (s *store) outbox(q querier, maxBytes int) ([]outboxEntry, error) {
	rows, err := q.Query(`SELECT start, body FROM outbox ORDER BY start`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxEntry
	size := 0
	for rows.Next() {
		var start int64
		var blob []byte
		if err := rows.Scan(&start, &blob); err != nil {
			return nil, err
		}
		body, err := s.seal.open(outboxAD(uint64(start)), blob)
		if err != nil {
			return nil, err
		}
		if maxBytes > 0 && len(out) > 0 && size+len(body) > maxBytes {
			break
		}
		out = append(out, outboxEntry{start: uint64(start), bytes: len(body), body: body})
		size += len(body)
	}
	return out, rows.Err()
}

func (s *store) putInbox(q querier, cs *syncengine.Changeset, frame []byte) error {
	blob, err := s.seal.seal(inboxAD(cs.Replica.String(), cs.Start), frame)
	if err != nil {
		return err
	}
	_, err = q.Exec(`INSERT OR IGNORE INTO inbox (replica, start, body) VALUES (?, ?, ?)`, cs.Replica.String(), int64(cs.Start), blob)
	return err
}

// inbox returns held changesets, by replica then counter (each replica's
// changesets in the order it made them).
func (s *store) inbox() ([]*syncengine.Changeset, error) {
	type row struct {
		replica string
		start   int64
		blob    []byte
	}
	rows, err := s.db.Query(`SELECT replica, start, body FROM inbox ORDER BY replica, start`)
	got, err := collect(rows, err, func(r *sql.Rows) (x row, err error) { return x, r.Scan(&x.replica, &x.start, &x.blob) })
	if err != nil {
		return nil, err
	}
	var out []*syncengine.Changeset
	for _, r := range got {
		body, err := s.seal.open(inboxAD(r.replica, uint64(r.start)), r.blob)
		if err != nil {
			return nil, err
		}
		cs, err := syncengine.DecodeChangeset(body)
		if err != nil {
			if err := s.quarantine(s.db, r.replica, uint64(r.start), "pull", syncengine.EMALFORMED, "received changeset does not decode", r.blob); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, cs)
	}
	return out, nil
}

// quarantine keeps a changeset out of the way with its reason. blob is
// already sealed (outbox or inbox body); it is re-sealed for its new row.
func (s *store) quarantine(q querier, replica string, start uint64, direction, code, message string, sealed []byte) error {
	_, err := q.Exec(`INSERT INTO quarantine (replica, start, direction, code, message, at, body) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (replica, start) DO UPDATE SET code = excluded.code, message = excluded.message, at = excluded.at`,
		replica, int64(start), direction, code, message, s.now().UnixMilli(), sealed)
	return err
}

func (s *store) counts() (outbox, outboxBytes, inbox, quarantined int64, err error) {
	err = s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM outbox), (SELECT COALESCE(SUM(bytes), 0) FROM outbox),
		(SELECT COUNT(*) FROM inbox), (SELECT COUNT(*) FROM quarantine)`).Scan(&outbox, &outboxBytes, &inbox, &quarantined)
	return
}
