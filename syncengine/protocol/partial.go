package protocol

import "github.com/joinedup/joinedup/syncengine"

// HeldPart is what a phone holding only part of its scope (a field-subset
// first sync, Response.Partial) applies of a pulled changeset: the ops on
// records it holds, and on records the changeset creates (their dep asks
// for nothing). Ops on an older record it never received are set aside:
// they could never apply (their context is that record's history), and
// would hold back the ops on its other records with them; when the phone
// fetches that record, the snapshot carries them. ok is false when nothing
// is left to apply.
func HeldPart(cs *syncengine.Changeset, holds func(syncengine.RecordID) bool) (part *syncengine.Changeset, ok bool) {
	keep := make(map[syncengine.RecordID]bool, len(cs.Deps))
	for _, d := range cs.Deps {
		keep[d.Record] = len(d.VV) == 0 || holds(d.Record)
	}
	return syncengine.RestrictChangeset(cs, func(id syncengine.RecordID) bool { return keep[id] })
}
