package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Text compaction meeting changesets the server keeps aside: quarantined
// (refused, waiting for a person) and held (waiting for a dependency).
// A quarantined item may wait days for review, so it does not hold
// compaction back; a held one does, for the records it waits on. Either
// way, when it is finally applied after its record's text was compacted, it
// is placed as a late save is: re-pointed, nothing it typed lost, and every
// phone holding the record sent the server's state.

// fastClock is how far a phone's clock runs ahead in these tests: beyond
// syncengine.MaxSkew, so its saves are quarantined until the server's clock
// has caught up (then a supervisor may release them).
const fastClock = 2 * time.Hour

// lateNote is a long-revised note of team_a that three phones hold (two of
// team_a, one of team_b), and the middle of its text.
func lateNote(e *env) (a1, a2, other *phone, id syncengine.RecordID, mid int) {
	a1, a2, other = e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_b")
	id = a1.encounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
	a1.syncAll(0)
	churnNote(a1, id, 3, 400)
	for _, p := range []*phone{a1, a2, other} {
		p.syncAll(0)
	}
	return a1, a2, other, id, len([]rune(a2.record(id).String("note"))) / 2
}

// rubOut has a1 delete the text around mid and every phone pull it, so a
// save typed at mid before names text a compaction may drop.
func rubOut(a1 *phone, id syncengine.RecordID, mid int, phones ...*phone) {
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(id, "note", mid-6, 12) })
	a1.syncAll(0)
	for _, p := range phones {
		p.reportCursor()
	}
}

// compactOnce runs a text compaction pass and checks how many records it
// compacted.
func (e *env) compactOnce(want int) domain.TextCompactResult {
	e.t.Helper()
	res, err := e.s.CompactText(e.ctx, 0, 0)
	e.must(err)
	if res.Compacted != want {
		e.t.Fatalf("text compaction compacted %d records, want %d: %+v", res.Compacted, want, res)
	}
	return res
}

// converged syncs the phones until each shows the server's note and checks
// that the note holds every character typed and not deleted.
func (e *env) converged(id syncengine.RecordID, phones ...*phone) string {
	e.t.Helper()
	for range 2 {
		for _, p := range phones {
			p.syncAll(0)
		}
	}
	stored, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	want := stored.String("note")
	var made []*syncengine.Changeset
	for i, p := range phones {
		if got := p.record(id).String("note"); got != want {
			e.t.Fatalf("phone %d shows %q, the server %q", i, got, want)
		}
		made = append(made, p.made...)
	}
	if err := lostCharacters(stored, "note", made); err != nil {
		for _, cs := range made {
			ids := cs.OpIDs()
			for i, op := range cs.Ops {
				e.t.Logf("cs %s/%d t=%v op %d %v id %v text %q spans %v", cs.Replica.String()[:4], cs.Start, cs.Time.Time().Sub(t0), i, op.Kind, ids[i], op.Text, op.Spans)
			}
		}
		e.t.Logf("server VV %v", stored.VV)
		all, _ := e.s.Quarantine(e.ctx, domain.QuarantineFilter{})
		for _, q := range all {
			e.t.Logf("item %d %s/%d %s %s", q.ID, q.ReplicaID[:4], q.Start, q.Code, q.Resolution)
		}
		e.t.Fatal(err)
	}
	return want
}

// openItemOf is the device's one open quarantine item.
func (e *env) openItemOf(p *phone) domain.QuarantineItem {
	e.t.Helper()
	open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, DeviceID: p.enrol.DeviceID})
	e.must(err)
	if len(open) != 1 {
		e.t.Fatalf("open items of the device: %+v", open)
	}
	return open[0]
}

