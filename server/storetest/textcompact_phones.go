package storetest

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// stored is the size of a phone's copy of a record, as it keeps it.
func (p *phone) stored(id syncengine.RecordID) int {
	return len(syncengine.EncodeRecord(p.record(id)))
}

// compactedIn reports whether any page marked id compacted.
func compactedIn(pages []*domain.SyncResult, id syncengine.RecordID) bool {
	for _, r := range pages {
		if slices.Contains(r.Compacted, string(id)) {
			return true
		}
	}
	return false
}

// After the server compacts a note's text, each phone holding it is sent
// the smaller state once, on its next pull: a phone with nothing unsent on
// the note takes it (its copy shrinks, the text stays), and so does a phone
// whose unsent save applies again on top of it (typed after every phone saw
// the deletes); a phone whose unsent save names characters the compaction
// dropped (typed before another worker deleted around it) keeps its copy
// as it was. Another team's phone is sent nothing, not even the id; a phone
// that pulls again is not sent it again. Every save reaches every phone,
// and the phones go on editing the compacted note and converge.
func testTextCompactionReachesPhones(t *testing.T, e *env) {
	a1, a2, other, id, mid := lateNote(e)
	a3, sup := e.enrolPhone("w_a"), e.enrolPhone("sup_a")
	a3.syncAll(0)
	sup.syncAll(0)
	a3.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", mid, "LATE") })
	rubOut(a1, id, mid, a1, a2, a3, other, sup)
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "KEEP ") })
	before := a1.stored(id)
	text := a1.record(id).String("note")
	e.compactOnce(1)
	server, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	serverBytes := len(syncengine.EncodeRecord(server))
	if serverBytes >= before {
		t.Fatalf("the server's note is %d bytes, the phone's %d: nothing to take", serverBytes, before)
	}

	for _, p := range []*phone{a1, sup} {
		pages := p.syncAll(0)
		if !compactedIn(pages, id) {
			t.Fatalf("a phone holding the note was not sent its compacted state: %+v", pages[0])
		}
		if got := p.stored(id); got != serverBytes || p.record(id).String("note") != text {
			t.Fatalf("the phone keeps %d bytes (%q), the server %d (%q)", got, p.record(id).String("note"), serverBytes, text)
		}
		if again := p.syncAll(0); compactedIn(again, id) {
			t.Fatal("the compacted state was sent twice")
		}
	}
	t.Logf("phone's copy of the note: %d bytes before, %d after", before, a1.stored(id))
	for _, r := range other.syncAll(0) {
		if len(r.Compacted) > 0 || slices.Contains(r.SentRecords, string(id)) {
			t.Fatalf("another team's phone was sent %v", r.Compacted)
		}
	}

	// a2 and a3 pull with their saves still unsent.
	if !compactedIn(a2.reportCursorPages(), id) {
		t.Fatal("a phone with an unsent save was not sent the compacted state")
	}
	if got := a2.record(id).String("note"); got != "KEEP "+text || a2.stored(id) >= before {
		t.Fatalf("a phone whose unsent save applies on top: %d bytes, was %d; %q", a2.stored(id), before, got)
	}
	held := syncengine.EncodeRecord(a3.record(id))
	if !compactedIn(a3.reportCursorPages(), id) {
		t.Fatal("a phone with an unsent save was not sent the compacted state")
	}
	if got := syncengine.EncodeRecord(a3.record(id)); string(got) != string(held) {
		t.Fatalf("a phone whose unsent save names dropped text changed its copy: %q", a3.record(id).String("note"))
	}
	want := e.converged(id, a1, a2, a3, sup)
	if !strings.HasPrefix(want, "KEEP ") || !strings.Contains(want, "LATE") {
		t.Fatalf("an unsent save is lost: %q", want)
	}
	// They go on editing the compacted note, and still agree.
	a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 5, "after ") })
	a2.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", 0, 2) })
	e.converged(id, a1, a2, a3, sup)
}

// Random histories (seeded): two phones edit one note, sync in any order,
// sometimes save while a pull is in flight, and the server compacts the
// note's text at random points; phones take the compacted state when they
// may. All converge, and no character typed and not deleted is lost.
func testTextCompactionPhonesTakeRandom(t *testing.T, e *env) {
	phones := []*phone{e.enrolPhone("w_a"), e.enrolPhone("w_a")}
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 31))
		id := phones[0].encounter("team_a", "Notes: ")
		for _, p := range phones {
			p.syncAll(0)
		}
		for step := 0; step < 150; step++ {
			p := phones[rng.IntN(len(phones))]
			switch k := rng.IntN(12); {
			case k < 7:
				p.randomNoteEdit(id, rng, 2)
			case k < 9:
				p.syncAll(0)
			case k < 10:
				p.reportCursor()
			default:
				for _, q := range phones {
					if rng.IntN(3) > 0 {
						q.reportCursor()
					}
				}
				_, err := e.s.CompactText(e.ctx, 0, 0)
				e.must(err)
			}
		}
		e.converged(id, phones...)
	}
	took := phones[0].tookCompacted + phones[1].tookCompacted
	if took == 0 {
		t.Fatal("no phone ever took a compacted state: the test tests too little")
	}
	t.Logf("compacted states taken: %d", took)
}

