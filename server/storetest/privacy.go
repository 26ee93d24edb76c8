package storetest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// An erasure reaches every copy the store holds and every phone that holds
// the records: the state, the log a new phone pulls, the phones told to
// purge (until they confirm), a phone's old work sent again, and nobody can
// fake an erasure by sending redaction placeholders.
func testErasure(t *testing.T, e *env) {
	const secret = "Jay Smith"
	a := e.enrolPhone("w_a")
	var yp, enc syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := set(tx, yp, "team_id", "team_a", "known_as", secret); err != nil {
			return err
		}
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		if err := set(tx, enc, "team_id", "team_a", "area", "the park", "started_at", e.now.Add(-time.Hour)); err != nil {
			return err
		}
		if err := tx.Add(enc, "young_people", string(yp)); err != nil {
			return err
		}
		return tx.InsertText(enc, "note", 0, "Met "+secret+" by the ramp.")
	})
	a.syncAll(0)
	b := e.enrolPhone("sup_a") // a second phone of the team that downloads them
	b.syncAll(0)
	// A third phone, offline, still has work on the young person to send.
	late := e.enrolPhone("w_a")
	late.syncAll(0)
	late.edit(func(tx *syncengine.Txn) error { return set(tx, yp, "known_as", secret+" (again)") })

	e.must(e.s.PlaceLegalHold(e.ctx, domain.LegalHold{RecordID: string(yp), Reason: "court order 12/34", By: "admin"}))
	req := domain.ErasureRequest{By: "sup_a", YoungPersonID: string(yp), Reason: "erasure request 7",
		Erase: []string{string(yp)}, Redact: []domain.Redaction{{EncounterID: string(enc), Unlink: string(yp), Words: []string{secret}}}}
	if _, err := e.s.Erase(e.ctx, req); code(err) != domain.ECONFLICT {
		t.Fatalf("erasure under a legal hold: %v", err)
	}
	e.must(e.s.LiftLegalHold(e.ctx, string(yp), "admin"))
	if _, err := e.s.Erase(e.ctx, domain.ErasureRequest{Erase: []string{string(yp)}}); code(err) != domain.EINVALID {
		t.Fatalf("erasure without a reason: %v", err)
	}
	res, err := e.s.Erase(e.ctx, req)
	e.must(err)
	if !slices.Equal(res.Erased, []string{string(yp)}) || !slices.Equal(res.Redacted, []string{string(enc)}) || res.Devices < 3 {
		t.Fatalf("erasure result: %+v", res)
	}
	if again, err := e.s.Erase(e.ctx, req); err != nil || len(again.Erased)+len(again.Redacted) != 0 {
		t.Fatalf("erasing again changed something: %+v %v", again, err)
	}
	if r, err := e.s.RecordState(e.ctx, string(yp)); err != nil || r.Erased == nil {
		t.Fatalf("young person not erased: %v", err)
	}
	r, err := e.s.RecordState(e.ctx, string(enc))
	e.must(err)
	if note := r.String("note"); strings.Contains(note, secret) || !strings.Contains(note, domain.RedactedMarker) || slices.Contains(r.Set("young_people"), string(yp)) {
		t.Fatalf("encounter not redacted: %q %v", note, r.Set("young_people"))
	}
	notices, err := e.s.PurgeNotices(e.ctx, []string{string(yp)})
	e.must(err)
	told := map[string]bool{}
	for _, n := range notices {
		told[n.DeviceID] = true
	}
	for _, p := range []*phone{a, b, late} {
		if !told[p.enrol.DeviceID] {
			t.Fatalf("phone %s not told to purge: %+v", p.enrol.DeviceID, notices)
		}
	}
	// The phone learns at its next sync, and confirms at the one after.
	got := b.sync(0)
	if !slices.Contains(got.Erase, string(yp)) {
		t.Fatalf("purge not in the sync response: %v", got.Erase)
	}
	dev, person, err := e.s.Authenticate(e.ctx, b.enrol.Credential)
	e.must(err)
	_, err = e.s.Sync(e.ctx, domain.SyncRequest{Device: dev, Person: person, Cursor: b.cursor, Purged: []string{string(yp)}})
	e.must(err)
	notices, err = e.s.PurgeNotices(e.ctx, []string{string(yp)})
	e.must(err)
	for _, n := range notices {
		if n.DeviceID == b.enrol.DeviceID && n.ConfirmedAt.IsZero() {
			t.Fatal("a confirmed purge is not recorded")
		}
	}
	// Old work sent again is applied redacted: the record stays erased.
	late.sync(0)
	if r, err := e.s.RecordState(e.ctx, string(yp)); err != nil || r.Erased == nil || strings.Contains(r.String("known_as"), secret) {
		t.Fatalf("old work brought erased content back: %v", err)
	}
	// A new phone's first pull carries none of the erased words.
	fresh := e.enrolPhone("w_a")
	for _, page := range fresh.syncAll(0) {
		for _, body := range append(slices.Clone(page.Changesets), page.Snapshots...) {
			if bytes.Contains(body, []byte(secret)) {
				t.Fatal("erased words reach a new phone's pull")
			}
		}
	}
	// A phone cannot erase by sending placeholders for a record it may write.
	var other syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) {
		other, err = tx.Create(syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		return set(tx, other, "team_id", "team_a", "area", "shops", "started_at", e.now.Add(-time.Hour))
	})
	a.syncAll(0)
	cs := a.edit(func(tx *syncengine.Txn) error { return tx.InsertText(other, "note", 0, "ordinary note") })
	forged, _ := syncengine.RedactChangeset(cs, func(syncengine.RecordID) bool { return true })
	a.outbox[len(a.outbox)-1] = forged
	pushed := a.sync(0)
	if len(pushed.Results) != 1 || pushed.Results[0].Code != domain.EFORBIDDEN {
		t.Fatalf("forged placeholders: %+v", pushed.Results)
	}
	if r, err := e.s.RecordState(e.ctx, string(other)); err != nil || r.Erased != nil {
		t.Fatalf("forged placeholders erased a record: %v", err)
	}
	// The access history names the phones that downloaded the records.
	ids, err := e.s.YoungPersonRecords(e.ctx, string(yp))
	e.must(err)
	if !slices.Contains(ids, string(yp)) {
		t.Fatalf("young person's records: %v", ids)
	}
	hist, err := e.s.AccessHistory(e.ctx, []string{string(yp)})
	e.must(err)
	downloaded := false
	for _, h := range hist {
		downloaded = downloaded || (h.DeviceID == b.enrol.DeviceID && h.How == "download" && slices.Contains(h.Records, string(yp)))
	}
	if !downloaded {
		t.Fatalf("access history misses the download: %+v", hist)
	}
}

