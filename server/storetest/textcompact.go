package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// churnNote revises a note n times with single keystrokes at random places
// (seeded), as a worker revising a short note for months: most of what is
// typed is deleted again, leaving stretches of tombstones.
func churnNote(p *phone, id syncengine.RecordID, seed uint64, n int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for range n {
		cur := p.record(id).String("note")
		length := len([]rune(cur))
		p.edit(func(tx *syncengine.Txn) error {
			if length > 8 && rng.IntN(60) < length {
				return tx.DeleteText(id, "note", rng.IntN(length), 1)
			}
			return tx.InsertText(id, "note", rng.IntN(length+1), string(rune('a'+rng.IntN(26))))
		})
	}
}

// randomNoteEdit saves a random edit of the note (seeded by rng): a
// deletion of up to four characters one time in delOneIn, else up to
// three of one letter typed somewhere.
func (p *phone) randomNoteEdit(id syncengine.RecordID, rng *rand.Rand, delOneIn int) *syncengine.Changeset {
	length := len([]rune(p.record(id).String("note")))
	return p.edit(func(tx *syncengine.Txn) error {
		if length > 4 && rng.IntN(delOneIn) == 0 {
			pos := rng.IntN(length)
			return tx.DeleteText(id, "note", pos, 1+rng.IntN(min(4, length-pos)))
		}
		return tx.InsertText(id, "note", rng.IntN(length+1), strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(3)))
	})
}

// reportCursor makes the phone tell the server how far it has pulled (a
// device's cursor is what it sends), keeping the saves it has not pushed
// (its pull is in flight): what it pulls lands, and its own saves stay in
// its records on top of it, as the SDK replays its outbox over a snapshot.
func (p *phone) reportCursor() {
	p.e.t.Helper()
	p.reportCursorPages()
}

// reportCursorPages is reportCursor returning its pulls' pages. The held
// saves are the phone's unsent ones meanwhile (a compacted state is taken
// over them only if they apply again on top, as the SDK does).
func (p *phone) reportCursorPages() []*domain.SyncResult {
	p.e.t.Helper()
	held := p.outbox
	p.outbox, p.unsent = nil, held
	pages := append(p.syncAll(0), p.sync(0))
	p.outbox, p.unsent = held, nil
	for _, cs := range held {
		res, err := syncengine.Apply(cs, p.store.Record)
		if err == nil && res.Status == syncengine.Applied {
			for _, r := range res.Records {
				p.store.Put(r)
			}
		}
	}
	return pages
}

