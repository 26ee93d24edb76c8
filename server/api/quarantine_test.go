package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// addSupB adds team B's supervisor (supb@example.org, password "pw").
func (e *env) addSupB() {
	e.t.Helper()
	sup := personOf(e.t.(*testing.T), e, "sup_a")
	must(e.t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "sup_b", Name: "Sup B", Email: "supb@example.org",
		Role: "supervisor", TeamID: "team_b", Supervises: []string{"team_b"}, PasswordHash: sup.PasswordHash}))
}

// openQuarantine returns the open quarantine items, unscoped (the test's view).
func (e *env) openQuarantine() []domain.QuarantineItem {
	e.t.Helper()
	q, err := e.db.Quarantine(context.Background(), domain.QuarantineFilter{Open: true})
	must(e.t, err)
	return q
}

// mirror copies another phone's record into p's local store, as a phone
// that once held it (or a hostile client that read it elsewhere) would have it.
func (p *phone) mirror(from *phone, id syncengine.RecordID) {
	r, _ := from.store.Record(id)
	if r == nil {
		p.e.t.Fatalf("%s does not hold %s", from.person, id)
	}
	p.store.Put(r.Clone())
}

// TestQuarantineReleaseCannotCrossTeams: a supervisor of team A erases a
// team B encounter from their own phone; it is quarantined. Nobody can
// release it: not they, nor team B's supervisor, nor an admin (release
// re-runs the policy for the pusher, who has no right to team B's record);
// a supervisor of an uninvolved team does not even see it; the record
// survives.
func TestQuarantineReleaseCannotCrossTeams(t *testing.T) {
	e := newEnv(t)
	e.addSupB()
	must(t, e.db.UpsertTeam(context.Background(), domain.Team{ID: "team_c", AreaID: "north", Name: "C"}))
	sup := personOf(t, e, "sup_a")
	must(t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "sup_c", Name: "Sup C", Email: "supc@example.org",
		Role: "supervisor", TeamID: "team_c", Supervises: []string{"team_c"}, PasswordHash: sup.PasswordHash}))
	wb, supA := e.enrolPhone("w_b"), e.enrolPhone("sup_a")
	wb.syncAll()
	supA.syncAll()
	enc := wb.newEncounter("team_b", "team B's note")
	wb.syncAll()
	supA.mirror(wb, enc)
	supA.edit(func(tx *syncengine.Txn) error { return tx.Erase(enc, "hostile") })
	if r := supA.sync(0); r.Results[0].Status != "quarantined" || r.Results[0].Code != "forbidden" {
		t.Fatalf("cross-team erase: %s", r.raw)
	}
	q := e.openQuarantine()
	if len(q) != 1 {
		t.Fatalf("quarantine = %+v", q)
	}
	id := q[0].ID
	review := fmt.Sprintf("/v1/admin/quarantine/%d/review", id)
	release := []byte(`{"resolution":"release"}`)
	e.run(t, []scenario{
		{name: "uninvolved supervisor does not list it", method: "GET", url: "/v1/admin/quarantine", headers: basic("supc@example.org"), wantStatus: 200, wantNotContains: []string{fmt.Sprintf(`"id":%d`, id)}},
		{name: "uninvolved supervisor cannot open it", method: "GET", url: fmt.Sprintf("/v1/admin/quarantine/%d", id), headers: basic("supc@example.org"), wantStatus: 404, wantCode: "not_found"},
		{name: "uninvolved supervisor cannot release it", method: "POST", url: review, headers: basic("supc@example.org"), body: release, wantStatus: 404, wantCode: "not_found"},
		{name: "team B supervisor sees the attempt on their record", method: "GET", url: fmt.Sprintf("/v1/admin/quarantine/%d", id), headers: basic("supb@example.org"), wantStatus: 200, wantContains: []string{`"erase":true`}},
		{name: "team B supervisor's release is refused", method: "POST", url: review, headers: basic("supb@example.org"), body: release, wantStatus: 403, wantCode: "forbidden"},
		{name: "pusher lists it", method: "GET", url: "/v1/admin/quarantine", headers: basic("sup@example.org"), wantStatus: 200, wantContains: []string{fmt.Sprintf(`"id":%d`, id)}},
		{name: "pusher does not see team B's values", method: "GET", url: fmt.Sprintf("/v1/admin/quarantine/%d", id), headers: basic("sup@example.org"), wantStatus: 200, wantNotContains: []string{"team B's note"}},
		{name: "pusher's release is refused", method: "POST", url: review, headers: basic("sup@example.org"), body: release, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin's release is refused too", method: "POST", url: review, headers: basic("admin@example.org"), body: release, wantStatus: 403, wantCode: "forbidden"},
		{name: "forged id", method: "POST", url: "/v1/admin/quarantine/999999/review", headers: basic("admin@example.org"), body: release, wantStatus: 404, wantCode: "not_found"},
	})
	rec, err := e.db.RecordState(context.Background(), string(enc))
	must(t, err)
	if rec == nil || rec.Erased != nil || rec.String("note") != "team B's note" {
		t.Fatalf("team B's encounter after the release attempts: %+v", rec)
	}
	if q := e.openQuarantine(); len(q) != 1 {
		t.Fatalf("a refused release must leave the item open: %+v", q)
	}
}

