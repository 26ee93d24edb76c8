// Package localstore declares what a phone keeps between runs, so the same
// SDK logic can sit on two stores: the encrypted SQLite file of the native
// apps (package mobilesdk) and IndexedDB in the browser (package
// localstore/idb, GOOS=js). Both are held to one conformance suite,
// localstore/localstoretest.
package localstore

import "github.com/joinedup/joinedup/syncengine"

// Store is a phone's local state. Everything a person typed is sealed with
// AES-GCM at rest, bound to its row; only ids, counters and cursors are plain.
//
// Commit (from syncengine.RecordStore) is the one write path of the engine:
// the new record states and, for a save of this phone's own replica that is
// newer than its counter, the outbox entry and the counter, atomically. A
// changeset of another replica leaves the inbox when it commits.
type Store interface {
	syncengine.RecordStore

	// Records returns the records of one type (for the app's lists).
	Records(typ string) ([]*syncengine.Record, error)
	// PutSnapshot stores record states the server sent whole (a first sync,
	// a reset): not a changeset, so nothing is queued or taken off the inbox.
	PutSnapshot(recs []*syncengine.Record) error

	// Meta returns a plain value ("" when unset): replica_id, cursor,
	// counter, hlc, server_url, last_synced... Setting replica_id tells the
	// store which changesets are this phone's own.
	Meta(key string) (string, error)
	// SetMeta stores every pair in one transaction.
	SetMeta(kv map[string]string) error
	// Secret and SetSecret are meta values sealed at rest (the credential).
	Secret(key string) (string, error)
	SetSecret(key, value string) error

	// Outbox returns queued saves in counter order, up to maxBytes of
	// frames but always at least one (maxBytes <= 0: all).
	Outbox(maxBytes int) ([]Entry, error)
	// Acknowledge takes saves the server answered off the outbox.
	Acknowledge(starts []uint64) error
	// PutInbox holds a received changeset (its JUC1 frame) until it
	// applies; holding the same one twice keeps one.
	PutInbox(cs *syncengine.Changeset, frame []byte) error
	// Inbox returns held changesets, by replica then counter.
	Inbox() ([]*syncengine.Changeset, error)
	// Counts is for the sync status screen.
	Counts() (outbox, inbox int64, err error)

	// Wipe destroys everything, the at-rest key included, and closes.
	Wipe() error
	Close() error
}

// Entry is one queued save: its first counter and its JUC1 frame, decrypted.
type Entry struct {
	Start uint64
	Body  []byte
}
