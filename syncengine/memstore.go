package syncengine

import (
	"sort"
	"sync"
)

// MemStore is an in-memory RecordStore with the history of changesets it
// committed. Tests, benchmarks and simulations use it; the server and the
// phone keep the same things in SQLite.
type MemStore struct {
	mu      sync.Mutex
	records map[RecordID]*Record
	log     []*Changeset
}

func NewMemStore() *MemStore { return &MemStore{records: map[RecordID]*Record{}} }

func (m *MemStore) Record(id RecordID) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records[id], nil
}

func (m *MemStore) Commit(cs *Changeset, recs []*Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.records[r.ID] = r
	}
	m.log = append(m.log, cs)
	return nil
}

// Records returns every record, sorted by id.
func (m *MemStore) Records() []*Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Record, 0, len(m.records))
	for _, r := range m.records {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Log returns the changesets committed, in commit order.
func (m *MemStore) Log() []*Changeset {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Changeset(nil), m.log...)
}

// Put stores a record state directly (loading a snapshot).
func (m *MemStore) Put(r *Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[r.ID] = r
}

// Compact drops from the log every changeset that every replica has
// acknowledged (covered by stable), and the content of deleted text, which
// can never be shown again. The records already fold those changesets in,
// so a replica that starts from a snapshot converges with one that kept the
// whole history. It returns how many changesets were dropped.
func (m *MemStore) Compact(stable VV) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.log[:0]
	for _, cs := range m.log {
		if stable.Get(cs.Replica) < cs.End() {
			kept = append(kept, cs)
		}
	}
	n := len(m.log) - len(kept)
	for i := len(kept); i < len(m.log); i++ {
		m.log[i] = nil
	}
	m.log = kept
	// A new state for each record: the stored one may be shared with a
	// save in progress, which copies only what it changes.
	for id, r := range m.records {
		c := r.cow()
		c.PurgeDeletedText()
		m.records[id] = c
	}
	return n
}

// Erase redacts the stored history of erased records.
func (m *MemStore) RedactHistory(erased func(RecordID) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for i, cs := range m.log {
		if out, ok := RedactChangeset(cs, erased); ok {
			m.log[i] = out
			n++
		}
	}
	return n
}

// Drop forgets records that left this replica's scope (the server said so).
// Their changesets stay in the log; if a record comes back it arrives as a
// snapshot, and duplicates are decided per record.
func (m *MemStore) Drop(ids ...RecordID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.records, id)
	}
}
