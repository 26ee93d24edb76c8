package syncengine

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// RecordStore is where a Replica keeps its records. Commit stores a changeset
// and the new states of the records it touched, atomically.
type RecordStore interface {
	Record(id RecordID) (*Record, error)
	Commit(cs *Changeset, records []*Record) error
}

// Replica is one participant in sync: a phone or the server. It applies
// changesets from others (holding back those that arrive before what they
// depend on) and makes changesets from local edits.
type Replica struct {
	mu       sync.Mutex
	id       ReplicaID
	clock    *HLC
	rand     io.Reader
	store    RecordStore
	counter  uint64 // last counter value used by this replica
	pending  map[Key]*Changeset
	rejected map[Key]*Rejection
}

// Rejection is a changeset that was held for its dependencies and then
// failed to apply, with the reason.
type Rejection struct {
	Changeset *Changeset
	Err       error
}

// Config holds what a replica needs from outside: no hidden clocks or randomness.
type Config struct {
	ID      ReplicaID
	Now     func() time.Time
	Rand    io.Reader // for record ids
	Store   RecordStore
	Counter uint64    // last counter used, as persisted
	Clock   Timestamp // last HLC reading, as persisted
}

// NewReplica returns a replica over a store.
func NewReplica(c Config) (*Replica, error) {
	if c.ID.IsZero() || c.Now == nil || c.Rand == nil || c.Store == nil {
		return nil, fmt.Errorf("new replica: id, now, rand and store are required")
	}
	r := &Replica{id: c.ID, clock: NewHLC(c.Now), rand: c.Rand, store: c.Store, counter: c.Counter, pending: map[Key]*Changeset{}, rejected: map[Key]*Rejection{}}
	r.clock.Observe(c.Clock)
	return r, nil
}

func (r *Replica) ID() ReplicaID { return r.id }

// Counter returns the last counter value used (to persist).
func (r *Replica) Counter() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counter
}

// Clock returns the replica's hybrid logical clock.
func (r *Replica) Clock() *HLC { return r.clock }

// Record returns the current state of a record (nil if unknown). Do not modify it.
func (r *Replica) Record(id RecordID) (*Record, error) { return r.store.Record(id) }

// Apply applies a changeset received from elsewhere. A changeset whose
// dependencies are missing is held and applied as soon as they arrive;
// duplicates are ignored. Applying is idempotent, commutative and associative.
func (r *Replica) Apply(cs *Changeset) (ApplyStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.apply(cs)
	if err != nil || st != Applied {
		return st, err
	}
	// Anything held back may now be ready; loop until nothing moves.
	for moved := true; moved; {
		moved = false
		for _, k := range r.pendingKeys() {
			p := r.pending[k]
			s, err := r.apply(p)
			if err != nil {
				// Its dependencies arrived but it still does not apply: it
				// is kept, with the reason, for the caller to surface
				// (Rejected), never silently dropped.
				delete(r.pending, k)
				r.rejected[k] = &Rejection{Changeset: p, Err: err}
				continue
			}
			if s != Pending {
				delete(r.pending, k)
				moved = moved || s == Applied
			}
		}
	}
	return st, nil
}

func (r *Replica) pendingKeys() []Key { return sortKeys(r.pending) }

// sortKeys returns a map's changeset keys in (replica, start) order.
func sortKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := keys[i].Replica.Compare(keys[j].Replica); c != 0 {
			return c < 0
		}
		return keys[i].Start < keys[j].Start
	})
	return keys
}

func (r *Replica) apply(cs *Changeset) (ApplyStatus, error) {
	res, err := Apply(cs, r.store.Record)
	if err != nil {
		return 0, fmt.Errorf("apply changeset %s/%d: %w", cs.Replica, cs.Start, err)
	}
	switch res.Status {
	case Pending:
		r.pending[cs.Key()] = cs
		return Pending, nil
	case Duplicate:
		return Duplicate, nil
	}
	if err := r.store.Commit(cs, res.Records); err != nil {
		return 0, fmt.Errorf("commit changeset %s/%d: %w", cs.Replica, cs.Start, err)
	}
	r.clock.Observe(cs.Time)
	if cs.Replica == r.id && cs.End() > r.counter {
		// Our own changeset coming back (restored from a backup or the server).
		r.counter = cs.End()
	}
	return Applied, nil
}

// Rejected returns the changesets that were held for their dependencies and
// then failed to apply, in key order.
func (r *Replica) Rejected() []*Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Rejection
	for _, k := range sortKeys(r.rejected) {
		out = append(out, r.rejected[k])
	}
	return out
}

// PendingCount is how many changesets are waiting for their dependencies.
func (r *Replica) PendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Edit runs fn in a local transaction: one save, one changeset. If fn returns
// an error, or the result breaks a domain rule, nothing is stored.
func (r *Replica) Edit(author string, fn func(*Txn) error) (*Changeset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tx := &Txn{r: r, cs: &Changeset{Replica: r.id, Start: r.counter + 1, Time: r.clock.Now(), Author: author},
		recs: map[RecordID]*Record{}, before: map[RecordID]*Record{}}
	tx.next = tx.cs.Start
	if err := fn(tx); err != nil {
		return nil, err
	}
	cs, recs, err := tx.finish()
	if err != nil {
		return nil, err
	}
	if err := r.store.Commit(cs, recs); err != nil {
		return nil, fmt.Errorf("commit local edit: %w", err)
	}
	r.counter = cs.End()
	return cs, nil
}