// Saves a phone made to a young person before it heard of their erasure
// arrive after it, each in the frame the phone sent. Whatever the store
// keeps of them is the redacted changeset, never the frame: the log a pull
// reads (the save is accepted, its ops on the erased record turned into
// placeholders), and a quarantined copy (a save refused for a fast clock,
// kept for review). The frame as sent would carry the erased words back
// into the log, to every phone of the team, and to the reviewer.
func testLateSavesOfErasedRecords(t *testing.T, e *env) {
	const secret, late, fast = "Jay Smith", "Robin Kestrel", "Sam Quill"
	a := e.enrolPhone("w_a")
	yp := a.youngPerson(secret)
	a.syncAll(0)
	b := e.enrolPhone("sup_a") // a teammate's phone, pulling as the saves arrive
	b.syncAll(0)
	// Two phones, offline, still have work on the young person to send.
	p, q := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	p.syncAll(0)
	q.syncAll(0)
	var other syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if err := set(tx, yp, "known_as", late); err != nil {
			return err
		}
		// The same save writes a record that was not erased: it stays.
		if other, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		return set(tx, other, "team_id", "team_a", "area", "the park", "started_at", e.now.Add(-time.Hour))
	})
	q.skew = fastClock
	q.edit(func(tx *syncengine.Txn) error { return set(tx, yp, "known_as", fast) })
	q.skew = 0
	// A hostile phone of another team, holding a copy it never should
	// have, writes to the young person too.
	x := e.enrolPhone("w_b")
	x.store.Put(p.record(yp).Clone())
	x.edit(func(tx *syncengine.Txn) error { return set(tx, yp, "known_as", late) })

	if _, err := e.s.Erase(e.ctx, domain.ErasureRequest{By: "sup_a", YoungPersonID: string(yp), Reason: "erasure request 8",
		Erase: []string{string(yp)}}); err != nil {
		t.Fatal(err)
	}
	leaks := func(where string, bodies ...[]byte) {
		t.Helper()
		for _, body := range bodies {
			for _, w := range []string{secret, late, fast} {
				if bytes.Contains(body, []byte(w)) {
					t.Fatalf("%s holds the erased words %q", where, w)
				}
			}
		}
	}

	if r := p.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("a late save to an erased young person: %+v", r.Results)
	}
	if r, err := e.s.RecordState(e.ctx, string(other)); err != nil || r == nil || r.String("area") != "the park" {
		t.Fatalf("the late save's other record: %v %v", r, err)
	}
	if r, err := e.s.RecordState(e.ctx, string(yp)); err != nil || r.Erased == nil {
		t.Fatalf("young person not erased after the late save: %v", err)
	}
	got := b.sync(0)
	if len(got.Changesets) == 0 {
		t.Fatalf("the teammate was not sent the late save: %+v", got)
	}
	leaks("the teammate's pull", got.Changesets...)
	leaks("the teammate's pull", got.Snapshots...)
	for _, page := range e.enrolPhone("sup_a").syncAll(0) {
		leaks("a new phone's pull", page.Changesets...)
		leaks("a new phone's pull", page.Snapshots...)
	}

	// The placeholder is authorised as the write it stands for: another
	// team's worker may not write to the record, erased or not.
	if r := x.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != domain.EFORBIDDEN {
		t.Fatalf("another team's late save to the erased young person: %+v", r.Results)
	}
	if r := q.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined {
		t.Fatalf("a fast clock's late save to an erased young person: %+v", r.Results)
	}
	item := e.openItemOf(q)
	sup, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	d, err := e.s.QuarantineItem(e.ctx, item.ID, sup)
	e.must(err)
	if !d.BodyKept {
		t.Fatalf("the quarantined save's body was not kept: the test tests nothing: %+v", d.QuarantineItem)
	}
	leaks("the quarantined save", d.Body)
	for _, c := range d.Changes {
		for _, f := range c.Fields {
			leaks("what releasing the quarantined save would change", []byte(f.Before), []byte(f.After), []byte(f.Inserted))
		}
	}
}