// TestQuarantineReleaseRechecksAsOfNow: a worker's write into another team
// is quarantined; once the worker has moved to that team, their supervisor
// may release it (the policy, re-run for the pusher as of now, allows it).
func TestQuarantineReleaseRechecksAsOfNow(t *testing.T) {
	e := newEnv(t)
	e.addSupB()
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	a.syncAll()
	enc := a.newEncounter("team_a", "start")
	a.syncAll()
	b.mirror(a, enc)
	b.edit(func(tx *syncengine.Txn) error {
		if err := tx.Set(enc, "concern_level", "high"); err != nil {
			return err
		}
		return tx.InsertText(enc, "note", len("start"), " and more")
	})
	if r := b.sync(0); r.Results[0].Status != "quarantined" {
		t.Fatalf("cross-team write: %s", r.raw)
	}
	id := e.openQuarantine()[0].ID
	url := fmt.Sprintf("/v1/admin/quarantine/%d", id)
	e.run(t, []scenario{
		{name: "team A supervisor sees the write into their team", method: "GET", url: url, headers: basic("sup@example.org"), wantStatus: 200, wantContains: []string{`"before":"start"`}},
		{name: "diff shows what would change", method: "GET", url: url, headers: basic("supb@example.org"), wantStatus: 200,
			wantContains: []string{`"field":"concern_level"`, `"after":"high"`, `"inserted":" and more"`, `"record_id":"` + string(enc)},
			// The record belongs to team A: its current values are not team B's supervisor's to see.
			wantNotContains: []string{`"before":"start"`, `"body"`}},
		{name: "admin sees the before values", method: "GET", url: url, headers: basic("admin@example.org"), wantStatus: 200,
			wantContains: []string{`"before":"start"`, `"after":"start and more"`}},
		{name: "still refused while the worker is in team B", method: "POST", url: url + "/review", headers: basic("supb@example.org"), body: []byte(`{"resolution":"release"}`), wantStatus: 403, wantCode: "forbidden"},
	})
	must(t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "w_b", Name: "Worker B", Role: "worker", TeamID: "team_a"}))
	e.run(t, []scenario{
		{name: "released once the worker is in team A", method: "POST", url: url + "/review", headers: basic("sup@example.org"), body: []byte(`{"resolution":"release"}`), wantStatus: 200},
	})
	rec, _ := e.db.RecordState(context.Background(), string(enc))
	if rec.String("concern_level") != "high" || rec.String("note") != "start and more" {
		t.Fatalf("released values not applied: %v", rec.Values())
	}
}

// TestQuarantineKeyedByDevice: a hostile device pushes a changeset forged
// with another phone's replica id and counter; the victim's real changeset
// with the same (replica, start) must still be accepted.
func TestQuarantineKeyedByDevice(t *testing.T) {
	e := newEnv(t)
	victim, hostile := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	victim.syncAll()
	hostile.syncAll()
	id, err := syncengine.ParseReplicaID(victim.enrol.ReplicaID)
	must(t, err)
	forger, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return e.now }, Rand: phoneRand(id), Store: syncengine.NewMemStore()})
	must(t, err)
	forged, err := forger.Edit("w_b", func(tx *syncengine.Txn) error {
		r, err := tx.Create(syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		must(t, tx.Set(r, "area", "forged"))
		must(t, tx.Set(r, "started_at", e.now.Add(-time.Hour)))
		return tx.Set(r, "team_id", "team_b")
	})
	must(t, err)
	hostile.outbox = []*syncengine.Changeset{forged}
	hostile.sync(0)
	real := victim.newEncounter("team_a", "the victim's save")
	if victim.outbox[0].Start != forged.Start {
		t.Fatalf("test setup: starts differ %d %d", victim.outbox[0].Start, forged.Start)
	}
	if r := victim.sync(0); r.status != 200 || r.Results[0].Status != "accepted" {
		t.Fatalf("victim's save after a forged push: %s", r.raw)
	}
	if rec, _ := e.db.RecordState(context.Background(), string(real)); rec == nil {
		t.Fatal("victim's save is not on the server")
	}
}

