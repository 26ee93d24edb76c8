package storetest

import (
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

// reportCursor makes the phone tell the server how far it has pulled (a
// device's cursor is what it sends), keeping any saves it has not pushed.
func (p *phone) reportCursor() {
	p.e.t.Helper()
	held := p.outbox
	p.outbox = nil
	p.syncAll(0)
	p.sync(0)
	p.outbox = held
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
	res, err := e.s.CompactText(e.ctx, 0)
	e.must(err)
	if res.Compacted != 0 || res.Waiting == 0 {
		t.Fatalf("compacted while a phone had not pulled the note's last change: %+v", res)
	}
	a2.reportCursor()
	before, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	res, err = e.s.CompactText(e.ctx, 0)
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
	if again, err := e.s.CompactText(e.ctx, 0); err != nil || again.Looked != 0 {
		t.Fatalf("an unchanged record was looked at again: %+v %v", again, err)
	}
	// The late save names text the server no longer holds.
	if _, err := syncengine.Apply(late, func(syncengine.RecordID) (*syncengine.Record, error) { return after, nil }); err == nil {
		t.Fatal("the late save applies to the compacted state as it is: the test tests nothing")
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
	if len(q) != 0 {
		t.Fatalf("%d changesets quarantined or held: %+v", len(q), q)
	}
}
