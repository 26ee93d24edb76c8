package domain

import "github.com/joinedup/joinedup/syncengine"

// TextCompactions is what a store's push transaction knows of its records'
// text compaction (docs/architecture.md, "History compaction and
// tombstones"): per record looked up, C (the version vector its text was
// last compacted at, which every push of text to it needs) and, only when a
// push names dropped text, the whole syncengine.TextCompaction. Most stores
// and most records were never compacted: one look (Any) answers for them.
// Each store fills in the two reads in its own SQL; the zero value with
// them set is ready, for one transaction.
type TextCompactions struct {
	// Any reports whether any record's text was ever compacted.
	Any func() (bool, error)
	// Read returns a record's stored state (nil if never compacted): C
	// alone, or with whole the TextCompaction.
	Read func(id syncengine.RecordID, whole bool) (*syncengine.TextCompaction, error)

	looked, none bool
	at           map[syncengine.RecordID]syncengine.VV
	comp         map[syncengine.RecordID]*syncengine.TextCompaction
}

func (t *TextCompactions) some() (bool, error) {
	if !t.looked {
		any, err := t.Any()
		if err != nil {
			return false, err
		}
		t.looked, t.none = true, !any
		t.at = map[syncengine.RecordID]syncengine.VV{}
		t.comp = map[syncengine.RecordID]*syncengine.TextCompaction{}
	}
	return !t.none, nil
}

// At returns C for id, nil if its text was never compacted.
func (t *TextCompactions) At(id syncengine.RecordID) (syncengine.VV, error) {
	if ok, err := t.some(); !ok || err != nil {
		return nil, err
	}
	if vv, ok := t.at[id]; ok {
		return vv, nil
	}
	tc, err := t.Read(id, false)
	if err != nil {
		return nil, err
	}
	var vv syncengine.VV
	if tc != nil {
		vv = tc.VV
	}
	t.at[id] = vv
	return vv, nil
}

// Compaction returns id's whole TextCompaction, nil if none.
func (t *TextCompactions) Compaction(id syncengine.RecordID) (*syncengine.TextCompaction, error) {
	if ok, err := t.some(); !ok || err != nil {
		return nil, err
	}
	if tc, ok := t.comp[id]; ok {
		return tc, nil
	}
	tc, err := t.Read(id, true)
	if err != nil {
		return nil, err
	}
	t.comp[id] = tc
	return tc, nil
}

// Apply applies cs as syncengine.Apply does, and also places a changeset
// made before a record's text was compacted (syncengine.ApplyCompacted):
// it returns the changeset to store and send on (re-pointed, if it was:
// that is what every holder can apply) and the records whose state every
// device holding them must be sent once it is stored. A changeset that
// edits no text costs nothing more.
func (t *TextCompactions) Apply(cs *syncengine.Changeset, get syncengine.RecordGetter) (*syncengine.Result, *syncengine.Changeset, []syncengine.RecordID, error) {
	if len(syncengine.TextRecords(cs)) == 0 {
		res, err := syncengine.Apply(cs, get)
		return res, cs, nil, err
	}
	return syncengine.ApplyCompacted(cs, get, t.At, t.Compaction)
}

// Add adds what another batch of a compaction pass did.
func (r *TextCompactResult) Add(o TextCompactResult) {
	r.Looked += o.Looked
	r.Compacted += o.Compacted
	r.Dropped += o.Dropped
	r.Waiting += o.Waiting
	r.BytesBefore += o.BytesBefore
	r.BytesAfter += o.BytesAfter
}

// TextCompactBatch is how many records one write transaction of a text
// compaction pass compacts: syncs wait for the write lock meanwhile.
const TextCompactBatch = 16
