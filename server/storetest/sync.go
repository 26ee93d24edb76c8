package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A changeset is applied once: the same changeset pushed again (a retry after
// a lost reply) is answered duplicate and changes nothing.
func testApplyIsIdempotent(t *testing.T, e *env) {
	a := e.enrolPhone("w_a")
	id := a.encounter("team_a", "Met by the skate ramp.")
	cs := a.outbox[0]
	r := a.sync(0)
	if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted || r.Results[0].Seq <= 0 {
		t.Fatalf("first push: %+v", r.Results)
	}
	stored, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if stored == nil || stored.String("note") != "Met by the skate ramp." {
		t.Fatalf("stored record: %+v", stored)
	}
	before, err := e.s.Stats(e.ctx)
	e.must(err)

	for _, name := range []string{"same phone", "same changeset from another request"} {
		a.outbox = []*syncengine.Changeset{cs}
		r = a.sync(0)
		if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusDuplicate {
			t.Fatalf("%s: retry answered %+v, want duplicate", name, r.Results)
		}
		if r.Accepted != 0 || r.Duplicates != 1 {
			t.Fatalf("%s: counted accepted %d duplicates %d", name, r.Accepted, r.Duplicates)
		}
	}
	after, err := e.s.Stats(e.ctx)
	e.must(err)
	if after.Changesets != before.Changesets {
		t.Fatalf("log grew on a duplicate: %d -> %d", before.Changesets, after.Changesets)
	}
	again, err := e.s.RecordState(e.ctx, string(id))
	e.must(err)
	if !bytes.Equal(syncengine.EncodeRecord(again), syncengine.EncodeRecord(stored)) {
		t.Fatal("record changed by a duplicate push")
	}

	// Another phone of the team receives it exactly as stored.
	b := e.enrolPhone("w_a")
	b.syncAll(0)
	if got := b.record(id); got == nil || !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(stored)) {
		t.Fatal("a second phone did not receive the stored record")
	}
}

// Within one request too, a changeset is applied once and a refused one is
// refused again: a request that carries the same changesets twice (a phone
// re-sending its outbox after a crash mid-write) gets the first copy's
// answer for the second, and the log, the records and the quarantine hold
// one of each.
func testRepeatsInOneRequest(t *testing.T, e *env) {
	a := e.enrolPhone("w_a")
	id := a.encounter("team_a", "Met by the bus station.")
	a.encounter("team_b", "Written into another team.")
	good, bad := a.outbox[0], a.outbox[1]
	before, err := e.s.Stats(e.ctx)
	e.must(err)
	a.outbox = []*syncengine.Changeset{good, bad, good, bad}
	r := a.sync(0)
	if len(r.Results) != 4 {
		t.Fatalf("results %+v", r.Results)
	}
	first, dup, refused, again := r.Results[0], r.Results[2], r.Results[1], r.Results[3]
	if first.Status != protocol.StatusAccepted || dup.Status != protocol.StatusDuplicate || dup.Seq != first.Seq || first.Seq <= 0 {
		t.Fatalf("the changeset twice in one request: %+v then %+v, want accepted then duplicate of the same seq", first, dup)
	}
	if refused.Status != protocol.StatusQuarantined || again.Status != protocol.StatusQuarantined || again.Code != refused.Code {
		t.Fatalf("the refused changeset twice in one request: %+v then %+v", refused, again)
	}
	after, err := e.s.Stats(e.ctx)
	e.must(err)
	if after.Changesets != before.Changesets+1 {
		t.Fatalf("log grew by %d, want 1", after.Changesets-before.Changesets)
	}
	open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true})
	e.must(err)
	if len(open) != 1 {
		t.Fatalf("open quarantine items: %d, want 1", len(open))
	}
	if rec, err := e.s.RecordState(e.ctx, string(id)); err != nil || rec == nil || rec.String("note") != "Met by the bus station." {
		t.Fatalf("stored record %+v %v", rec, err)
	}
	// And in the next request, both answered as before.
	a.outbox = []*syncengine.Changeset{bad, good}
	r = a.sync(0)
	if len(r.Results) != 2 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[1].Status != protocol.StatusDuplicate || r.Results[1].Seq != first.Seq {
		t.Fatalf("the same changesets in the next request: %+v", r.Results)
	}
}

// noise is n bytes of text that does not compress (the wire format does), so
// page sizes are what the test thinks they are.
func noise(seed, n int) string {
	var b strings.Builder
	h := sha256.Sum256([]byte{byte(seed), byte(seed >> 8)})
	for b.Len() < n {
		b.WriteString(hex.EncodeToString(h[:]))
		h = sha256.Sum256(h[:])
	}
	return b.String()[:n]
}

