package domain

import (
	"fmt"
	"slices"

	"github.com/joinedup/joinedup/syncengine"
)

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
	return t.apply(cs, get, syncengine.Apply, syncengine.ApplyCompacted)
}

// ApplyUnseen is Apply for a changeset the store knows it never stored,
// although its records may hold later changesets of the same phone
// (syncengine.ApplyUnseen): an open quarantined or held item's, which the
// phone dropped and saved past. A record it was saved past is also
// returned to be sent whole: every copy of it, the author's too, has a
// version that already covers the changeset, so a phone takes the
// changeset for a duplicate and a plain snapshot for one it holds.
func (t *TextCompactions) ApplyUnseen(cs *syncengine.Changeset, get syncengine.RecordGetter) (*syncengine.Result, *syncengine.Changeset, []syncengine.RecordID, error) {
	var past []syncengine.RecordID
	for _, d := range cs.Deps {
		r, err := get(d.Record)
		if err != nil {
			return nil, cs, nil, err
		}
		if r != nil && r.VV.Get(cs.Replica) >= cs.Start {
			past = append(past, d.Record)
		}
	}
	res, cs, late, err := t.apply(cs, get, syncengine.ApplyUnseen, syncengine.ApplyCompactedUnseen)
	for _, id := range past {
		if !slices.Contains(late, id) {
			late = append(late, id)
		}
	}
	return res, cs, late, err
}

