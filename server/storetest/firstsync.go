package storetest

import (
	"bytes"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// history is a team's records across time: a young person, an encounter
// of this week and one of twenty weeks ago, an open and a done follow-up.
type history struct {
	yp, recent, old, open, done syncengine.RecordID
}

func (e *env) history(a *phone) history {
	e.t.Helper()
	var h history
	a.edit(func(tx *syncengine.Txn) (err error) {
		if h.yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, h.yp, "team_id", "team_a", "known_as", "Jay", "age_band", "14-15")
	})
	followUp := func(id *syncengine.RecordID, status string) {
		a.edit(func(tx *syncengine.Txn) (err error) {
			if *id, err = tx.Create(syncengine.TypeFollowUp); err != nil {
				return err
			}
			return set(tx, *id, "team_id", "team_a", "young_person_id", string(h.yp), "assignee", "w_a", "due_at", e.now.Add(24*time.Hour), "status", status)
		})
	}
	h.old = a.encounter("team_a", "Back in the autumn.")
	a.edit(func(tx *syncengine.Txn) error { return tx.Add(h.old, "young_people", string(h.yp)) })
	followUp(&h.done, "done")
	a.syncAll(0)
	// Ten weeks on: the open follow-up is as old, but still open.
	followUp(&h.open, "open")
	a.syncAll(0)
	e.advance(10 * 7 * 24 * time.Hour)
	h.recent = a.encounter("team_a", "This week by the shops.")
	a.syncAll(0)
	return h
}

func (p *phone) fetch(req domain.FetchRequest) (*domain.FetchResult, error) {
	p.e.t.Helper()
	dev, person, err := p.e.s.Authenticate(p.e.ctx, p.enrol.Credential)
	p.e.must(err)
	req.Device, req.Person = dev, person
	res, err := p.e.s.Fetch(p.e.ctx, req)
	if err != nil {
		return nil, err
	}
	for _, b := range res.Snapshots {
		recs, err := syncengine.DecodeSnapshot(b)
		p.e.must(err)
		for _, r := range recs {
			if have := p.record(r.ID); have == nil || !have.VV.Covers(r.VV) {
				p.store.Put(r)
			}
		}
	}
	return res, nil
}

func (e *env) sameAsStore(p *phone, id syncengine.RecordID) {
	e.t.Helper()
	want, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	got := p.record(id)
	if got == nil || !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(want)) {
		e.t.Fatalf("phone's %s differs from the store's:\nphone %+v\nstore %+v", id, got, want)
	}
}

// A new phone that asks for the field subset receives the young people,
// open follow-ups and recent encounters, not the old ones; its progress
// reaches its total on the last page. A phone that does not ask (one from
// before the subset) still receives everything.
func testFirstSyncFieldSubset(t *testing.T, e *env) {
	h := e.history(e.enrolPhone("w_a"))
	b := e.enrolPhone("w_a")
	b.fieldWeeks = 4
	pages := b.syncAll(300)
	if len(pages) < 2 {
		t.Fatalf("%d pages, want several at 300 bytes", len(pages))
	}
	for _, id := range []syncengine.RecordID{h.yp, h.recent, h.open} {
		if b.record(id) == nil {
			t.Errorf("the field subset lacks %s", id)
		}
	}
	for _, id := range []syncengine.RecordID{h.old, h.done} {
		if b.record(id) != nil {
			t.Errorf("the field subset carries old record %s", id)
		}
	}
	if !b.partial || b.since <= 0 {
		t.Errorf("the subset was not marked partial (since %d)", b.since)
	}
	var last float64 = -1
	for i, p := range pages {
		if p.Progress == nil || p.Progress.Total != 3 {
			t.Fatalf("page %d progress %+v, want a total of 3", i, p.Progress)
		}
		f := float64(p.Progress.Done) / float64(p.Progress.Total)
		if f < last {
			t.Errorf("progress went back: %v after %v", f, last)
		}
		last = f
	}
	if last != 1 {
		t.Errorf("progress ended at %v, want 1", last)
	}

	old := e.enrolPhone("w_a")
	old.syncAll(300)
	for _, id := range []syncengine.RecordID{h.yp, h.recent, h.old, h.open, h.done} {
		if old.record(id) == nil {
			t.Errorf("a phone that did not ask for the subset lacks %s", id)
		}
	}
	if old.partial {
		t.Error("a whole snapshot was marked partial")
	}
}