func pageSize(r *domain.SyncResult) (size, items int) {
	for _, b := range r.Changesets {
		size += len(b)
	}
	for _, b := range r.Snapshots {
		size += len(b)
	}
	return size, len(r.Changesets) + len(r.Snapshots)
}

// Pulls come in pages within the phone's budget (a page may exceed it only
// to carry one item, so a large record never blocks a phone), each page's
// cursor resumes exactly where it left off, and the pages add up to
// everything: first as a snapshot, then as the log.
func testPullPagesWithinBudget(t *testing.T, e *env) {
	const budget = 1500
	a := e.enrolPhone("w_a")
	var ids []syncengine.RecordID
	for i := range 12 {
		ids = append(ids, a.encounter("team_a", noise(i, 300)))
	}
	a.syncAll(0)

	check := func(what string, pages []*domain.SyncResult) {
		t.Helper()
		if len(pages) < 3 {
			t.Fatalf("%s: %d pages for 12 records of ~300 bytes within %d bytes", what, len(pages), budget)
		}
		for i, r := range pages {
			size, items := pageSize(r)
			if items > 1 && size > budget {
				t.Errorf("%s: page %d is %d bytes in %d items, budget %d", what, i, size, items, budget)
			}
			if r.More != (i < len(pages)-1) {
				t.Errorf("%s: page %d of %d says more=%v", what, i, len(pages), r.More)
			}
		}
	}

	// A new phone pages through a snapshot. Half way, it loses its reply and
	// asks again with the same cursor: it gets the same page.
	b := e.enrolPhone("w_a")
	first := b.sync(budget)
	resume := b.cursor
	second := b.sync(budget)
	b.cursor = resume
	repeat := b.sync(budget)
	if len(repeat.Snapshots) == 0 || !slices.EqualFunc(repeat.Snapshots, second.Snapshots, bytes.Equal) || repeat.Cursor != second.Cursor {
		t.Fatal("the same cursor did not give the same page again")
	}
	check("snapshot", append([]*domain.SyncResult{first, second}, b.syncAll(budget)...))
	for _, id := range ids {
		if b.record(id) == nil {
			t.Fatalf("snapshot pages missed %s", id)
		}
	}

	// Then the log: twelve more edits come in pages too.
	for _, id := range ids {
		a.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, noise(len(ids)+len(id), 300)) })
	}
	a.syncAll(0)
	check("log", b.syncAll(budget))
	for _, id := range ids {
		want, err := e.s.RecordState(e.ctx, string(id))
		e.must(err)
		if got := b.record(id); !bytes.Equal(syncengine.EncodeRecord(got), syncengine.EncodeRecord(want)) {
			t.Fatalf("after paging the log, %s differs from the store's", id)
		}
	}
}

// A worker's phone holds their own team's records only; a practitioner's
// holds the referrals to their service, projected to the agreed fields.
func testScopes(t *testing.T, e *env) {
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	encA := a.encounter("team_a", "Team A's encounter.")
	encB := b.encounter("team_b", "Team B's encounter.")
	var yp, ref syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, yp, "team_id", "team_a", "known_as", "Jamie", "age_band", "16-17")
	})
	a.edit(func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		if err := set(tx, ref, "team_id", "team_a", "young_person_id", string(yp), "service_id", "svc_housing",
			"urgency", "soon", "consent", "given", "status", "submitted", "submitted_at", e.now); err != nil {
			return err
		}
		if err := tx.InsertText(ref, "reason", 0, "Sofa surfing since March."); err != nil {
			return err
		}
		return tx.InsertText(ref, "wants", 0, "Not to be contacted at home.")
	})
	for _, p := range []*phone{a, b} {
		for _, r := range p.sync(0).Results {
			if r.Status != protocol.StatusAccepted {
				t.Fatalf("push: %+v", r)
			}
		}
	}
	a.syncAll(0)
	b.syncAll(0)
	if b.record(encA) != nil || b.record(yp) != nil || b.record(ref) != nil {
		t.Fatal("team B's phone holds team A's records")
	}
	if b.record(encB) == nil || a.record(encA) == nil {
		t.Fatal("a phone is missing its own team's record")
	}
	if a.record(encB) != nil {
		t.Fatal("team A's phone holds team B's record")
	}

	p := e.enrolPhone("prac_h")
	p.syncAll(0)
	if p.record(encA) != nil || p.record(encB) != nil || p.record(yp) != nil {
		t.Fatal("the practitioner's phone holds records other than referrals")
	}
	got := p.record(ref)
	if got == nil {
		t.Fatal("the practitioner's phone is missing the referral to their service")
	}
	if got.String("reason") != "Sofa surfing since March." || got.String("known_as") != "Jamie" {
		t.Errorf("projected referral lacks agreed fields: reason %q known_as %q", got.String("reason"), got.String("known_as"))
	}
	for _, f := range []string{"wants", "consent", "team_id", "age_band"} {
		if got.Fields[f] != nil {
			t.Errorf("projected referral carries %s, which the agreement does not share", f)
		}
	}
}