// heldPair returns a phone's two saves, the second depending on the first,
// without pushing them: pushing only the second holds it.
func heldPair(p *phone, note string) (first, second *syncengine.Changeset) {
	enc := p.newEncounter("team_a", note)
	second = p.edit(func(tx *syncengine.Txn) error { return tx.Set(enc, "concern_level", "high") })
	first = p.outbox[len(p.outbox)-2]
	p.outbox = nil
	return first, second
}

func (e *env) auditCount(action string) int {
	e.t.Helper()
	var n int
	must(e.t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = ?`, action).Scan(&n))
	return n
}

// TestHeldChangesetsWaitForWhatTheyNeed: a held changeset is retried when
// the changeset it waits for arrives, not on every unrelated push, and is
// audited once, when it was held.
func TestHeldChangesetsWaitForWhatTheyNeed(t *testing.T) {
	e := newEnv(t)
	a, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a.syncAll()
	a2.syncAll()
	first, second := heldPair(a, "one")
	a.outbox = []*syncengine.Changeset{second}
	if r := a.sync(0); r.Results[0].Status != "quarantined" || r.Results[0].Code != domain.EMISSINGDEP {
		t.Fatalf("held: %s", r.raw)
	}
	audited := e.auditCount(domain.ActionQuar)
	for i := range 3 {
		a2.newEncounter("team_a", fmt.Sprintf("unrelated %d", i))
		if r := a2.sync(0); r.Results[0].Status != "accepted" {
			t.Fatalf("unrelated push: %s", r.raw)
		}
	}
	if n := e.auditCount(domain.ActionQuar); n != audited {
		t.Fatalf("quarantine audit rows %d -> %d after unrelated pushes: held items were re-audited", audited, n)
	}
	a.outbox = []*syncengine.Changeset{first}
	if r := a.sync(0); r.Results[0].Status != "accepted" {
		t.Fatalf("dependency: %s", r.raw)
	}
	if q := e.openQuarantine(); len(q) != 0 {
		t.Fatalf("held changeset not released when its dependency arrived: %+v", q)
	}
	var n int
	must(t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM changesets`).Scan(&n))
	if n != 5 {
		t.Fatalf("changesets = %d, want 5", n)
	}
}

// TestHeldChangesetsBoundedPerDevice: beyond the per-device bound a held
// changeset is refused with a clear code and not stored; other devices are
// unaffected.
func TestHeldChangesetsBoundedPerDevice(t *testing.T) {
	e := newEnv(t)
	e.db.HeldMaxCount = 2
	a, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a.syncAll()
	a2.syncAll()
	var want []string
	var held []*syncengine.Changeset
	for i := range 4 {
		_, second := heldPair(a, fmt.Sprint(i))
		held = append(held, second)
		want = append(want, "quarantined")
	}
	want[2], want[3] = "refused", "refused"
	a.outbox = held
	r := a.sync(0)
	if len(r.Results) != len(want) {
		t.Fatalf("results: %s", r.raw)
	}
	for i, res := range r.Results {
		if res.Status != want[i] {
			t.Fatalf("result %d = %+v, want %s", i, res, want[i])
		}
		if res.Status == "refused" && (res.Code != domain.EHELDLIMIT || res.Message == "") {
			t.Fatalf("refusal without a clear code: %+v", res)
		}
	}
	if q := e.openQuarantine(); len(q) != 2 {
		t.Fatalf("stored %d held items, want 2", len(q))
	}
	_, second := heldPair(a2, "other device")
	a2.outbox = []*syncengine.Changeset{second}
	if r := a2.sync(0); r.Results[0].Status != "quarantined" {
		t.Fatalf("another device's held item: %s", r.raw)
	}
}

// TestRefusedBodiesAreBounded: a refused changeset larger than the per-item
// cap is kept as its digest and size only.
func TestRefusedBodiesAreBounded(t *testing.T) {
	e := newEnv(t)
	e.db.QuarantineBodyMax = 4 << 10
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	a.syncAll()
	enc := a.newEncounter("team_a", "x")
	a.syncAll()
	b.mirror(a, enc)
	// Text that does not compress: the stored body is snappy-compressed.
	rnd := rand.New(rand.NewPCG(1, 2))
	var big strings.Builder
	for range 12000 {
		big.WriteByte(byte('a' + rnd.IntN(26)))
	}
	b.edit(func(tx *syncengine.Txn) error { return tx.InsertText(enc, "note", 1, big.String()) })
	if r := b.sync(0); r.Results[0].Status != "quarantined" {
		t.Fatalf("cross-team write: %s", r.raw)
	}
	var stored, size int
	var digest []byte
	must(t, e.db.SQL().QueryRow(`SELECT COALESCE(length(body), 0), body_size, body_digest FROM quarantine`).Scan(&stored, &size, &digest))
	if stored > 4<<10 || size <= 4<<10 || len(digest) != 32 {
		t.Fatalf("stored %d bytes of a %d byte body (digest %x)", stored, size, digest)
	}
	q := e.openQuarantine()
	if q[0].BodyKept || q[0].BodySize != size {
		t.Fatalf("item = %+v", q[0])
	}
}