// Changes to records a partial phone does not hold are not lost: a fetch
// brings them; once fetched, a record follows the log like any other; a
// changeset touching a held and an unheld record reaches the held one.
func testFetchedRecordsFollow(t *testing.T, e *env) {
	a := e.enrolPhone("w_a")
	h := e.history(a)
	b := e.enrolPhone("w_a")
	b.fieldWeeks = 4
	b.syncAll(0)

	// One save edits the old encounter (which b lacks) and the young person.
	a.edit(func(tx *syncengine.Txn) error {
		if err := tx.InsertText(h.old, "note", 0, "Looked back: "); err != nil {
			return err
		}
		return tx.Set(h.yp, "area", "Northgate estate")
	})
	a.syncAll(0)
	b.syncAll(0)
	e.sameAsStore(b, h.yp)
	if b.record(h.old) != nil {
		t.Fatal("a pull gave the phone a record it never held")
	}

	if _, err := b.fetch(domain.FetchRequest{IDs: []string{string(h.old)}}); err != nil {
		t.Fatal(err)
	}
	e.sameAsStore(b, h.old)
	a.edit(func(tx *syncengine.Txn) error { return tx.InsertText(h.old, "note", 0, "Again: ") })
	a.syncAll(0)
	b.syncAll(0)
	e.sameAsStore(b, h.old)

	// A young person's history brings their follow-ups whatever their age.
	c := e.enrolPhone("w_a")
	c.fieldWeeks = 4
	c.syncAll(0)
	res, err := c.fetch(domain.FetchRequest{YoungPerson: string(h.yp)})
	e.must(err)
	if !slices.Contains(res.SentRecords, string(h.done)) || !slices.Contains(res.SentRecords, string(h.open)) || !slices.Contains(res.SentRecords, string(h.old)) {
		t.Fatalf("history sent %v, want both follow-ups and the old encounter", res.SentRecords)
	}
	if slices.Contains(res.SentRecords, string(h.recent)) {
		t.Fatalf("history sent %v, with an encounter that did not meet them", res.SentRecords)
	}
	e.sameAsStore(c, h.done)
	// Who an encounter met can change: the history follows.
	a.edit(func(tx *syncengine.Txn) error { return tx.Remove(h.old, "young_people", string(h.yp)) })
	a.edit(func(tx *syncengine.Txn) error { return tx.Add(h.recent, "young_people", string(h.yp)) })
	a.syncAll(0)
	res, err = c.fetch(domain.FetchRequest{YoungPerson: string(h.yp)})
	e.must(err)
	if slices.Contains(res.SentRecords, string(h.old)) || !slices.Contains(res.SentRecords, string(h.recent)) {
		t.Fatalf("after the links changed, history sent %v", res.SentRecords)
	}
	// The background pass (RefreshLinks) files links as a fetch does: moved
	// back, with a pass between the save and the fetch, and one before the
	// save that the fetch must not trust past.
	e.must(e.s.RefreshLinks(e.ctx))
	a.edit(func(tx *syncengine.Txn) error { return tx.Add(h.old, "young_people", string(h.yp)) })
	a.edit(func(tx *syncengine.Txn) error { return tx.Remove(h.recent, "young_people", string(h.yp)) })
	a.syncAll(0)
	e.must(e.s.RefreshLinks(e.ctx))
	res, err = c.fetch(domain.FetchRequest{YoungPerson: string(h.yp)})
	e.must(err)
	if !slices.Contains(res.SentRecords, string(h.old)) || slices.Contains(res.SentRecords, string(h.recent)) {
		t.Fatalf("after the links changed back and were filed in the background, history sent %v", res.SentRecords)
	}

	// A phone that held everything keeps converging.
	full := e.enrolPhone("w_a")
	full.syncAll(0)
	a.edit(func(tx *syncengine.Txn) error { return tx.InsertText(h.done, "note", 0, "Closed off. ") })
	a.syncAll(0)
	full.syncAll(0)
	for _, id := range []syncengine.RecordID{h.yp, h.recent, h.old, h.open, h.done} {
		e.sameAsStore(full, id)
	}
}