// A save from a phone whose clock ran fast is quarantined; the note's text
// is compacted meanwhile (the item does not hold it back), dropping the
// text the save was typed into. Nobody outside the note's team can release
// it, nor can a worker; when its supervisor releases it (the clock has
// caught up), it is placed as a late save, every phone holding the note is
// sent the server's state, and all show the same note with nothing lost.
func testQuarantineReleaseAfterTextCompaction(t *testing.T, e *env) {
	a1, a2, other, id, mid := lateNote(e)
	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "sup_b", Name: "Jo Supervisor", Role: domain.RoleSupervisor,
		TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"}))
	a2.skew = fastClock
	late := a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", mid, "LATE") })
	a2.skew = 0
	if r := a2.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != domain.EINVALID {
		t.Fatalf("a save from a fast clock: %+v", r.Results)
	}
	item := e.openItemOf(a2)
	rubOut(a1, id, mid, a1, a2, other)
	e.compactOnce(1)
	compacted, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if _, err := syncengine.Apply(late, func(syncengine.RecordID) (*syncengine.Record, error) { return compacted, nil }); err == nil {
		t.Fatal("the quarantined save applies to the compacted note as it is: the test tests nothing")
	}

	// What releasing it would change reads as for any item: the note's
	// text before and after, the late words inserted.
	sup, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	d, err := e.s.QuarantineItem(e.ctx, item.ID, sup)
	e.must(err)
	if d.Pending || len(d.Changes) != 1 || !slices.ContainsFunc(d.Changes[0].Fields, func(f domain.FieldChange) bool {
		return f.Field == "note" && f.Inserted == "LATE" && f.Before == compacted.String("note")
	}) {
		t.Fatalf("what releasing it would change: %+v", d)
	}

	e.advance(fastClock + time.Hour) // the only reason left to refuse it is who releases it
	for _, c := range []struct {
		who, wantCode string
	}{
		{"sup_b", domain.ENOTFOUND},  // another team's supervisor does not see it
		{"w_b", domain.ENOTFOUND},    // nor another team's worker
		{"w_a", domain.ENOTFOUND},    // a worker of the team reviews nothing
		{"prac_h", domain.ENOTFOUND}, // a practitioner reviews nothing
	} {
		who, err := e.s.Person(e.ctx, c.who)
		e.must(err)
		if err := e.s.ReviewQuarantine(e.ctx, item.ID, who, domain.ResolutionRelease); domain.ErrorCode(err) != c.wantCode {
			t.Fatalf("release by %s: %v, want %s", c.who, err, c.wantCode)
		}
	}
	if e.openItemOf(a2).ID != item.ID {
		t.Fatal("a refused release closed the item")
	}
	if now, err := e.s.RecordState(e.ctx, string(id)); err != nil || now.String("note") != compacted.String("note") {
		t.Fatalf("a refused release changed the note: %v", err)
	}
	if r := a1.sync(0); len(r.Rebase) > 0 {
		t.Fatalf("a refused release made a phone re-fetch %v", r.Rebase)
	}

	e.must(e.s.ReviewQuarantine(e.ctx, item.ID, sup, domain.ResolutionRelease))
	released, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if !strings.Contains(released.String("note"), "LATE") {
		t.Fatalf("the released words are not in the note: %q", released.String("note"))
	}
	for _, p := range []*phone{a1, a2} {
		if r := p.sync(0); !slices.Contains(r.Rebase, string(id)) {
			t.Fatalf("a phone holding the note was not sent it to replace its copy: rebase %v", r.Rebase)
		}
	}
	for _, r := range other.syncAll(0) {
		if len(r.Rebase) > 0 || slices.Contains(r.SentRecords, string(id)) {
			t.Fatalf("another team's phone was sent %v", r.Rebase)
		}
	}
	want := e.converged(id, a1, a2)
	// Both go on editing the released note; they still agree.
	a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Later: ") })
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", strings.Index(want, "LATE"), "very ") })
	e.converged(id, a1, a2)
	all, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{DeviceID: a2.enrol.DeviceID})
	e.must(err)
	if len(all) != 1 || all[0].Resolution != domain.ResolutionRelease || all[0].ReviewedBy != "sup_a" {
		t.Fatalf("the released item: %+v", all)
	}
}

