package syncengine

import (
	"bytes"
	"container/list"
	"sync"
)

// StateCache keeps decoded record states, so that a record read again (the
// next keystroke's save, the next push to a long-edited note) is not decoded
// again: decoding a note costs what the note holds, every time. A state is
// kept with the stored bytes it came from (an encoding, or a sealed blob)
// and handed out only for exactly those bytes, so a cache that missed a
// write, or kept one whose transaction rolled back, is never wrong, only
// missed. It is bounded by the bytes it keeps, least recently used first out.
//
// Each caller gets its own working copy (Record.cow: its own field map,
// sharing the fields, which no record owns once kept, so a change through
// the record's methods copies the field first). Callers must not change a
// field's insides directly.
type StateCache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	ll       *list.List
	items    map[RecordID]*list.Element
}

type stateEntry struct {
	id     RecordID
	stored []byte
	rec    *Record
}

// NewStateCache returns a cache keeping at most maxBytes of stored bytes
// (and the decoded states behind them, which take a few times that).
func NewStateCache(maxBytes int) *StateCache {
	return &StateCache{maxBytes: maxBytes, ll: list.New(), items: map[RecordID]*list.Element{}}
}

// Get returns the state kept for id with exactly these stored bytes, or nil.
func (c *StateCache) Get(id RecordID, stored []byte) *Record {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[id]
	if el == nil {
		return nil
	}
	e := el.Value.(*stateEntry)
	if !bytes.Equal(e.stored, stored) {
		return nil
	}
	c.ll.MoveToFront(el)
	return e.rec.cow()
}

// Put keeps rec as the state stored decodes to. stored is kept, not copied:
// the caller must not change it afterwards. rec's fields are frozen:
// rec (like every other record sharing them) copies a field before changing
// it from now on.
func (c *StateCache) Put(id RecordID, stored []byte, rec *Record) {
	if c == nil || rec == nil || len(stored) > c.maxBytes/4 {
		// One huge record would push out everything else.
		return
	}
	rec.freeze()
	rec = rec.cow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[id]; el != nil {
		c.remove(el)
	}
	c.items[id] = c.ll.PushFront(&stateEntry{id: id, stored: stored, rec: rec})
	c.bytes += len(stored)
	for c.bytes > c.maxBytes {
		c.remove(c.ll.Back())
	}
}

func (c *StateCache) remove(el *list.Element) {
	e := el.Value.(*stateEntry)
	c.ll.Remove(el)
	delete(c.items, e.id)
	c.bytes -= len(e.stored)
}

// Forget drops what is kept for id (a record erased or dropped).
func (c *StateCache) Forget(id RecordID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[id]; el != nil {
		c.remove(el)
	}
}

// DecodeRecord decodes an encoded record state (EncodeRecord's bytes)
// through the cache.
func (c *StateCache) DecodeRecord(id RecordID, state []byte) (*Record, error) {
	if r := c.Get(id, state); r != nil {
		return r, nil
	}
	r, err := DecodeRecord(state)
	if err != nil {
		return nil, err
	}
	c.Put(id, state, r)
	return r, nil
}