// A compaction that leaves a note barely smaller (a long note with a few
// characters typed and rubbed out) is not sent: each phone would download
// the whole note to keep a few bytes less. What such passes drop adds up,
// and once the note is at most three quarters of what phones keep, it is
// sent (domain.CompactedWorthSending).
func testTextCompactionSentWhenWorthIt(t *testing.T, e *env) {
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	id := a1.encounter("team_a", strings.Repeat("Long visit notes, typed in one go. ", 40))
	a1.syncAll(0)
	a2.syncAll(0)
	// A stretch of four runs rubbed out: the compaction drops its middle two.
	rubOutTrio := func(at int) {
		for _, ch := range []string{"p", "m", "a", "r"} {
			a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", at, ch) })
		}
		a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", at, 4) })
		a1.syncAll(0)
		for _, p := range []*phone{a1, a2} {
			p.reportCursor()
		}
	}
	rubOutTrio(10)
	held := a2.stored(id)
	if res := e.compactOnce(1); res.Dropped == 0 {
		t.Fatalf("nothing dropped: %+v", res)
	}
	if pages := a2.syncAll(0); compactedIn(pages, id) {
		t.Fatal("a note a compaction barely shrank was sent to the phones")
	}
	if a2.stored(id) != held {
		t.Fatal("the phone's copy changed")
	}
	// Much more typed, a keystroke at a time, and rubbed out: now worth
	// sending, all of it.
	for i := range 300 {
		a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 20, string(rune('a'+i%26))) })
	}
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", 20, 300) })
	a1.syncAll(0)
	for _, p := range []*phone{a1, a2} {
		p.reportCursor()
	}
	e.compactOnce(1)
	if pages := a2.syncAll(0); !compactedIn(pages, id) {
		t.Fatal("a note compaction shrank by far was not sent")
	}
	server, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if a2.stored(id) != len(syncengine.EncodeRecord(server)) {
		t.Fatalf("the phone keeps %d bytes, the server %d", a2.stored(id), len(syncengine.EncodeRecord(server)))
	}
}

// A young person whose compacted profile phones have not pulled yet moves
// to another team: the old team's phone is told to drop it and is not sent
// its state; the new team's phone receives it whole, as any record that
// enters its scope, and holds the compacted state. Another, erased after
// its compaction, is not sent to anyone.
func testTextCompactionThenMoved(t *testing.T, e *env) {
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "sup_b", Name: "Bea Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"},
	}))
	a1, a2, b := e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_b")
	profile := func(name string) syncengine.RecordID {
		var yp syncengine.RecordID
		a1.edit(func(tx *syncengine.Txn) (err error) {
			if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
				return err
			}
			return set(tx, yp, "team_id", "team_a", "known_as", name)
		})
		for i := range 300 {
			a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(yp, "wants", 0, string(rune('a'+i%26))) })
		}
		a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(yp, "wants", 0, 290) })
		return yp
	}
	yp, erased := profile("Jay"), profile("Kai")
	a1.syncAll(0)
	for _, p := range []*phone{a1, a2, b} {
		p.reportCursor()
	}
	e.compactOnce(2)
	_, err := e.s.Erase(e.ctx, domain.ErasureRequest{By: "sup_a", YoungPersonID: string(erased), Reason: "erasure request 8", Erase: []string{string(erased)}})
	e.must(err)
	supA, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	supB, err := e.s.Person(e.ctx, "sup_b")
	e.must(err)
	tr, err := e.s.StartTransfer(e.ctx, supA, string(yp), "team_b", "moved to the estate")
	e.must(err)
	_, err = e.s.DecideTransfer(e.ctx, supB, tr.ID, domain.DecisionAccept)
	e.must(err)

	pages := a2.syncAll(0)
	if compactedIn(pages, yp) || compactedIn(pages, erased) {
		t.Fatal("a phone was sent the compacted state of a record moved away or erased")
	}
	dropped := false
	for _, r := range pages {
		dropped = dropped || slices.Contains(r.Drop, string(yp))
	}
	if !dropped || a2.record(yp) != nil {
		t.Fatal("the old team's phone was not told to drop the young person")
	}
	b.syncAll(0)
	server, err := e.s.RecordState(e.ctx, string(yp))
	e.must(err)
	if got := b.record(yp); got == nil || b.stored(yp) != len(syncengine.EncodeRecord(server)) || got.String("wants") != server.String("wants") {
		t.Fatal("the new team's phone does not hold the young person as the server does")
	}
}