// Another team's record, another team's young person's history and a
// record that does not exist are all answered not_found, alike; each
// refusal is on the audit log, and a fetch that sent records is audited as
// a pull is.
func testFetchScoped(t *testing.T, e *env) {
	h := e.history(e.enrolPhone("w_a"))
	mallory := e.enrolPhone("w_b")
	for _, tc := range []struct {
		name string
		req  domain.FetchRequest
		id   string
	}{
		{"another team's record", domain.FetchRequest{IDs: []string{string(h.old)}}, string(h.old)},
		{"another team's young person's history", domain.FetchRequest{YoungPerson: string(h.yp)}, string(h.yp)},
		{"a record that does not exist", domain.FetchRequest{IDs: []string{"no_such_record"}}, "no_such_record"},
		{"one of mine and one of theirs", domain.FetchRequest{IDs: []string{string(h.old)}}, string(h.old)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := mallory.fetch(tc.req)
			if domain.ErrorCode(err) != domain.ENOTFOUND || res != nil {
				t.Fatalf("got %v, %v; want not_found and nothing", res, err)
			}
			if domain.ErrorMessage(err) != "record not found" {
				t.Errorf("message %q tells more than not found", domain.ErrorMessage(err))
			}
			audit, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: mallory.enrol.DeviceID, Action: domain.ActionRefused})
			e.must(err)
			if !slices.ContainsFunc(audit, func(a domain.AuditEntry) bool { return a.RecordID == tc.id }) {
				t.Errorf("refused fetch of %s not audited: %+v", tc.id, audit)
			}
		})
	}
	if mallory.record(h.old) != nil || mallory.record(h.yp) != nil {
		t.Fatal("another team's records reached the phone")
	}
	prac := e.enrolPhone("prac_h")
	if _, err := prac.fetch(domain.FetchRequest{IDs: []string{string(h.old)}}); domain.ErrorCode(err) != domain.EFORBIDDEN {
		t.Errorf("a service's fetch: %v, want forbidden", err)
	}

	b := e.enrolPhone("w_a")
	b.fieldWeeks = 4
	b.syncAll(0)
	if _, err := b.fetch(domain.FetchRequest{IDs: []string{string(h.old)}}); err != nil {
		t.Fatal(err)
	}
	audit, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: b.enrol.DeviceID, Action: "sync"})
	e.must(err)
	if !slices.ContainsFunc(audit, func(a domain.AuditEntry) bool {
		recs, _ := a.Detail["records"].([]any)
		return a.Detail["op"] == "fetch" && slices.Contains(recs, any(string(h.old)))
	}) {
		t.Errorf("the fetch is not on the audit log as a read of %s: %+v", h.old, audit)
	}
}

// In the background a partial phone pages through the rest; at the end it
// holds what a whole snapshot would, and progress reaches its total.
func testFetchRest(t *testing.T, e *env) {
	h := e.history(e.enrolPhone("w_a"))
	b := e.enrolPhone("w_a")
	b.fieldWeeks = 4
	b.syncAll(0)
	after, pages := "", 0
	var last *domain.FetchResult
	for {
		res, err := b.fetch(domain.FetchRequest{Rest: true, Since: b.since, Seq: b.seq, After: after, PageBytes: 1024})
		e.must(err)
		pages++
		if res.Progress == nil || res.Progress.Total != 2 {
			t.Fatalf("rest progress %+v, want a total of 2", res.Progress)
		}
		after, last = res.After, res
		if !res.More {
			break
		}
		if pages > 10 {
			t.Fatal("the rest never ended")
		}
	}
	if last.Progress.Done != last.Progress.Total {
		t.Errorf("progress ended at %+v", last.Progress)
	}
	for _, id := range []syncengine.RecordID{h.yp, h.recent, h.old, h.open, h.done} {
		e.sameAsStore(b, id)
	}
	if _, err := b.fetch(domain.FetchRequest{Rest: true}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("rest without since: %v, want invalid", err)
	}
}

