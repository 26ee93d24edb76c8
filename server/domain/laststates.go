package domain

import "github.com/joinedup/joinedup/syncengine"

// LastStates keeps, per record, the last value put for it, in the order
// records were first put: what a store's transaction defers until the end
// of its changesets (the search queue, the records materialised once per
// request) is written once per record, in its last state, in a
// deterministic order. Both stores use it.
type LastStates[V any] struct {
	m     map[syncengine.RecordID]V
	order []syncengine.RecordID
}

// Put keeps v as id's last value.
func (l *LastStates[V]) Put(id syncengine.RecordID, v V) {
	if l.m == nil {
		l.m = map[syncengine.RecordID]V{}
	}
	if _, ok := l.m[id]; !ok {
		l.order = append(l.order, id)
	}
	l.m[id] = v
}

// Values are the last values, in first-put order.
func (l *LastStates[V]) Values() []V {
	out := make([]V, len(l.order))
	for i, id := range l.order {
		out[i] = l.m[id]
	}
	return out
}