// TestQuarantineReleaseAfterTextCompaction: a save from a phone whose clock
// runs two hours fast is quarantined; meanwhile a teammate rubs out the text
// around it and the server compacts the note's text. Through the admin API,
// the review shows the note before and after; nobody may release it while
// the phone's clock is still ahead, nor another team's supervisor ever; the
// team's supervisor's release places the words in the compacted note, and
// both phones are sent the note to replace their copies.
func TestQuarantineReleaseAfterTextCompaction(t *testing.T) {
	e := newEnv(t)
	e.addSupB()
	ctx := context.Background()
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	enc := a1.newEncounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
	a1.syncAll()
	for i := range 40 { // revisions leave tombstones
		a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(enc, "note", 10+i%20, "x") })
		a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(enc, "note", 10+i%20, 1) })
	}
	a1.syncAll()
	a2.syncAll()
	rec, _ := a2.store.Record(enc)
	mid := len([]rune(rec.String("note"))) / 2
	e.now = e.now.Add(2 * time.Hour) // the phone's clock, not the server's
	a2.edit(func(tx *syncengine.Txn) error { return tx.InsertText(enc, "note", mid, "LATE") })
	e.now = e.now.Add(-2 * time.Hour)
	if r := a2.sync(0); r.Results[0].Status != "quarantined" || r.Results[0].Code != "invalid" {
		t.Fatalf("a save from a fast clock: %s", r.raw)
	}
	a1.edit(func(tx *syncengine.Txn) error { return tx.DeleteText(enc, "note", mid-6, 12) })
	for _, p := range []*phone{a1, a2} {
		p.syncAll()
		p.sync(0) // a device tells the server how far it pulled in its next request
	}
	res, err := e.db.CompactText(ctx, 0, 0)
	must(t, err)
	if res.Compacted != 1 {
		t.Fatalf("text compaction: %+v", res)
	}
	compacted, err := e.db.RecordState(ctx, string(enc))
	must(t, err)
	id := e.openQuarantine()[0].ID
	url := fmt.Sprintf("/v1/admin/quarantine/%d", id)
	release := []byte(`{"resolution":"release"}`)
	before, _ := json.Marshal(compacted.String("note"))
	e.run(t, []scenario{
		{name: "the review shows the compacted note before and after", method: "GET", url: url, headers: basic("sup@example.org"), wantStatus: 200,
			wantContains: []string{`"before":` + string(before), `"inserted":"LATE"`}, wantNotContains: []string{`"pending":true`}},
		{name: "another team's supervisor cannot open it", method: "GET", url: url, headers: basic("supb@example.org"), wantStatus: 404, wantCode: "not_found"},
		{name: "another team's supervisor cannot release it", method: "POST", url: url + "/review", headers: basic("supb@example.org"), body: release, wantStatus: 404, wantCode: "not_found"},
		{name: "not released while the phone's clock is ahead", method: "POST", url: url + "/review", headers: basic("sup@example.org"), body: release, wantStatus: 422, wantCode: "invalid"},
	})
	if now, _ := e.db.RecordState(ctx, string(enc)); now.String("note") != compacted.String("note") {
		t.Fatalf("a refused release changed the note")
	}
	e.now = e.now.Add(3 * time.Hour)
	e.run(t, []scenario{
		{name: "another team's supervisor still cannot release it", method: "POST", url: url + "/review", headers: basic("supb@example.org"), body: release, wantStatus: 404, wantCode: "not_found"},
		{name: "the team's supervisor releases it", method: "POST", url: url + "/review", headers: basic("sup@example.org"), body: release, wantStatus: 200},
		{name: "released once only", method: "POST", url: url + "/review", headers: basic("sup@example.org"), body: release, wantStatus: 409, wantCode: "conflict"},
	})
	stored, err := e.db.RecordState(ctx, string(enc))
	must(t, err)
	if !strings.Contains(stored.String("note"), "LATE") {
		t.Fatalf("the released words are not in the note: %q", stored.String("note"))
	}
	for _, p := range []*phone{a1, a2} {
		if r := p.sync(0); !slices.Contains(r.Rebase, string(enc)) {
			t.Fatalf("%s was not sent the note to replace its copy: %s", p.person, r.raw)
		}
		p.syncAll()
		if got, _ := p.store.Record(enc); got.String("note") != stored.String("note") {
			t.Fatalf("%s shows %q, the server %q", p.person, got.String("note"), stored.String("note"))
		}
	}
}