// Every phone receives the service directory, again only when it changed.
func testDirectory(t *testing.T, e *env) {
	for _, who := range []string{"w_a", "prac_h"} {
		p := e.enrolPhone(who)
		r := p.sync(0)
		if r.Directory == nil || len(r.Directory.Services) != 1 || r.Directory.Services[0].Name != "Housing" {
			t.Fatalf("%s: first sync's directory %+v", who, r.Directory)
		}
		if r := p.sync(0); r.Directory != nil {
			t.Fatalf("%s: directory sent again unchanged", who)
		}
	}
	p := e.enrolPhone("w_a")
	p.sync(0)
	v := p.dir.Version
	e.must(e.s.UpsertService(e.ctx, domain.Service{ID: "svc_food", Name: "Food bank", Kind: "food_bank", TZ: "Europe/London", Pathway: "Call first."}))
	r := p.sync(0)
	if r.Directory == nil || r.Directory.Version == v || len(r.Directory.Services) != 2 {
		t.Fatalf("after a new service: %+v", r.Directory)
	}
	svc, err := e.s.Service(e.ctx, "svc_housing")
	e.must(err)
	svc.Contact = "01234 567890"
	e.must(e.s.UpsertService(e.ctx, svc))
	r = p.sync(0)
	if r.Directory == nil || !slices.ContainsFunc(r.Directory.Services, func(s protocol.DirectoryService) bool { return s.Contact == "01234 567890" }) {
		t.Fatalf("an edited service did not reach the phone: %+v", r.Directory)
	}
}

// A phone receives its own teams' roster (the active workers and
// supervisors it may name as present at an encounter), again only when it
// changed: a worker who joins appears, one who moves to another team or is
// deactivated disappears at the next sync. Another team's people never
// appear, whatever roster version the request names; a service's phone
// gets an empty roster.
func testRoster(t *testing.T, e *env) {
	names := func(r *protocol.Roster) []string {
		var out []string
		for _, p := range r.Workers {
			out = append(out, p.ID+" "+p.Name)
		}
		return out
	}
	want := func(who string, r *protocol.Roster, ids ...string) {
		t.Helper()
		if r == nil {
			t.Fatalf("%s: no roster sent", who)
		}
		got := names(r)
		if len(got) != len(ids) {
			t.Fatalf("%s: roster %v, want %v", who, got, ids)
		}
		for i, id := range ids {
			if !strings.HasPrefix(got[i], id+" ") {
				t.Fatalf("%s: roster %v, want %v (by name)", who, got, ids)
			}
		}
	}
	a, b, svc := e.enrolPhone("w_a"), e.enrolPhone("w_b"), e.enrolPhone("prac_h")
	want("team A's worker", a.sync(0).Roster, "sup_a", "w_a") // Alex Supervisor, Robin Worker
	want("team B's worker", b.sync(0).Roster, "w_b")
	if r := svc.sync(0).Roster; r == nil || len(r.Workers) != 0 {
		t.Fatalf("a service's phone got a roster: %+v", r)
	}
	if r := a.sync(0); r.Roster != nil {
		t.Fatalf("roster sent again unchanged: %+v", r.Roster)
	}
	// Naming another team's roster version changes nothing of what is sent.
	a.roster = &protocol.Roster{Version: b.roster.Version}
	want("team A's worker naming team B's version", a.sync(0).Roster, "sup_a", "w_a")

	// A supervisor of both teams is on both rosters.
	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "sup_b", Name: "Bo Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b",
		Supervises: []string{"team_a", "team_b"}, TZ: "Europe/London"}))
	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "w_a3", Name: "Casey Worker", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"}))
	want("after two joined", a.sync(0).Roster, "sup_a", "sup_b", "w_a3", "w_a")
	want("team B after its supervisor took on team A", b.sync(0).Roster, "sup_b", "w_b")

	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "w_a3", Name: "Casey Worker", Role: domain.RoleWorker, TeamID: "team_b", TZ: "Europe/London"}))
	want("after a worker moved to team B", a.sync(0).Roster, "sup_a", "sup_b", "w_a")
	want("team B after a worker joined from A", b.sync(0).Roster, "sup_b", "w_a3", "w_b")

	_, err := e.s.DeactivatePerson(e.ctx, "sup_b", "sup_a")
	e.must(err)
	want("after a supervisor was deactivated", a.sync(0).Roster, "sup_a", "w_a")
}