// A changeset the server refuses (a worker writing into another team) is not
// applied, is answered quarantined with a code and a reason, and is kept with
// them until someone reviews it.
func testQuarantine(t *testing.T, e *env) {
	b := e.enrolPhone("w_b")
	forged := b.encounter("team_a", "Written into another team.")
	r := b.sync(0)
	if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code == "" || r.Results[0].Message == "" {
		t.Fatalf("push into another team answered %+v", r.Results)
	}
	if rec, err := e.s.RecordState(e.ctx, string(forged)); err != nil || rec != nil {
		t.Fatalf("refused changeset applied: %v %v", rec, err)
	}
	open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true})
	e.must(err)
	if len(open) != 1 {
		t.Fatalf("open quarantine: %+v", open)
	}
	q := open[0]
	// Lists never carry bodies; the item says whether its body is kept.
	if q.DeviceID != b.enrol.DeviceID || q.Code != r.Results[0].Code || q.Message == "" || !q.BodyKept || q.BodySize == 0 || q.ReviewedAt.IsZero() != true {
		t.Fatalf("quarantined item %+v", q)
	}
	if n, err := e.s.QuarantineSize(e.ctx); err != nil || n != 1 {
		t.Fatalf("quarantine size %d %v", n, err)
	}
	sup, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	e.must(e.s.ReviewQuarantine(e.ctx, q.ID, sup, domain.ResolutionDiscard))
	open, err = e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true})
	e.must(err)
	if len(open) != 0 {
		t.Fatalf("reviewed item still open: %+v", open)
	}
	all, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{})
	e.must(err)
	if len(all) != 1 || all[0].ReviewedBy != "sup_a" || all[0].Resolution != domain.ResolutionDiscard || all[0].ReviewedAt.IsZero() {
		t.Fatalf("reviewed item not kept on record: %+v", all)
	}
	if rec, err := e.s.RecordState(e.ctx, string(forged)); err != nil || rec != nil {
		t.Fatalf("discarded changeset applied: %v %v", rec, err)
	}
}

// History every recently seen phone has pulled is dropped from the log; a
// phone that was away longer is reset and sent a snapshot, ending with what
// the others hold; a retry of a dropped changeset is still a duplicate.
func testCompaction(t *testing.T, e *env) {
	a1, a2, away := e.enrolPhone("w_a"), e.enrolPhone("w_a"), e.enrolPhone("w_a")
	first := a1.encounter("team_a", "before the phone went away")
	old := a1.outbox[0]
	for _, p := range []*phone{a1, a2, away} {
		p.syncAll(0)
	}
	e.advance(48 * time.Hour)
	a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(first, "note", 0, "Edited later. ") })
	second := a2.encounter("team_a", "while it was away")
	for _, p := range []*phone{a1, a2, a1, a2} {
		p.syncAll(0)
	}
	res, err := e.s.CompactLog(e.ctx, 24*time.Hour)
	e.must(err)
	if res.Changesets == 0 || res.Through == 0 {
		t.Fatalf("nothing compacted: %+v", res)
	}
	if again, err := e.s.CompactLog(e.ctx, 24*time.Hour); err != nil || again.Changesets != 0 {
		t.Fatalf("second compaction with nothing new: %+v %v", again, err)
	}

	if r := away.sync(0); !r.Reset {
		t.Fatal("a phone behind the compacted log was not reset")
	}
	away.syncAll(0)
	for _, id := range []syncengine.RecordID{first, second} {
		want, got := a1.record(id), away.record(id)
		if want == nil || got == nil || !bytes.Equal(syncengine.EncodeRecord(want), syncengine.EncodeRecord(got)) {
			t.Fatalf("record %s differs after catching up", id)
		}
	}
	a1.outbox = []*syncengine.Changeset{old}
	if r := a1.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusDuplicate {
		t.Fatalf("retry of a compacted changeset: %+v", r.Results)
	}
}
