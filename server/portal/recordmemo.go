package portal

import (
	"sync"
	"weak"

	"github.com/joinedup/joinedup/syncengine"
)

// recordMemo remembers what conflictFields found for a record. The store
// hands out the same decoded record until it changes (a change is a new
// record), so the record itself is the key and an entry is never stale; the
// dashboard no longer runs the validator over every record on each request.
// Keys are weak: the memo never keeps a record alive (a store that decodes
// afresh on every read only fills it, and it is emptied at recordMemoMax).
type recordMemo struct {
	mu sync.Mutex
	m  map[weak.Pointer[syncengine.Record]][]string
}

// recordMemoMax bounds the memo: past it, it starts again empty.
const recordMemoMax = 100_000

func (p *Portal) conflictFields(r *syncengine.Record) []string {
	m, k := &p.conflicts, weak.Make(r)
	m.mu.Lock()
	fs, ok := m.m[k]
	m.mu.Unlock()
	if ok {
		return fs
	}
	fs = conflictFields(r)
	m.mu.Lock()
	if m.m == nil || len(m.m) >= recordMemoMax {
		m.m = map[weak.Pointer[syncengine.Record]][]string{}
	}
	m.m[k] = fs
	m.mu.Unlock()
	return fs
}