// An encounter's workers present are the writer and the team's workers and
// supervisors, or someone who has left the team since (a phone offline
// recorded them); another team's worker is quarantined.
func testWorkersPresent(t *testing.T, e *env) {
	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "w_moved", Name: "Moved Worker", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"}))
	e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "w_moved", Name: "Moved Worker", Role: domain.RoleWorker, TeamID: "team_b", TZ: "Europe/London"}))
	a := e.enrolPhone("w_a")
	a.sync(0)
	for _, tc := range []struct {
		workers []string
		want    string
	}{
		{[]string{"w_a", "sup_a"}, protocol.StatusAccepted},
		{[]string{"w_a", "w_moved"}, protocol.StatusAccepted},
		{[]string{"w_a", "w_b"}, protocol.StatusQuarantined},
		{[]string{"prac_h"}, protocol.StatusQuarantined},
	} {
		a.edit(func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			if err := set(tx, id, "team_id", "team_a", "area", "by the skate ramp", "started_at", e.now.Add(-time.Hour)); err != nil {
				return err
			}
			for _, w := range tc.workers {
				if err := tx.Add(id, "workers", w); err != nil {
					return err
				}
			}
			return nil
		})
		r := a.sync(0)
		if len(r.Results) != 1 || r.Results[0].Status != tc.want {
			t.Fatalf("workers %v: %+v, want %s", tc.workers, r.Results, tc.want)
		}
		if tc.want == protocol.StatusQuarantined {
			// The phone's replica holds the refused change: start afresh.
			a = e.enrolPhone("w_a")
			a.sync(0)
		}
	}
}

// Random edits to old and recent records, interleaved with a partial
// phone's pulls and fetches: every record the phone holds always matches
// the store's after a pull, and once it has fetched the rest it holds
// exactly what a whole snapshot would.
func testPartialPhoneConverges(t *testing.T, e *env) {
	a := e.enrolPhone("w_a")
	h := e.history(a)
	rng := mrand.New(mrand.NewPCG(12, 34))
	ids := []syncengine.RecordID{h.yp, h.recent, h.old, h.open, h.done}
	b := e.enrolPhone("w_a")
	b.fieldWeeks = 4
	b.syncAll(0)
	for round := range 40 {
		switch k := rng.IntN(10); {
		case k < 5:
			id := ids[rng.IntN(len(ids))]
			a.edit(func(tx *syncengine.Txn) error {
				if id == h.yp {
					return tx.Set(id, "area", noise(round, 12))
				}
				if err := tx.InsertText(id, "note", 0, noise(round, 8)); err != nil {
					return err
				}
				// Sometimes the same save touches a second record.
				if other := ids[rng.IntN(len(ids))]; other != id && other != h.yp && rng.IntN(2) == 0 {
					return tx.InsertText(other, "note", 0, "+")
				}
				return nil
			})
		case k < 7:
			a.encounter("team_a", noise(round, 20))
		case k < 8:
			id := ids[rng.IntN(len(ids))]
			if _, err := b.fetch(domain.FetchRequest{IDs: []string{string(id)}}); err != nil {
				t.Fatal(err)
			}
		}
		a.syncAll(0)
		b.syncAll(0)
		for _, r := range b.store.Records() {
			e.sameAsStore(b, r.ID)
		}
	}
	for after := ""; ; {
		res, err := b.fetch(domain.FetchRequest{Rest: true, Since: b.since, Seq: b.seq, After: after, PageBytes: 2048})
		e.must(err)
		if after = res.After; !res.More {
			break
		}
	}
	whole := e.enrolPhone("w_a")
	whole.syncAll(0)
	if got, want := len(b.store.Records()), len(whole.store.Records()); got != want {
		t.Fatalf("after the rest the partial phone holds %d records, a whole snapshot %d", got, want)
	}
	for _, r := range whole.store.Records() {
		e.sameAsStore(b, r.ID)
	}
}

// People move between teams and back, and stop and start supervising a
// team more than once: each move is an ordinary edit, however often a
// team was left before (the record of past teams already holds it).
func testPeopleMoveBackAndForth(t *testing.T, e *env) {
	for i, team := range []string{"team_a", "team_b", "team_a", "team_b", "team_a"} {
		e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "w_mover", Name: "Mo Mover", Email: "mo@example.org", Role: domain.RoleWorker,
			TeamID: team, TZ: "Europe/London"}))
		sup := []string{"team_a"}
		if i%2 == 1 {
			sup = []string{"team_b"}
		}
		e.must(e.s.UpsertPerson(e.ctx, domain.Person{ID: "sup_mover", Name: "Sam Mover", Email: "sam@example.org", Role: domain.RoleSupervisor,
			TeamID: "team_a", Supervises: sup, TZ: "Europe/London"}))
	}
}