// A push-only sync (a phone sending page after page) is recorded as any
// sync is: the device's row (last sync, cursor, unsent count), its own
// audit row, the purges it confirms and the purges it is told to do.
func testPushOnlySyncIsRecorded(t *testing.T, e *env) {
	a := e.enrolPhone("w_a")
	yp := a.youngPerson("Jay Smith")
	a.syncAll(0)
	if _, err := e.s.Erase(e.ctx, domain.ErasureRequest{By: "sup_a", YoungPersonID: string(yp), Reason: "erasure request 9",
		Erase: []string{string(yp)}}); err != nil {
		t.Fatal(err)
	}
	push := func(pending int64, purged []string) *domain.SyncResult {
		t.Helper()
		a.encounter("team_a", "By the shops.")
		dev, person, err := e.s.Authenticate(e.ctx, a.enrol.Credential)
		e.must(err)
		res, err := e.s.Sync(e.ctx, domain.SyncRequest{Device: dev, Person: person, Changesets: a.outbox, Cursor: a.cursor,
			NoPull: true, Pending: pending, Purged: purged})
		e.must(err)
		a.outbox = nil
		if res.Accepted != 1 {
			t.Fatalf("push-only sync: %+v", res.Results)
		}
		return res
	}
	syncsOf := func() int {
		t.Helper()
		rows, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: a.enrol.DeviceID, Action: "sync"})
		e.must(err)
		return len(rows)
	}
	before := syncsOf()
	e.advance(time.Hour)
	if res := push(3, nil); !slices.Equal(res.Erase, []string{string(yp)}) {
		t.Fatalf("a push-only sync was not told to purge: %v", res.Erase)
	}
	d, err := e.s.Device(e.ctx, a.enrol.DeviceID)
	e.must(err)
	if d.LastSyncAt.Sub(e.now).Abs() > time.Second || d.LastSeen.Sub(e.now).Abs() > time.Second || d.PendingReported != 3 {
		t.Fatalf("device after a push-only sync at %v: last sync %v, last seen %v, unsent %d", e.now, d.LastSyncAt, d.LastSeen, d.PendingReported)
	}
	rows, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: a.enrol.DeviceID, Action: "sync", Limit: 1})
	e.must(err)
	if syncsOf() != before+1 || len(rows) != 1 || rows[0].Detail["pushed"] != float64(1) || rows[0].Detail["accepted"] != float64(1) {
		t.Fatalf("the push-only sync's audit row: %+v (%d rows before, %d after)", rows, before, syncsOf())
	}
	if res := push(0, []string{string(yp)}); len(res.Erase) != 0 {
		t.Fatalf("a confirmed purge is still asked for: %v", res.Erase)
	}
	notices, err := e.s.PurgeNotices(e.ctx, []string{string(yp)})
	e.must(err)
	for _, n := range notices {
		if n.DeviceID == a.enrol.DeviceID && n.ConfirmedAt.IsZero() {
			t.Fatal("a purge confirmed in a push-only sync is not recorded")
		}
	}
}

