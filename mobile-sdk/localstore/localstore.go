// Package localstore declares what a phone keeps between runs, so the one
// SDK client (package mobilesdk, its sync loop included) can sit on two
// stores: the encrypted SQLite file of the native apps and IndexedDB in the
// browser (package localstore/idb, GOOS=js). Both are held to one
// conformance suite, localstore/localstoretest.
package localstore

import (
	"github.com/joinedup/joinedup/syncengine"
)

// Store is a phone's local state. Everything a person typed is sealed with
// AES-GCM at rest, bound to its row; only ids, counters and cursors are plain.
//
// Commit (from syncengine.RecordStore) is the engine's write path: the new
// record states and, for a save of this phone's own replica that is newer
// than its counter, the outbox entry and the counter, atomically. A
// changeset of another replica leaves the inbox when it commits. Write is
// the sync's write path: one response stored whole, or not at all.
//
// The client reads, decides, then writes one Batch; it holds its own locks
// so that nothing else writes in between (a phone has one writer).
type Store interface {
	syncengine.RecordStore

	// Find returns the records q selects, in q.Order.
	Find(q Query) ([]*syncengine.Record, error)

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
	// Inbox returns held changesets, by replica then counter. One that does
	// not decode is moved to quarantine instead.
	Inbox() ([]*syncengine.Changeset, error)
	// Queued returns every changeset the phone keeps besides records:
	// outbox, inbox, sent and quarantine (for purges and releases). A
	// body that does not decode has a nil Changeset.
	Queued() ([]Queued, error)
	// Quarantined lists refused changesets, oldest first.
	Quarantined() ([]Quarantined, error)
	// Counts is for the sync status screen.
	Counts() (Counts, error)

	// Write stores b in one transaction.
	Write(b *Batch) error
	// Batch runs fn with every Commit inside it made durable together (one
	// fsync for a page of changesets where the store can; if fn fails,
	// nothing of it is kept and the inbox still holds the changesets).
	Batch(fn func() error) error

	// Wipe destroys everything, the at-rest key included, closes, checks
	// nothing is left and says what it removed.
	Wipe() (removed []string, err error)
	Close() error
}

// Entry is one queued save: its first counter and its JUC1 frame, decrypted.
type Entry struct {
	Start uint64
	Body  []byte
}

// Queues a changeset can be kept in.
const (
	QueueOutbox     = "outbox"     // this phone's saves the server has not acknowledged
	QueueInbox      = "inbox"      // received, not applied yet
	QueueSent       = "sent"       // acknowledged, kept to send again after a server restore
	QueueQuarantine = "quarantine" // refused: ours by the server (push), or theirs here (pull)
)

// Key names one kept changeset. Replica is empty for this phone's own
// outbox and sent entries.
type Key struct {
	Queue   string
	Replica string
	Start   uint64
}

// Queued is one kept changeset.
type Queued struct {
	Key
	Direction string                // quarantine: "push" or "pull"
	Changeset *syncengine.Changeset // nil: the body does not decode
}

// Quarantined is a refused changeset and why.
type Quarantined struct {
	Replica   string `json:"replica"`
	Start     int64  `json:"start"`
	Direction string `json:"direction"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	At        int64  `json:"at_ms"`
}

// Counts are the sizes of the queues.
type Counts struct {
	Outbox      int64
	OutboxBytes int64
	Inbox       int64
	Quarantined int64
	// SentOnly: acknowledged saves no longer in the outbox (they count as
	// unsynced while the server refuses this phone's credential).
	SentOnly int64
	Records  int64
}

// Refusal moves an outbox entry (direction push) or an inbox entry
// (direction pull) to quarantine with its reason.
type Refusal struct {
	Key
	Code, Message string
}

// Batch is one atomic write, applied in field order.
type Batch struct {
	At int64 // unix ms: when acknowledged or refused

	// Reset removes every record and held changeset first (a snapshot follows).
	Reset bool
	// Ack moves saves from the outbox to sent.
	Ack []uint64
	// Refuse moves changesets to quarantine.
	Refuse []Refusal
	// Release takes changesets off quarantine (Key.Queue is ignored).
	Release []Key
	// Drop deletes records the phone may no longer hold.
	Drop []syncengine.RecordID
	// Put stores record states (snapshots, replays, purges): nothing is
	// queued or taken off the inbox.
	Put []*syncengine.Record
	// Hold puts received changesets in the inbox; holding one twice keeps one.
	Hold []*syncengine.Changeset
	// Unhold takes changesets off the inbox (already applied: duplicates).
	Unhold []Key
	// Rewrite replaces the bodies of outbox and inbox entries (purges).
	Rewrite []Queued
	// Forget deletes sent and quarantine entries (purges).
	Forget []Key
	// PruneSentBefore deletes sent entries acknowledged before it (unix ms).
	PruneSentBefore int64
	// Resend puts every sent entry back in the outbox.
	Resend bool
	// Scrub: what this batch overwrites or deletes must not linger in the
	// store's journals afterwards (a purge of erased data).
	Scrub bool
	// Meta is stored last, with Secrets (sealed like SetSecret).
	Meta    map[string]string
	Secrets map[string]string
}

// Acknowledge takes saves the server answered off the outbox.
func Acknowledge(s Store, at int64, starts ...uint64) error {
	return s.Write(&Batch{At: at, Ack: starts})
}
