package domain

import "github.com/joinedup/joinedup/syncengine"

// Prefetched holds what a store's push transaction read ahead, in a few
// queries, for lookups its changesets would otherwise make one by one: per
// changeset key (K) the log's answer (L) and the device's open quarantine
// item (Q), per record whether the erasure ledger names it. A lookup whose
// answer was not read ahead (ok false) goes to the tables. The zero value
// has nothing read ahead; each store fills one in with its own SQL.
type Prefetched[K comparable, L, Q any] struct {
	known    map[K]bool // keys whose log and quarantine answers are below
	logged   map[K]L
	open     map[K]Q
	ledgered map[syncengine.RecordID]bool // nil: not prefetched
	ledgerOK map[syncengine.RecordID]bool // records whose ledger answer is in ledgered
}

// NewPrefetched is ready to be filled in.
func NewPrefetched[K comparable, L, Q any]() Prefetched[K, L, Q] {
	return Prefetched[K, L, Q]{known: map[K]bool{}, logged: map[K]L{}, open: map[K]Q{},
		ledgered: map[syncengine.RecordID]bool{}, ledgerOK: map[syncengine.RecordID]bool{}}
}

// AskChangeset notes that k's log and quarantine answers are being read
// ahead, reporting whether k is new (to be put in the queries).
func (p *Prefetched[K, L, Q]) AskChangeset(k K) bool {
	if p.known[k] {
		return false
	}
	p.known[k] = true
	return true
}

// AskRecord notes that id's ledger answer is being read ahead, reporting
// whether id is new.
func (p *Prefetched[K, L, Q]) AskRecord(id syncengine.RecordID) bool {
	if p.ledgerOK[id] {
		return false
	}
	p.ledgerOK[id] = true
	return true
}

// Found records what the queries found: the log's row for k.
func (p *Prefetched[K, L, Q]) FoundLogged(k K, l L) { p.logged[k] = l }

// FoundOpen records the open quarantine item found for k.
func (p *Prefetched[K, L, Q]) FoundOpen(k K, q Q) { p.open[k] = q }

// FoundLedgered records that the ledger names id as erased.
func (p *Prefetched[K, L, Q]) FoundLedgered(id syncengine.RecordID) { p.ledgered[id] = true }

// Logged is the log's answer for k if read ahead (ok false: ask the log).
func (p *Prefetched[K, L, Q]) Logged(k K) (l L, found, ok bool) {
	if !p.known[k] {
		return l, false, false
	}
	l, found = p.logged[k]
	return l, found, true
}

// Open is the open quarantine's answer for k if read ahead.
func (p *Prefetched[K, L, Q]) Open(k K) (q Q, found, ok bool) {
	if !p.known[k] {
		return q, false, false
	}
	q, found = p.open[k]
	return q, found, true
}

// Ledgered is whether the ledger names id as erased, if read ahead.
func (p *Prefetched[K, L, Q]) Ledgered(id syncengine.RecordID) (erased, ok bool) {
	if !p.ledgerOK[id] {
		return false, false
	}
	return p.ledgered[id], true
}

// NoteLogged notes a changeset the transaction appended to the log.
func (p *Prefetched[K, L, Q]) NoteLogged(k K, l L) {
	if p.known[k] {
		p.logged[k] = l
	}
}

// Forget makes k's lookups go to the tables again.
func (p *Prefetched[K, L, Q]) Forget(k K) { delete(p.known, k) }

// NoteLedgered notes a record the transaction wrote to the erasure ledger.
func (p *Prefetched[K, L, Q]) NoteLedgered(id syncengine.RecordID) {
	if p.ledgered != nil {
		p.ledgered[id], p.ledgerOK[id] = true, true
	}
}