// A save that arrives before one it depends on is held. While it waits on
// the note, the note is not compacted; while it waits on another record, the
// note is, and the save is placed as a late save once what it waits for
// arrives, from the phone or released from quarantine.
func testHeldTextEditAfterCompaction(t *testing.T, e *env) {
	for _, c := range []struct {
		name string
		// waitsOnNote: the save depends on an earlier save to the note
		// itself, not to another record.
		waitsOnNote bool
		// released: that earlier save was quarantined (a fast clock) and
		// reaches the server when a supervisor releases it.
		released bool
	}{
		{name: "waits on the note", waitsOnNote: true},
		{name: "waits on another record"},
		{name: "waits on another record released from quarantine", released: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := e.sub(t)
			a1, a2, other, id, mid := lateNote(e)
			if c.released {
				a2.skew = fastClock
			}
			var other2 syncengine.RecordID
			first := a2.edit(func(tx *syncengine.Txn) (err error) {
				if c.waitsOnNote {
					return tx.InsertText(id, "note", mid, "[")
				}
				if other2, err = tx.Create(syncengine.TypeEncounter); err != nil {
					return err
				}
				return set(tx, other2, "team_id", "team_a", "area", "the park", "started_at", e.now.Add(-time.Hour))
			})
			a2.skew = 0
			if c.released {
				// The fast save is quarantined; the clock catches up
				// before the next, which depends on it, is saved.
				r := a2.sync(0)
				if r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != domain.EINVALID {
					t.Fatalf("a save from a fast clock: %+v", r.Results)
				}
				e.advance(fastClock + time.Hour)
			} else {
				a2.outbox = nil // lost on the way, for now
			}
			a2.edit(func(tx *syncengine.Txn) error {
				if c.waitsOnNote {
					return tx.InsertText(id, "note", mid+1, "LATE")
				}
				if err := tx.InsertText(id, "note", mid, "LATE"); err != nil {
					return err
				}
				return tx.Set(other2, "area", "the park, by the gate")
			})
			if r := a2.sync(0); len(r.Results) != 1 || r.Results[0].Code != domain.EMISSINGDEP {
				t.Fatalf("a save before the one it depends on: %+v", r.Results)
			}
			rubOut(a1, id, mid, a1, a2, other)
			if c.waitsOnNote {
				if res := e.compactOnce(0); res.Waiting == 0 {
					t.Fatalf("the held save did not hold compaction back: %+v", res)
				}
			} else {
				e.compactOnce(1)
			}

			if c.released {
				sup, err := e.s.Person(e.ctx, "sup_a")
				e.must(err)
				var item domain.QuarantineItem
				open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, DeviceID: a2.enrol.DeviceID})
				e.must(err)
				for _, q := range open {
					if q.Code == domain.EINVALID {
						item = q
					}
				}
				e.must(e.s.ReviewQuarantine(e.ctx, item.ID, sup, domain.ResolutionRelease))
			} else {
				a2.outbox = []*syncengine.Changeset{first}
				if r := a2.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
					t.Fatalf("the save depended on: %+v", r.Results)
				}
			}
			if open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true}); err != nil || len(open) != 0 {
				t.Fatalf("still waiting once what it depends on arrived: %+v %v", open, err)
			}
			stored, err := e.s.RecordState(e.ctx, string(id))
			e.must(err)
			if !strings.Contains(stored.String("note"), "LATE") {
				t.Fatalf("the held words are not in the note: %q", stored.String("note"))
			}
			if !c.waitsOnNote {
				if r := a1.sync(0); !slices.Contains(r.Rebase, string(id)) {
					t.Fatalf("a phone holding the note was not sent it to replace its copy: rebase %v", r.Rebase)
				}
			}
			e.converged(id, a1, a2)
			if c.waitsOnNote {
				for _, p := range []*phone{a1, a2, other} {
					p.reportCursor()
				}
				e.compactOnce(1)
				e.converged(id, a1, a2)
			}
		})
	}
}

// releaseAll has the team's supervisor release every open item refused for
// a fast clock (the store's clock has caught up), oldest first, until none
// can be: an item whose dependencies are still quarantined is released in a
// later round. It returns how many were released.
func (e *env) releaseAll() int {
	e.t.Helper()
	sup, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	released := 0
	for progress := true; progress; {
		progress = false
		open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true})
		e.must(err)
		slices.SortFunc(open, func(a, b domain.QuarantineItem) int { return int(a.ID - b.ID) })
		for _, q := range open {
			if q.Code == domain.EMISSINGDEP {
				continue // held: retried by the server itself
			}
			switch err := e.s.ReviewQuarantine(e.ctx, q.ID, sup, domain.ResolutionRelease); domain.ErrorCode(err) {
			case "":
				released++
				progress = true
			case domain.EMISSINGDEP:
			default:
				e.t.Fatalf("release of %+v: %v", q, err)
			}
		}
	}
	return released
}