func (t *TextCompactions) apply(cs *syncengine.Changeset, get syncengine.RecordGetter,
	plain func(*syncengine.Changeset, syncengine.RecordGetter) (*syncengine.Result, error),
	compacted func(*syncengine.Changeset, syncengine.RecordGetter, func(syncengine.RecordID) (syncengine.VV, error), func(syncengine.RecordID) (*syncengine.TextCompaction, error)) (*syncengine.Result, *syncengine.Changeset, []syncengine.RecordID, error)) (*syncengine.Result, *syncengine.Changeset, []syncengine.RecordID, error) {
	if len(syncengine.TextRecords(cs)) == 0 {
		res, err := plain(cs, get)
		return res, cs, nil, err
	}
	return compacted(cs, get, t.At, t.Compaction)
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

// CompactTextPass runs a text compaction pass over ids as a store does:
// TextCompactBatch records per write transaction (update), each compacted
// by compact in it, and one audit entry (audit) if it compacted anything.
// It returns what the pass did, as far as it got.
func CompactTextPass[Tx any](ids []string, update func(fn func(Tx) error) error,
	compact func(tx Tx, id string, res *TextCompactResult) error, audit func(AuditEntry) error) (TextCompactResult, error) {
	var res TextCompactResult
	for len(ids) > 0 {
		batch := ids[:min(TextCompactBatch, len(ids))]
		ids = ids[len(batch):]
		var part TextCompactResult
		err := update(func(tx Tx) error {
			part = TextCompactResult{} // a retried transaction counts afresh
			for _, id := range batch {
				if err := compact(tx, id, &part); err != nil {
					return fmt.Errorf("compact text of %s: %w", id, err)
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Add(part)
	}
	if res.Compacted == 0 {
		return res, nil
	}
	return res, audit(AuditEntry{Action: "compact_text", Detail: map[string]any{
		"records": res.Compacted, "tombstones": res.Dropped, "bytes_before": res.BytesBefore, "bytes_after": res.BytesAfter}})
}

// CompactRecordText compacts the text of rec, decoded from a state of
// before bytes, keeping what it drops with what an earlier pass dropped
// (prev and its encoding prevBytes; nil if none), and counts it in res. It
// returns the record's new state (nil if nothing was dropped: the record
// stays as it is) and the record's compaction state to store: its C alone
// (vv) and whole (comp).
func CompactRecordText(rec *syncengine.Record, before int, prev *syncengine.TextCompaction, prevBytes []byte, res *TextCompactResult) (state, vv, comp []byte) {
	comp = prevBytes
	if prev != nil {
		vv = syncengine.EncodeTextCompaction(&syncengine.TextCompaction{VV: prev.VV})
	}
	tc, n := rec.CompactTextKeeping(prev)
	if n == 0 {
		return nil, vv, comp
	}
	state = syncengine.EncodeRecord(rec)
	res.Compacted++
	res.Dropped += n
	res.BytesBefore += int64(before)
	res.BytesAfter += int64(len(state))
	return state, syncengine.EncodeTextCompaction(&syncengine.TextCompaction{VV: tc.VV}), syncengine.EncodeTextCompaction(tc)
}

// AddRebase adds to res a record (id, its state) a late insert re-placed
// since the device's last pull, marked to replace the phone's copy
// (res.Rebase). A record a snapshot page (snapshotPage) already carries is
// only marked. In a page of changesets SentRecords also names the records
// they touch, which the page does not carry whole: those are sent too.
// Practitioners receive projections, rebuilt on every snapshot page anyway:
// only records of their page are marked.
func AddRebase(res *SyncResult, scope Scope, snapshotPage bool, id string, state []byte) {
	// In a snapshot page, SentRecords are the records it carries whole.
	inPage := snapshotPage && slices.Contains(res.SentRecords, id)
	switch {
	case inPage:
		res.Rebase = append(res.Rebase, id)
	case scope.Practitioner():
		// A projection is built by the snapshot path only.
	default:
		res.Rebase = append(res.Rebase, id)
		res.Snapshots = append(res.Snapshots, state)
		res.SentRecords = append(res.SentRecords, id)
	}
}

// TextCompactionQueries are a store's two reads of its text_compaction
// table, in its own SQL: whether any row holds a C, and one record's column
// ("vv": C alone; "state": the whole TextCompaction), nil without a row.
type TextCompactionQueries struct {
	Any    func() (bool, error)
	Column func(id, col string) ([]byte, error)
}

// Read returns a record's stored TextCompaction (nil if its text was never
// compacted) and its bytes; unless whole, only C, which is what most
// pushes need. A stored state that does not decode is an error: without
// it a late edit is held rather than placed, never guessed at.
func (q TextCompactionQueries) Read(id string, whole bool) ([]byte, *syncengine.TextCompaction, error) {
	col := "vv"
	if whole {
		col = "state"
	}
	b, err := q.Column(id, col)
	if err != nil || b == nil {
		return nil, nil, err
	}
	tc, err := syncengine.DecodeTextCompaction(b)
	if err != nil {
		return nil, nil, fmt.Errorf("stored text compaction of %s: %w", id, err)
	}
	return b, tc, nil
}

// Compactions are TextCompactions reading through q.
func (q TextCompactionQueries) Compactions() TextCompactions {
	return TextCompactions{Any: q.Any, Read: func(id syncengine.RecordID, whole bool) (*syncengine.TextCompaction, error) {
		_, tc, err := q.Read(string(id), whole)
		return tc, err
	}}
}

// AddCompacted adds to res a record (id, its state) whose text a compaction
// pass rewrote after the device's cursor, marked so that a phone holding it
// may replace its copy (res.Compacted). A record the page already carries
// whole (snapshotPage: every record of SentRecords; else a rebase) is left
// as it is: the phone takes that by the usual rules, and the mark would
// make a phone that does not hold it ignore it. Practitioners hold
// projections, which only the snapshot path builds: they are sent nothing.
func AddCompacted(res *SyncResult, scope Scope, snapshotPage bool, id string, state []byte) {
	if scope.Practitioner() || slices.Contains(res.Rebase, id) || snapshotPage && slices.Contains(res.SentRecords, id) {
		return
	}
	res.Compacted = append(res.Compacted, id)
	res.Snapshots = append(res.Snapshots, state)
	res.SentRecords = append(res.SentRecords, id)
}

// CompactedPage fills a pull's page with compacted states (AddCompacted),
// read in pass order, within the page's budget: after an upgrade a phone's
// first pull is sent every compacted record of its scope, which must page
// like anything else, or a slow link that shrinks its pages would never
// get through. Add reports false once the page is full; Finish then marks
// the page More and puts the last pass it covers in its cursor.
type CompactedPage struct {
	res          *SyncResult
	scope        Scope
	snapshotPage bool
	budget, size int
	reached      int64
	full         bool
}

// NewCompactedPage starts adding to res, whose page budget is budget, the
// states compacted after pass from.
func NewCompactedPage(res *SyncResult, scope Scope, snapshotPage bool, budget int, from int64) *CompactedPage {
	p := &CompactedPage{res: res, scope: scope, snapshotPage: snapshotPage, budget: budget, reached: from}
	for _, b := range res.Changesets {
		p.size += len(b)
	}
	for _, b := range res.Snapshots {
		p.size += len(b)
	}
	return p
}

// Add adds the state of record id, given pass, if the page has room: an
// empty page always has.
func (p *CompactedPage) Add(id string, state []byte, pass int64) bool {
	if p.size+len(state) > p.budget && len(p.res.Changesets)+len(p.res.Snapshots) > 0 {
		p.full = true
		return false
	}
	n := len(p.res.Snapshots)
	AddCompacted(p.res, p.scope, p.snapshotPage, id, state)
	if len(p.res.Snapshots) > n {
		p.size += len(state)
	}
	p.reached = pass
	return true
}

// Finish records where the page stopped, if it stopped before the end.
func (p *CompactedPage) Finish() error {
	if !p.full {
		return nil
	}
	c, _, err := ParseCursor(p.res.Cursor)
	if err != nil {
		return err
	}
	c.Compacted = p.reached
	p.res.Cursor, p.res.More = c.String(), true
	return nil
}

// CompactedWorthSending decides whether phones holding a record are sent
// the state a compaction pass just left (protocol.Response.Compacted):
// each phone then downloads the whole state once, to keep less. before and
// after are the record's stored state's bytes before and after this pass;
// unsent is what earlier passes dropped without sending (phones holding the
// record still keep it). It is sent when it is at most three quarters of
// what a phone keeps: a note mostly typed and little deleted (the
// automerge-paper trace's first 20,000 characters shrink by 7-8%) would cost
// every phone its whole state to save a few hundred bytes, and a note
// revised a little every day would be sent every day. It returns the
// unsent bytes to keep for the next pass.
func CompactedWorthSending(before, after, unsent int64) (send bool, unsentNext int64) {
	held := before + unsent
	if after*4 <= held*3 {
		return true, 0
	}
	return false, held - after
}