// A note's text is compacted once every phone that may write it has pulled
// its last change; a save one phone typed while its pull was in flight,
// naming characters the compaction dropped, is still applied (never held or
// refused), and every phone holding the note is sent the server's state to
// replace its own: all end with the same text, the late words in it. The
// compacted state is smaller.
func testTextCompaction(t *testing.T, e *env) {
	a1, a2, other := e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_b")
	id := a1.encounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
	a1.syncAll(0)
	churnNote(a1, id, 1, 400)
	for _, p := range []*phone{a1, a2, other} {
		p.syncAll(0)
	}
	// a2 types into the middle of the note; the save waits (its pull is in
	// flight) while a1 rubs out the text around it.
	text := a2.record(id).String("note")
	mid := len([]rune(text)) / 2
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", mid, "LATE") })
	late := a2.outbox[0]
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", mid-6, 12) })
	a1.syncAll(0)

	// a2 has not pulled the delete: nothing is compacted yet.
	a1.reportCursor()
	other.reportCursor()
	res, err := e.s.CompactText(e.ctx, 0, 0)
	e.must(err)
	if res.Compacted != 0 || res.Waiting == 0 {
		t.Fatalf("compacted while a phone had not pulled the note's last change: %+v", res)
	}
	a2.reportCursor()
	before, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	res, err = e.s.CompactText(e.ctx, 0, 0)
	e.must(err)
	if res.Compacted != 1 || res.Dropped == 0 || res.BytesAfter >= res.BytesBefore {
		t.Fatalf("compaction: %+v", res)
	}
	t.Logf("compacted: %+v", res)
	after, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if after.String("note") != before.String("note") {
		t.Fatalf("compaction changed the note: %q -> %q", before.String("note"), after.String("note"))
	}
	if again, err := e.s.CompactText(e.ctx, 0, 0); err != nil || again.Looked != 0 {
		t.Fatalf("an unchanged record was looked at again: %+v %v", again, err)
	}
	// The late save names text the server no longer holds.
	if _, err := syncengine.Apply(late, func(syncengine.RecordID) (*syncengine.Record, error) { return after, nil }); err == nil {
		t.Fatal("the late save applies to the compacted state as it is: the test tests nothing")
	}

	// Another team's phone forges the same late save as its own: it is
	// refused as any write outside its scope is, places nothing, and
	// makes nobody re-fetch the note.
	forged := *late
	otherID, err := syncengine.ParseReplicaID(other.enrol.ReplicaID)
	e.must(err)
	forged.Replica, forged.Author = otherID, other.enrol.PersonID
	other.outbox = []*syncengine.Changeset{&forged}
	if r := other.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || len(r.Rebase) > 0 {
		t.Fatalf("forged late save from another team: %+v, rebase %v", r.Results, r.Rebase)
	}
	if now, err := e.s.RecordState(e.ctx, string(id)); err != nil || now.String("note") != after.String("note") {
		t.Fatalf("a forged save changed the note: %v", err)
	}
	if r := a1.sync(0); len(r.Rebase) > 0 {
		t.Fatalf("a forged save made a phone re-fetch %v", r.Rebase)
	}

	r := a2.sync(0)
	if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("late save: %+v", r.Results)
	}
	if !slices.Contains(r.Rebase, string(id)) {
		t.Fatalf("the late save's author was not sent the note to replace its copy: rebase %v", r.Rebase)
	}
	a2.syncAll(0)
	if r := a1.sync(0); !slices.Contains(r.Rebase, string(id)) {
		t.Fatalf("a phone holding the note was not sent it to replace its copy: rebase %v", r.Rebase)
	}
	a1.syncAll(0)
	for _, r := range other.syncAll(0) {
		if len(r.Rebase) > 0 || slices.Contains(r.SentRecords, string(id)) {
			t.Fatalf("another team's phone was sent %v", r.Rebase)
		}
	}
	stored, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	want := stored.String("note")
	if !strings.Contains(want, "LATE") {
		t.Fatalf("the late words are lost: %q", want)
	}
	for i, p := range []*phone{a1, a2} {
		if got := p.record(id).String("note"); got != want {
			t.Fatalf("phone %d shows %q, the server %q", i, got, want)
		}
	}
	// Both go on editing; they still agree.
	a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Later: ") })
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", strings.Index(want, "LATE"), "very ") })
	for _, p := range []*phone{a1, a2, a1, a2} {
		p.syncAll(0)
	}
	if a1.record(id).String("note") != a2.record(id).String("note") {
		t.Fatalf("after more edits: %q and %q", a1.record(id).String("note"), a2.record(id).String("note"))
	}
	q, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{})
	e.must(err)
	for _, item := range q {
		if item.DeviceID != other.enrol.DeviceID {
			t.Fatalf("a save of the team's phones was quarantined or held: %+v", item)
		}
	}
}

// Random histories (seeded): three phones edit one note concurrently, sync
// in any order, sometimes save while a pull is in flight, and the server
// compacts the note's text whenever it likes. Every save is accepted; in the
// end every phone shows the server's note, and the server shows exactly the
// characters typed and never deleted.
func testTextCompactionRandomHistories(t *testing.T, e *env) {
	phones := []*phone{e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_a")}
	compacted, late := 0, 0
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 99))
		id := phones[0].encounter("team_a", "Notes: ")
		for _, p := range phones {
			p.syncAll(0)
		}
		var made []*syncengine.Changeset
		for step := 0; step < 120; step++ {
			p := phones[rng.IntN(len(phones))]
			switch k := rng.IntN(10); {
			case k < 6:
				made = append(made, p.randomNoteEdit(id, rng, 3))
			case k < 8:
				p.syncAll(0)
			case k < 9:
				p.reportCursor()
			default:
				for _, q := range phones {
					q.reportCursor()
				}
				res, err := e.s.CompactText(e.ctx, 0, 0)
				e.must(err)
				compacted += res.Dropped
			}
		}
		for range 2 {
			for _, p := range phones {
				for _, r := range p.syncAll(0) {
					for _, res := range r.Results {
						if res.Status != protocol.StatusAccepted && res.Status != protocol.StatusDuplicate {
							t.Fatalf("seed %d: a save was %s: %s", seed, res.Status, res.Message)
						}
					}
					if slices.Contains(r.Rebase, string(id)) {
						late++
					}
				}
			}
		}
		stored, err := e.s.RecordState(e.ctx, string(id))
		e.must(err)
		want := stored.String("note")
		for i, p := range phones {
			if got := p.record(id).String("note"); got != want {
				for _, cs := range made {
					t.Logf("cs %s/%d by phone? %v: phone VV has %d; ops %+v", cs.Replica, cs.Start, cs.Replica.String() == p.enrol.ReplicaID, p.record(id).VV.Get(cs.Replica), cs.Ops)
				}
				t.Logf("server VV %v phone VV %v", stored.VV, p.record(id).VV)
				t.Fatalf("seed %d: phone %d shows %q, the server %q", seed, i, got, want)
			}
		}
		if err := lostCharacters(stored, "note", made); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	if compacted == 0 || late == 0 {
		t.Fatalf("%d tombstones compacted, %d rebases: the test tests too little", compacted, late)
	}
	t.Logf("%d tombstones compacted, %d rebases sent", compacted, late)
}

