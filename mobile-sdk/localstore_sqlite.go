package mobilesdk

import (
	"database/sql"
	"os"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// sqliteLocal is the native phone's store seen through localstore.Store, the
// face it shares with the browser's IndexedDB store. It adds no behaviour:
// each method is the store's own path (Commit, outbox, putInbox, inbox...).
type sqliteLocal struct{ *store }

var _ localstore.Store = sqliteLocal{}

// openLocal opens the encrypted SQLite store at path as a localstore.Store.
func openLocal(path string, key []byte) (localstore.Store, error) {
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	st, err := openStore(path, seal, time.Now)
	if err != nil {
		return nil, err
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
	err := s.update(func(tx *sql.Tx) error {
		for k, v := range kv {
			if err := setMeta(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && !self.IsZero() {
		s.self = self
	}
	return err
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

// Acknowledge moves the saves to sent, as a sync round trip does, so a
// server restored from an older backup still gets them again.
func (s sqliteLocal) Acknowledge(starts []uint64) error {
	return s.update(func(tx *sql.Tx) error {
		for _, start := range starts {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO sent (start, acked, body) SELECT start, ?, body FROM outbox WHERE start = ?`,
				s.now().UnixMilli(), int64(start)); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM outbox WHERE start = ?`, int64(start)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s sqliteLocal) PutInbox(cs *syncengine.Changeset, frame []byte) error {
	return s.putInbox(s.db, cs, frame)
}

func (s sqliteLocal) Inbox() ([]*syncengine.Changeset, error) { return s.inbox() }

func (s sqliteLocal) Counts() (outbox, inbox int64, err error) {
	outbox, _, inbox, _, err = s.counts()
	return
}

// Wipe removes the database file and its journal; the native host deletes
// the key from the platform keystore (Listener.OnWiped).
func (s sqliteLocal) Wipe() error {
	if err := s.close(); err != nil {
		return err
	}
	for _, p := range []string{s.path, s.path + "-wal", s.path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func (s sqliteLocal) Close() error { return s.close() }

func (s sqliteLocal) Records(typ string) ([]*syncengine.Record, error) {
	return s.records(`SELECT id, state FROM records WHERE type = ? ORDER BY id`, typ)
}

func (s sqliteLocal) PutSnapshot(recs []*syncengine.Record) error {
	return s.update(func(tx *sql.Tx) error {
		for _, r := range recs {
			if err := s.putRecord(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}
