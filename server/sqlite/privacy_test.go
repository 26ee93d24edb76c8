package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// clockDB opens a database whose clock the test moves.
func clockDB(tb testing.TB, now *time.Time) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "db.sqlite"))
	db.Now = func() time.Time { return *now }
	must(tb, db.Open())
	tb.Cleanup(func() { db.Close() })
	mustOrg(tb, db)
	return db
}

func TestRetentionOnAnInjectedClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2019, 6, 1, 12, 0, 0, 0, time.UTC)
	db := clockDB(t, &now)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	var ypFree, ypHeld, encOld, encHeldYP, encRecent, encLegal, refClosed, refOpen, fuDone syncengine.RecordID
	edit := func(fn func(tx *syncengine.Txn) error) {
		t.Helper()
		if _, err := rep.Edit("s1", fn); err != nil {
			t.Fatal(err)
		}
	}
	newRec := func(tx *syncengine.Txn, typ string, fields map[string]any) syncengine.RecordID {
		id, err := tx.Create(typ)
		must(t, err)
		for k, v := range fields {
			must(t, tx.Set(id, k, v))
		}
		return id
	}
	encounter := func(tx *syncengine.Txn, yp syncengine.RecordID, started time.Time) syncengine.RecordID {
		id := newRec(tx, syncengine.TypeEncounter, map[string]any{"team_id": "team_a", "area": "park", "started_at": started})
		must(t, tx.Add(id, "young_people", string(yp)))
		return id
	}
	// In 2019: two young people (one under a safeguarding hold), old
	// encounters, a referral withdrawn (closed) then, one still open, a
	// follow-up done.
	edit(func(tx *syncengine.Txn) error {
		ypFree = newRec(tx, syncengine.TypeYoungPerson, map[string]any{"team_id": "team_a", "known_as": "Free"})
		ypHeld = newRec(tx, syncengine.TypeYoungPerson, map[string]any{"team_id": "team_a", "known_as": "Held", "safeguarding_hold": true})
		encOld = encounter(tx, ypFree, now.Add(-time.Hour))
		encHeldYP = encounter(tx, ypHeld, now.Add(-time.Hour))
		encLegal = encounter(tx, ypFree, now.Add(-time.Hour))
		refClosed = newRec(tx, syncengine.TypeReferral, map[string]any{"team_id": "team_a", "young_person_id": string(ypFree), "status": "draft"})
		refOpen = newRec(tx, syncengine.TypeReferral, map[string]any{"team_id": "team_a", "young_person_id": string(ypFree), "status": "draft"})
		fuDone = newRec(tx, syncengine.TypeFollowUp, map[string]any{"team_id": "team_a", "assignee": "w1", "due_at": now, "status": "open"})
		return nil
	})
	edit(func(tx *syncengine.Txn) error {
		for k, v := range map[string]string{"service_id": "svc_housing", "urgency": "soon", "consent": "given"} {
			must(t, tx.Set(refClosed, k, v))
		}
		must(t, tx.InsertText(refClosed, "reason", 0, "needs a home"))
		must(t, tx.Set(refClosed, "status", "withdrawn"))
		return tx.Set(fuDone, "status", "done")
	})
	must(t, db.PlaceLegalHold(ctx, domain.LegalHold{RecordID: string(encLegal), Reason: "court order 2019/77", By: "s1"}))
	// Late 2022: a recent encounter.
	now = time.Date(2022, 12, 1, 12, 0, 0, 0, time.UTC)
	edit(func(tx *syncengine.Txn) error { encRecent = encounter(tx, ypFree, now); return nil })
	// The admin's schedule: referrals 6 years (default), encounters and
	// follow-ups 3 years.
	must(t, db.SetRetentionRule(ctx, domain.RetentionRule{Type: syncengine.TypeFollowUp, KeepDays: 3 * 365}, "admin"))
	if err := db.SetRetentionRule(ctx, domain.RetentionRule{Type: syncengine.TypeYoungPerson, KeepDays: 100}, "admin"); syncengine.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("a rule for a type without a basis: %v", err)
	}

	// 2023-01-01: encounters and the follow-up from mid-2019 are past 3
	// years; the referral (6 years) is not.
	now = time.Date(2023, 1, 1, 3, 0, 0, 0, time.UTC)
	plan, err := db.RetentionPreview(ctx)
	must(t, err)
	ids := func(items []domain.RetentionItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.RecordID+":"+it.Hold)
		}
		slices.Sort(out)
		return out
	}
	want := []string{string(encOld) + ":", string(fuDone) + ":"}
	slices.Sort(want)
	if got := ids(plan.Remove); !slices.Equal(got, want) {
		t.Fatalf("preview removes %v, want %v", got, want)
	}
	wantHeld := []string{string(encHeldYP) + ":safeguarding", string(encLegal) + ":legal"}
	slices.Sort(wantHeld)
	if got := ids(plan.Held); !slices.Equal(got, wantHeld) {
		t.Fatalf("preview holds %v, want %v", got, wantHeld)
	}
	ran, run, err := db.RunRetentionIfDue(ctx)
	must(t, err)
	if !ran {
		t.Fatal("the first daily run did not run")
	}
	var previewed []string
	for _, it := range plan.Remove {
		previewed = append(previewed, it.RecordID)
	}
	if !slices.Equal(run.Removed, previewed) || run.Held != 2 {
		t.Fatalf("run removed %v (held %d), the preview said %v", run.Removed, run.Held, previewed)
	}
	state := func(id syncengine.RecordID) *syncengine.Record {
		r, err := db.RecordState(ctx, string(id))
		must(t, err)
		return r
	}
	for _, id := range []syncengine.RecordID{encOld, fuDone} {
		if r := state(id); r.Erased == nil || r.Erased.Reason != "retention period ended" {
			t.Errorf("%s after retention: %+v", id, r.Erased)
		}
	}
	for _, id := range []syncengine.RecordID{encHeldYP, encLegal, encRecent, refClosed, refOpen, ypFree, ypHeld} {
		if r := state(id); r.Erased != nil {
			t.Errorf("%s was erased, but it is held or not due", id)
		}
	}
	// Daily: not again the same day; the next day nothing new is due.
	now = now.Add(12 * time.Hour)
	if ran, _, err := db.RunRetentionIfDue(ctx); err != nil || ran {
		t.Fatalf("second run the same day: ran=%v err=%v", ran, err)
	}
	// 2025-05-29: the referral withdrawn in 2019 is still within 6*365 days;
	// the legal hold is lifted, so that encounter goes.
	must(t, db.LiftLegalHold(ctx, string(encLegal), "s1"))
	now = time.Date(2025, 5, 29, 3, 0, 0, 0, time.UTC)
	ran, run, err = db.RunRetentionIfDue(ctx)
	must(t, err)
	if !ran || !slices.Equal(run.Removed, []string{string(encLegal)}) {
		t.Fatalf("2025-05-29 run: ran=%v removed %v, want [%s]", ran, run.Removed, encLegal)
	}
	// 2025-05-31 (6*365 days after the withdrawal): the referral goes; the open one stays.
	now = time.Date(2025, 5, 31, 13, 0, 0, 0, time.UTC)
	ran, run, err = db.RunRetentionIfDue(ctx)
	must(t, err)
	if !ran || !slices.Equal(run.Removed, []string{string(refClosed)}) {
		t.Fatalf("2025-05-31 run: removed %v, want [%s]", run.Removed, refClosed)
	}
	runs, err := db.RetentionRuns(ctx, 10)
	must(t, err)
	if len(runs) != 3 || runs[2].ID >= runs[0].ID {
		t.Fatalf("retention reports: %+v", runs)
	}
	// Retention erasures are in the ledger with their reason.
	ledger, err := db.Ledger(ctx)
	must(t, err)
	n := 0
	for _, e := range ledger {
		if e.Reason == domain.ErasureRetention {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("ledger has %d retention erasures, want 4: %+v", n, ledger)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
	// A backup carries the ledger beside it (ids, never content).
	backup := filepath.Join(t.TempDir(), "backup.db")
	must(t, db.Backup(ctx, backup))
	b, err := os.ReadFile(backup + ".erasures")
	must(t, err)
	if !strings.Contains(string(b), string(refClosed)) || strings.Contains(string(b), "needs a home") {
		t.Fatalf("backed-up ledger:\n%s", b)
	}
}

// Rows written before the chain existed are chained when the store opens.
func TestAuditChainSealsOldRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sqlite.Open(path)
	must(t, err)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		must(t, db.AppendAudit(ctx, domain.AuditEntry{Action: domain.ActionRead, RecordID: "r"}))
	}
	// As the database stood before migration 0070: no hashes.
	_, err = db.SQL().Exec(`DELETE FROM meta WHERE key = 'audit_chained'; DROP TRIGGER audit_log_no_update; UPDATE audit_log SET hash = NULL, prev_hash = NULL;
		CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash IS NOT NULL BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`)
	must(t, err)
	if v, _ := db.VerifyAudit(ctx); v.OK {
		t.Fatal("rows without hashes verified")
	}
	must(t, db.Close())
	db, err = sqlite.Open(path)
	must(t, err)
	defer db.Close()
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Rows != 3 {
		t.Fatalf("old rows not chained on open: %+v %v", v, err)
	}
	must(t, db.AppendAudit(ctx, domain.AuditEntry{Action: domain.ActionRead, RecordID: "r"}))
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK || v.Rows != 4 {
		t.Fatalf("after reopening: %+v %v", v, err)
	}
	if _, err := db.SQL().Exec(`UPDATE audit_log SET action = 'x'`); err == nil {
		t.Fatal("a chained row could be updated")
	}
}

func TestLegalHoldBlocksErasure(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db := clockDB(t, &now)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	var yp syncengine.RecordID
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		must(t, tx.Set(yp, "team_id", "team_a"))
		return tx.Set(yp, "known_as", "Kept")
	})
	must(t, err)
	must(t, db.PlaceLegalHold(ctx, domain.LegalHold{RecordID: string(yp), Reason: "inquiry 2025/3", By: "s1"}))
	req := domain.ErasureRequest{By: "s1", YoungPersonID: string(yp), Reason: "request 9", Erase: []string{string(yp)}}
	if _, err := db.Erase(ctx, req); syncengine.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("erasure under a legal hold: %v", err)
	}
	if r, _ := db.RecordState(ctx, string(yp)); r.Erased != nil {
		t.Fatal("erased under a legal hold")
	}
	must(t, db.LiftLegalHold(ctx, string(yp), "s1"))
	if _, err := db.Erase(ctx, req); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.RecordState(ctx, string(yp)); r.Erased == nil {
		t.Fatal("not erased after the hold was lifted")
	}
}