// Compacted states page like anything else: a phone on small pages (a slow
// link) is sent every compacted note of its team across several pages,
// each once, and ends holding the server's states.
func testTextCompactedStatesPage(t *testing.T, e *env) {
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	var ids []syncengine.RecordID
	for n := range 6 {
		id := a1.encounter("team_a", "Notes of visit "+string(rune('A'+n))+": ")
		for i := range 200 {
			a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 16, string(rune('a'+i%26))) })
		}
		a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", 16, 195) })
		ids = append(ids, id)
	}
	a1.syncAll(0)
	for _, p := range []*phone{a1, a2} {
		p.reportCursor()
	}
	e.compactOnce(len(ids))
	sent := map[syncengine.RecordID]int{}
	withStates := 0
	for _, r := range a2.syncAll(1024) {
		for _, id := range r.Compacted {
			sent[syncengine.RecordID(id)]++
		}
		if len(r.Compacted) > 0 {
			withStates++
		}
	}
	if withStates < 2 {
		t.Fatalf("the compacted states came in %d pages of 1 KiB", withStates)
	}
	for _, id := range ids {
		server, err := e.s.RecordState(e.ctx, string(id))
		e.must(err)
		if sent[id] != 1 || a2.stored(id) != len(syncengine.EncodeRecord(server)) {
			t.Fatalf("note %s sent %d times; the phone keeps %d bytes, the server %d", id, sent[id], a2.stored(id), len(syncengine.EncodeRecord(server)))
		}
	}
}

// The phone that held a note's compaction back (it had not pulled the
// note's last change) is sent the compacted state on its first pull after
// the compaction it allowed, and takes it.
func testTextCompactionBlockingPhoneTakesIt(t *testing.T, e *env) {
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	id := a1.encounter("team_a", "Notes: ")
	a1.syncAll(0)
	a2.syncAll(0)
	for i := range 200 {
		a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 7, string(rune('a'+i%26))) })
	}
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", 7, 190) })
	a1.syncAll(0)
	a1.reportCursor()
	if res := e.compactOnce(0); res.Waiting != 1 {
		t.Fatalf("compaction did not wait for the phone behind: %+v", res)
	}
	a2.reportCursor() // pulls the note's tombstones, and says so
	e.compactOnce(1)
	pages := a2.syncAll(0)
	server, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if !compactedIn(pages, id) || a2.stored(id) != len(syncengine.EncodeRecord(server)) {
		t.Fatalf("the phone that held compaction back keeps %d bytes, the server %d", a2.stored(id), len(syncengine.EncodeRecord(server)))
	}
}

// Two notes each given a late save in one request: a phone's next page
// carries both saves as changesets and names both notes in rebase, and
// must carry each one's state too (a rebase is a snapshot to take; a mark
// alone replaces nothing).
func testTwoRebasesInOnePage(t *testing.T, e *env) {
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	var ids []syncengine.RecordID
	for n := range 2 {
		id := a1.encounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
		a1.syncAll(0)
		churnNote(a1, id, uint64(10+n), 300)
		ids = append(ids, id)
	}
	a1.syncAll(0)
	a2.syncAll(0)
	for _, id := range ids {
		mid := len([]rune(a2.record(id).String("note"))) / 2
		a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", mid, "LATE") })
		a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", mid-6, 12) })
	}
	a1.syncAll(0)
	a1.reportCursor()
	a2.reportCursor()
	e.compactOnce(2)
	if r := a2.sync(0); len(r.Rebase) != 2 {
		t.Fatalf("the late saves' author: rebase %v", r.Rebase)
	}
	r := a1.sync(0)
	if len(r.Rebase) != 2 {
		t.Fatalf("rebase %v, want both notes", r.Rebase)
	}
	carried := map[string]bool{}
	for _, b := range r.Snapshots {
		recs, err := syncengine.DecodeSnapshot(b)
		e.must(err)
		for _, rec := range recs {
			carried[string(rec.ID)] = true
		}
	}
	for _, id := range r.Rebase {
		if !carried[id] {
			t.Fatalf("%s is named in rebase but its state is not in the page", id)
		}
	}
	e.converged(ids[0], a1, a2)
	e.converged(ids[1], a1, a2)
}