// Random histories (seeded), as TextCompactionRandomHistories, where phones'
// clocks sometimes run fast: those saves, and the saves after them that
// depend on them, are quarantined or held (and the phone sometimes drops
// them, as the SDK does, and saves past them), while the others go on editing
// and the server compacts the note's text whenever it may; now and then
// the clock catches up and the supervisor releases what waits. In the end
// nothing waits, every phone shows the server's note, and the note holds
// exactly the characters typed and never deleted.
func testTextCompactionWithQuarantineRandom(t *testing.T, e *env) {
	phones := []*phone{e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_a")}
	compacted, quarantined, released := 0, 0, 0
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1234))
		id := phones[0].encounter("team_a", "Notes: ")
		for _, p := range phones {
			p.syncAll(0)
			p.made = nil
		}
		for step := 0; step < 120; step++ {
			p := phones[rng.IntN(len(phones))]
			switch k := rng.IntN(20); {
			case k < 11:
				if rng.IntN(8) == 0 {
					p.skew = fastClock
				}
				p.randomNoteEdit(id, rng, 3)
				p.skew = 0
			case k < 15:
				refused := 0
				for _, r := range p.syncAll(0) {
					refused += r.Quarantined
				}
				quarantined += refused
				if refused > 0 && rng.IntN(2) == 0 {
					p.dropRefused(id) // as the SDK does; or kept, as an older phone
				}
			case k < 17:
				p.reportCursor()
			case k < 19:
				for _, q := range phones {
					q.reportCursor()
				}
				res, err := e.s.CompactText(e.ctx, 0, 0)
				e.must(err)
				compacted += res.Dropped
			default:
				e.advance(fastClock + time.Hour)
				released += e.releaseAll()
			}
		}
		e.advance(fastClock + time.Hour)
		for _, p := range phones {
			p.syncAll(0)
		}
		released += e.releaseAll()
		if open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true}); err != nil || len(open) != 0 {
			t.Fatalf("seed %d: still waiting at the end: %+v %v", seed, open, err)
		}
		e.converged(id, phones...)
	}
	if compacted == 0 || quarantined == 0 || released == 0 {
		t.Fatalf("%d tombstones compacted, %d saves quarantined or held, %d released: the test tests too little", compacted, quarantined, released)
	}
	t.Logf("%d tombstones compacted, %d saves quarantined or held, %d released", compacted, quarantined, released)
}

// dropRefused does what the SDK does when a save is refused (quarantined
// or held): its copies of the records it touched are replaced with the
// server's, which lack the save, and later saves are typed on those.
func (p *phone) dropRefused(ids ...syncengine.RecordID) {
	p.e.t.Helper()
	for _, id := range ids {
		rec, err := p.e.s.RecordState(p.e.ctx, string(id))
		p.e.must(err)
		if rec == nil {
			p.store.Drop(id)
		} else {
			p.store.Put(rec)
		}
	}
}

// A save kept aside (quarantined for a fast clock, or held for a
// dependency) while its phone, having dropped it as the SDK does, goes on
// editing the same note: the later saves are accepted first. When the kept
// save is finally applied (released, or its dependency arrives), all of it
// is applied, though the note already holds later saves of the same phone:
// nothing it typed is lost, and every phone ends with the server's note.
// With and without a text compaction in between.
func testKeptAsideSaveAfterLaterSaves(t *testing.T, e *env) {
	for _, c := range []struct {
		name             string
		held, compaction bool
	}{
		{name: "quarantined"},
		{name: "quarantined, compacted meanwhile", compaction: true},
		{name: "held", held: true},
		{name: "held, compacted meanwhile", held: true, compaction: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := e.sub(t)
			a1, a2, other, id, mid := lateNote(e)
			var first *syncengine.Changeset
			var other2 syncengine.RecordID
			if c.held {
				first = a2.edit(func(tx *syncengine.Txn) (err error) {
					if other2, err = tx.Create(syncengine.TypeEncounter); err != nil {
						return err
					}
					return set(tx, other2, "team_id", "team_a", "area", "the park", "started_at", e.now.Add(-time.Hour))
				})
				a2.outbox = nil // lost on the way, for now
			} else {
				a2.skew = fastClock
			}
			a2.edit(func(tx *syncengine.Txn) error {
				if c.held {
					if err := tx.Set(other2, "area", "the park, by the gate"); err != nil {
						return err
					}
				}
				return tx.InsertText(id, "note", mid, "LATE")
			})
			a2.skew = 0
			if r := a2.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined {
				t.Fatalf("the save kept aside: %+v", r.Results)
			}
			a2.dropRefused(id)
			if c.compaction {
				rubOut(a1, id, mid, a1, a2, other)
				e.compactOnce(1)
			}
			if !c.held {
				e.advance(fastClock + time.Hour)
			}
			// The phone goes on editing the note; those saves are accepted.
			a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "Then: ") })
			if r := a2.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
				t.Fatalf("a later save: %+v", r.Results)
			}
			if c.held {
				a2.outbox = []*syncengine.Changeset{first}
				a2.sync(0)
			} else {
				e.releaseAll()
			}
			if open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true}); err != nil || len(open) != 0 {
				t.Fatalf("still kept aside: %+v %v", open, err)
			}
			stored, err := e.s.RecordState(e.ctx, string(id))
			e.must(err)
			if !strings.Contains(stored.String("note"), "LATE") || !strings.HasPrefix(stored.String("note"), "Then: ") {
				t.Fatalf("the note lost a save: %q", stored.String("note"))
			}
			e.converged(id, a1, a2)
		})
	}
}