// lostCharacters reports a difference between the characters rec's text
// field shows and those typed into it by made and not deleted by any: a
// compaction or a re-pointed late save may place a character elsewhere
// than a phone that kept every tombstone would, but never lose or revive one.
func lostCharacters(rec *syncengine.Record, field string, made []*syncengine.Changeset) error {
	inserted, deleted := map[syncengine.ID]bool{}, map[syncengine.ID]bool{}
	for _, cs := range made {
		ids := cs.OpIDs()
		for i, op := range cs.Ops {
			if op.Record != rec.ID || op.Field != field {
				continue
			}
			switch op.Kind {
			case syncengine.OpInsertText:
				for k := range uint64(len([]rune(op.Text))) {
					inserted[syncengine.ID{Replica: ids[i].Replica, Seq: ids[i].Seq + k}] = true
				}
			case syncengine.OpDeleteText:
				for _, sp := range op.Spans {
					for k := range sp.Len {
						deleted[syncengine.ID{Replica: sp.ID.Replica, Seq: sp.ID.Seq + k}] = true
					}
				}
			}
		}
	}
	f := rec.Fields[field]
	if f == nil || f.Text == nil {
		return fmt.Errorf("record %s has no text %s", rec.ID, field)
	}
	typed := 0
	for _, tid := range f.Text.VisibleIDs(0, f.Text.Len()) {
		sid := syncengine.ID{Replica: tid.Replica, Seq: tid.Seq}
		if inserted[sid] && deleted[sid] {
			return fmt.Errorf("%s shows a deleted character", rec.ID)
		}
		if inserted[sid] {
			typed++
		}
	}
	want := 0
	for sid := range inserted {
		if !deleted[sid] {
			want++
		}
	}
	if typed != want {
		return fmt.Errorf("%s shows %d of the %d characters typed and not deleted", rec.ID, typed, want)
	}
	return nil
}

// A phone holding unsent saves is sent the note whole (another phone's late
// insert re-placed text) after a compaction dropped a character its unsent
// delete names: it cannot replay that delete, nor the insert it typed after
// it, over the server's copy, so its copy lacks its own words until the
// server sends the note again. The server re-points the delete as it
// re-points a late insert, so it sends the note again, and the phone ends
// with its own words.
func testTextCompactionUnsentDeleteOverRebase(t *testing.T, e *env) {
	a1, a2, other, id, mid := lateNote(e)
	a3 := e.enrolPhone("w_a")
	a3.syncAll(0)
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", mid-6, 12) })
	a1.syncAll(0)
	// a2 deletes a character a1 deleted too, pulls a1's delete, then
	// types; neither save is sent yet.
	a2.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", mid, 1) })
	a2.reportCursor()
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "NEW ") })
	// a3 types into the stretch a1 deleted; not sent yet either.
	a3.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", mid, "LATE") })
	for _, p := range []*phone{a1, a2, a3, other} {
		p.reportCursor()
	}
	e.compactOnce(1)
	if r := a3.sync(0); r.Results[0].Status != protocol.StatusAccepted || !slices.Contains(r.Rebase, string(id)) {
		t.Fatalf("a late insert: %+v, rebase %v", r.Results, r.Rebase)
	}
	a2.reportCursor() // the note whole, a2's saves still unsent
	for _, r := range a2.syncAll(0) {
		for _, res := range r.Results {
			if res.Status != protocol.StatusAccepted {
				t.Fatalf("a2's save: %+v", res)
			}
		}
	}
	if want := e.converged(id, a1, a2, a3); !strings.HasPrefix(want, "NEW ") || !strings.Contains(want, "LATE") {
		t.Fatalf("the note lost a save: %q", want)
	}
}