// youngPerson saves a new young person of team_a known as name.
func (p *phone) youngPerson(name string) syncengine.RecordID {
	var yp syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, yp, "team_id", "team_a", "known_as", name)
	})
	return yp
}

// The retention run removes what the preview showed, keeps what a hold
// covers, runs once a day however often it is asked, and reports ids only.
func testRetention(t *testing.T, e *env) {
	if err := e.s.SetRetentionRule(e.ctx, domain.RetentionRule{Type: syncengine.TypeYoungPerson, KeepDays: 100}, "admin"); code(err) != domain.EINVALID {
		t.Fatalf("rule for a type without a basis: %v", err)
	}
	e.must(e.s.SetRetentionRule(e.ctx, domain.RetentionRule{Type: syncengine.TypeEncounter, KeepDays: 30}, "admin"))
	rules, err := e.s.RetentionRules(e.ctx)
	e.must(err)
	if i := slices.IndexFunc(rules, func(r domain.RetentionRule) bool { return r.Type == syncengine.TypeEncounter }); i < 0 || rules[i].KeepDays != 30 {
		t.Fatalf("rules: %+v", rules)
	}
	p := e.enrolPhone("w_a")
	old, held := p.encounter("team_a", "old"), p.encounter("team_a", "held")
	p.syncAll(0)
	e.must(e.s.PlaceLegalHold(e.ctx, domain.LegalHold{RecordID: string(held), Reason: "court order 9", By: "admin"}))
	e.advance(40 * 24 * time.Hour)
	recent := p.encounter("team_a", "recent")
	p.syncAll(0)
	plan, err := e.s.RetentionPreview(e.ctx)
	e.must(err)
	if len(plan.Remove) != 1 || plan.Remove[0].RecordID != string(old) || len(plan.Held) != 1 || plan.Held[0].Hold != "legal" {
		t.Fatalf("plan: %+v", plan)
	}
	ran, run, err := e.s.RunRetentionIfDue(e.ctx)
	e.must(err)
	if !ran || !slices.Equal(run.Removed, []string{string(old)}) || run.Held != 1 {
		t.Fatalf("run: %v %+v", ran, run)
	}
	if ran, _, err := e.s.RunRetentionIfDue(e.ctx); err != nil || ran {
		t.Fatalf("ran twice in a day: %v %v", ran, err)
	}
	for id, erased := range map[syncengine.RecordID]bool{old: true, held: false, recent: false} {
		if r, err := e.s.RecordState(e.ctx, string(id)); err != nil || (r.Erased != nil) != erased {
			t.Fatalf("record %s erased=%v, want %v (%v)", id, r != nil && r.Erased != nil, erased, err)
		}
	}
	runs, err := e.s.RetentionRuns(e.ctx, 5)
	e.must(err)
	if len(runs) != 1 || runs[0].ID != run.ID || !slices.Equal(runs[0].Removed, run.Removed) {
		t.Fatalf("runs: %+v", runs)
	}
	e.advance(25 * time.Hour)
	if ran, _, err := e.s.RunRetentionIfDue(e.ctx); err != nil || !ran {
		t.Fatalf("next day's run: %v %v", ran, err)
	}
}

// Every audited write joins the hash chain, which verifies.
func testAuditChain(t *testing.T, e *env) {
	p := e.enrolPhone("w_a")
	for i := range 5 {
		p.encounter("team_a", "note "+string(rune('a'+i)))
		p.sync(0)
	}
	e.must(e.s.AppendAudit(e.ctx, domain.AuditEntry{PersonID: "sup_a", Action: domain.ActionRead, RecordID: "r1"}))
	v, err := e.s.VerifyAudit(e.ctx)
	e.must(err)
	all, err := e.s.Audit(e.ctx, domain.AuditFilter{Limit: 1000})
	e.must(err)
	if !v.OK || v.Rows < len(all) || v.Rows == 0 {
		t.Fatalf("verify: %+v (%d entries)", v, len(all))
	}
}