// A review is decided where the save's records are filed now, not where
// they were when it was refused. A worker adds to a follow-up while its
// young person is transferred to another team; the save is refused, and
// that team's supervisor, whose record it then wrote into, may see and
// discard it. Once the young person is transferred back, that supervisor
// may neither discard nor release it (the worker's save to a record their
// team no longer holds is not theirs to decide), nor find it (see
// QuarantineListedWhereFiledNow), and the item stays open; the home team's
// supervisor may.
func testReviewDecidedWhereFiledNow(t *testing.T, e *env) {
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "sup_b", Name: "Bea Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"},
	}))
	supA, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	supB, err := e.s.Person(e.ctx, "sup_b")
	e.must(err)
	transfer := func(from, to domain.Person, yp syncengine.RecordID, team string) {
		t.Helper()
		tr, err := e.s.StartTransfer(e.ctx, from, string(yp), team, "")
		e.must(err)
		_, err = e.s.DecideTransfer(e.ctx, to, tr.ID, domain.DecisionAccept)
		e.must(err)
	}
	for _, resolution := range []string{domain.ResolutionDiscard, domain.ResolutionRelease} {
		ph := e.enrolPhone("w_a")
		yp, fu := ph.followUpOfTeamA()
		ph.edit(func(tx *syncengine.Txn) error { return tx.InsertText(fu, "note", 9, " Wants help with a tenancy.") })
		transfer(supA, supB, yp, "team_b")
		if r := ph.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != domain.EFORBIDDEN {
			t.Fatalf("a save to a follow-up transferred away: %+v", r.Results)
		}
		item := e.openItemOf(ph)
		if _, err := e.s.QuarantineItem(e.ctx, item.ID, supB); err != nil {
			t.Fatalf("the supervisor of the team it wrote into does not see it: %v", err)
		}

		transfer(supB, supA, yp, "team_a")
		// Nor may it read what the worker wrote about a young person its
		// team no longer holds, nor even find the item; the home
		// supervisor reads it.
		if _, err := e.s.QuarantineItem(e.ctx, item.ID, supB); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("after the transfer back, the supervisor of the team the young person left opens the item: %v, want not found", err)
		}
		d, err := e.s.QuarantineItem(e.ctx, item.ID, supA)
		e.must(err)
		if !strings.Contains(fmt.Sprintf("%+v", d.Changes), "tenancy") || len(d.Changes) != 1 {
			t.Fatalf("after the transfer back, the home supervisor does not read the refused words: %+v", d.Changes)
		}
		for _, res := range []string{domain.ResolutionDiscard, domain.ResolutionRelease} {
			if err := e.s.ReviewQuarantine(e.ctx, item.ID, supB, res); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Fatalf("%s by the supervisor of the team the young person left: %v, want not found", res, err)
			}
		}
		if e.openItemOf(ph).ID != item.ID {
			t.Fatal("a refused review closed the item")
		}
		e.must(e.s.ReviewQuarantine(e.ctx, item.ID, supA, resolution))
		want := map[string]string{domain.ResolutionDiscard: "Check in.", domain.ResolutionRelease: "Check in. Wants help with a tenancy."}[resolution]
		if rec, err := e.s.RecordState(e.ctx, string(fu)); err != nil || rec.String("note") != want {
			t.Fatalf("%s by the home supervisor: the note is %q (%v), want %q", resolution, rec.String("note"), err, want)
		}
	}
}
