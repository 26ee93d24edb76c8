package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Staff state lives in the store, never in a server process, so that
// several nodes behind one address share it: sessions (with their stage),
// throttled sign-ins, password links, the second factor and deactivation.

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// code is the domain error code of err ("" for nil).
func code(err error) string {
	if err == nil {
		return ""
	}
	return syncengine.ErrorCode(err)
}

func testSessions(t *testing.T, e *env) {
	s := domain.StaffSession{TokenHash: hash("tok1"), PersonID: "sup_a", CSRF: "csrf1", Created: e.now, LastSeen: e.now,
		Expires: e.now.Add(8 * time.Hour), Stage: "totp"}
	e.must(e.s.CreateSession(e.ctx, s))
	e.must(e.s.CreateSession(e.ctx, domain.StaffSession{TokenHash: hash("tok2"), PersonID: "sup_a", CSRF: "csrf2",
		Created: e.now.Add(time.Minute), LastSeen: e.now, Expires: e.now.Add(8 * time.Hour)}))
	got, err := e.s.Session(e.ctx, s.TokenHash)
	e.must(err)
	if got.PersonID != "sup_a" || got.CSRF != "csrf1" || got.Stage != "totp" || !got.Expires.Equal(s.Expires) {
		t.Fatalf("session read back: %+v", got)
	}
	e.must(e.s.SetSessionStage(e.ctx, s.TokenHash, ""))
	e.must(e.s.TouchSession(e.ctx, s.TokenHash, e.now.Add(time.Hour)))
	if got, err = e.s.Session(e.ctx, s.TokenHash); err != nil || got.Stage != "" || !got.LastSeen.Equal(e.now.Add(time.Hour)) {
		t.Fatalf("stage/touch not kept: %+v %v", got, err)
	}
	list, err := e.s.PersonSessions(e.ctx, "sup_a")
	e.must(err)
	if len(list) != 2 || !bytes.Equal(list[0].TokenHash, hash("tok2")) || list[0].CSRF != "" {
		t.Fatalf("person sessions (newest first, no CSRF): %+v", list)
	}
	if n, err := e.s.EndSessions(e.ctx, "sup_a", nil, hash("tok1"), "admin"); err != nil || n != 1 {
		t.Fatalf("end all but the current: %d %v", n, err)
	}
	if _, err := e.s.Session(e.ctx, hash("tok2")); code(err) != domain.ENOTFOUND {
		t.Fatalf("ended session still there: %v", err)
	}
	e.must(e.s.DeleteSession(e.ctx, s.TokenHash))
	if _, err := e.s.Session(e.ctx, s.TokenHash); code(err) != domain.ENOTFOUND {
		t.Fatalf("deleted session: %v", err)
	}
}

func testSignInThrottle(t *testing.T, e *env) {
	acct, client := hash("robin@example.org"), hash("203.0.113.9")
	for range 3 {
		e.must(e.s.RecordSignIn(e.ctx, domain.SignInAttempt{Account: acct, Client: client, PersonID: "sup_a", OK: false, ForgetBefore: e.now.Add(-time.Hour), Via: "portal"}))
	}
	f, err := e.s.SignInFailures(e.ctx, acct, client)
	e.must(err)
	if f.Pair != 3 || f.Account != 3 {
		t.Fatalf("failures: %+v", f)
	}
	e.must(e.s.ClearSignInFailures(e.ctx, acct, "sup_a", "admin"))
	if f, err = e.s.SignInFailures(e.ctx, acct, client); err != nil || f.Pair != 0 || f.Account != 0 {
		t.Fatalf("after unlock: %+v %v", f, err)
	}
}

func testPasswordLinks(t *testing.T, e *env) {
	link := func(tok string, ttl time.Duration) error {
		return e.s.CreatePasswordToken(e.ctx, domain.PasswordToken{TokenHash: hash(tok), PersonID: "w_a", Purpose: domain.PasswordSet,
			CreatedBy: "admin", Expires: e.now.Add(ttl)})
	}
	if err := e.s.CreatePasswordToken(e.ctx, domain.PasswordToken{TokenHash: hash("x"), PersonID: "w_a", Purpose: "root"}); code(err) != domain.EINVALID {
		t.Fatalf("unknown purpose: %v", err)
	}
	e.must(link("old", time.Hour))
	e.must(link("new", time.Hour))
	if _, err := e.s.PasswordLink(e.ctx, hash("old")); code(err) != domain.ENOTFOUND {
		t.Fatalf("an earlier link still works: %v", err)
	}
	if p, err := e.s.PasswordLink(e.ctx, hash("new")); err != nil || p.ID != "w_a" {
		t.Fatalf("live link: %+v %v", p, err)
	}
	e.must(e.s.CreateSession(e.ctx, domain.StaffSession{TokenHash: hash("w_a's"), PersonID: "w_a", Created: e.now, LastSeen: e.now, Expires: e.now.Add(time.Hour)}))
	p, err := e.s.UsePasswordToken(e.ctx, hash("new"), "$2a$hash")
	if err != nil || p.ID != "w_a" {
		t.Fatalf("use link: %+v %v", p, err)
	}
	if p, _ := e.s.Person(e.ctx, "w_a"); p.PasswordHash != "$2a$hash" {
		t.Fatalf("password not set: %q", p.PasswordHash)
	}
	if _, err := e.s.Session(e.ctx, hash("w_a's")); code(err) != domain.ENOTFOUND {
		t.Fatalf("a session survived the password change: %v", err)
	}
	if _, err := e.s.UsePasswordToken(e.ctx, hash("new"), "$2a$again"); code(err) != domain.ENOTFOUND {
		t.Fatalf("a link used twice: %v", err)
	}
	e.must(link("short", time.Minute))
	e.advance(2 * time.Minute)
	if _, err := e.s.UsePasswordToken(e.ctx, hash("short"), "$2a$late"); code(err) != domain.ENOTFOUND {
		t.Fatalf("an expired link: %v", err)
	}
}

func testDeactivate(t *testing.T, e *env) {
	ph := e.enrolPhone("w_a")
	ph.encounter("team_a", "Before leaving.")
	ph.sync(0)
	e.must(e.s.CreateSession(e.ctx, domain.StaffSession{TokenHash: hash("w_a"), PersonID: "w_a", Created: e.now, LastSeen: e.now, Expires: e.now.Add(time.Hour)}))
	code1, _, err := e.s.IssueEnrolmentCode(e.ctx, "w_a", "sup_a")
	e.must(err)
	if _, err := e.s.DeactivatePerson(e.ctx, "sup_a", "sup_a"); code(err) != domain.EINVALID {
		t.Fatalf("deactivating oneself: %v", err)
	}
	d, err := e.s.DeactivatePerson(e.ctx, "w_a", "admin")
	e.must(err)
	if d.DevicesRevoked != 1 || d.SessionsEnded != 1 || d.Supervisor != "sup_a" {
		t.Fatalf("deactivation: %+v", d)
	}
	if p, _ := e.s.Person(e.ctx, "w_a"); p.Deactivated.IsZero() {
		t.Fatal("person not marked deactivated")
	}
	if dev, err := e.s.Device(e.ctx, ph.enrol.DeviceID); err != nil || dev.Status != "revoked" || !dev.WipeRequested {
		t.Fatalf("device after deactivation: %+v %v", dev, err)
	}
	if _, err := e.s.Enrol(e.ctx, code1, "android"); err == nil {
		t.Fatal("an enrolment code issued before deactivation still enrols a phone")
	}
	if _, err := e.s.DeactivatePerson(e.ctx, "w_a", "admin"); code(err) != domain.ECONFLICT {
		t.Fatalf("deactivating twice: %v", err)
	}
	if err := e.s.CreatePasswordToken(e.ctx, domain.PasswordToken{TokenHash: hash("l"), PersonID: "w_a", Purpose: domain.PasswordReset,
		CreatedBy: "admin", Expires: e.now.Add(time.Hour)}); code(err) != domain.ECONFLICT {
		t.Fatalf("a link for a leaver: %v", err)
	}
	if err := e.s.EnrolTOTP(e.ctx, "w_a", "SECRET", nil); code(err) != domain.ENOTFOUND {
		t.Fatalf("a leaver enrols a second factor: %v", err)
	}
}

func testTwoFactor(t *testing.T, e *env) {
	e.must(e.s.EnrolTOTP(e.ctx, "sup_a", "JBSWY3DPEHPK3PXP", [][]byte{hash("r1"), hash("r2")}))
	if p, _ := e.s.Person(e.ctx, "sup_a"); p.TOTPSecret != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("secret not kept: %q", p.TOTPSecret)
	}
	for _, tc := range []struct {
		step int64
		want string
	}{{100, ""}, {100, domain.ECONFLICT}, {99, domain.ECONFLICT}, {101, ""}} {
		if err := e.s.UseTOTPStep(e.ctx, "sup_a", tc.step); code(err) != tc.want {
			t.Fatalf("step %d: %v, want %q", tc.step, err, tc.want)
		}
	}
	e.must(e.s.UseRecoveryCode(e.ctx, "sup_a", hash("r1")))
	if err := e.s.UseRecoveryCode(e.ctx, "sup_a", hash("r1")); code(err) != domain.ENOTFOUND {
		t.Fatalf("recovery code used twice: %v", err)
	}
	if err := e.s.UseRecoveryCode(e.ctx, "sup_a", hash("nope")); code(err) != domain.ENOTFOUND {
		t.Fatalf("unknown recovery code: %v", err)
	}
	e.must(e.s.ResetTOTP(e.ctx, "sup_a", "admin"))
	if p, _ := e.s.Person(e.ctx, "sup_a"); p.TOTPSecret != "" {
		t.Fatal("reset kept the secret")
	}
	if err := e.s.UseRecoveryCode(e.ctx, "sup_a", hash("r2")); code(err) != domain.ENOTFOUND {
		t.Fatalf("a recovery code outlived the reset: %v", err)
	}
	e.must(e.s.EnrolTOTP(e.ctx, "sup_a", "NEWSECRET", nil))
	e.must(e.s.UseTOTPStep(e.ctx, "sup_a", 50)) // a new enrolment starts its steps afresh
}

// A single sign-on state is spent once while it could still be presented;
// rows past their time are pruned, so the table does not grow with every
// sign-in ever made.
func testSSOStates(t *testing.T, e *env) {
	short, long := e.now.Add(10*time.Minute), e.now.Add(time.Hour)
	for _, tc := range []struct {
		name  string
		at    time.Duration // after t0
		state string
		until time.Time
		want  bool
	}{
		{"first spend", 0, "a", short, true},
		{"replayed", 0, "a", short, false},
		{"replayed with a later expiry", time.Minute, "a", long, false},
		{"another state", time.Minute, "b", long, true},
		{"replayed just before expiry", 10 * time.Minute, "a", short, false},
		{"unexpired state survives pruning", 20 * time.Minute, "b", long, false},
		{"expired row was pruned", 20 * time.Minute, "a", long, true},
	} {
		e.h.SetNow(t0.Add(tc.at))
		got, err := e.s.SpendSSOState(e.ctx, hash("sso-"+tc.state), tc.until)
		e.must(err)
		if got != tc.want {
			t.Fatalf("%s: spend %q = %v, want %v", tc.name, tc.state, got, tc.want)
		}
	}
}

func testTransfers(t *testing.T, e *env) {
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "sup_b", Name: "Bea Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"},
	}))
	ph := e.enrolPhone("w_a")
	var yp syncengine.RecordID
	ph.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, yp, "team_id", "team_a", "known_as", "Jay")
	})
	ph.sync(0)
	supA, _ := e.s.Person(e.ctx, "sup_a")
	supB, _ := e.s.Person(e.ctx, "sup_b")
	if _, err := e.s.StartTransfer(e.ctx, supB, string(yp), "team_b", "pulling"); code(err) != domain.ENOTFOUND {
		t.Fatalf("another team's supervisor starts a transfer: %v", err)
	}
	if _, err := e.s.StartTransfer(e.ctx, supA, string(yp), "team_nowhere", ""); code(err) != domain.EINVALID {
		t.Fatalf("transfer to no team: %v", err)
	}
	tr, err := e.s.StartTransfer(e.ctx, supA, string(yp), "team_b", "moved to the estate")
	e.must(err)
	if tr.ID == 0 || tr.Status != domain.TransferPending || tr.FromTeam != "team_a" {
		t.Fatalf("transfer: %+v", tr)
	}
	if _, err := e.s.StartTransfer(e.ctx, supA, string(yp), "team_b", "again"); code(err) != domain.ECONFLICT {
		t.Fatalf("second pending transfer: %v", err)
	}
	if _, err := e.s.DecideTransfer(e.ctx, supA, tr.ID, domain.DecisionAccept); code(err) != domain.EFORBIDDEN {
		t.Fatalf("the source team accepts its own transfer: %v", err)
	}
	if _, err := e.s.DecideTransfer(e.ctx, supB, tr.ID, "maybe"); code(err) != domain.EINVALID {
		t.Fatalf("unknown decision: %v", err)
	}
	list, err := e.s.Transfers(e.ctx, domain.TransferFilter{Viewer: domain.Scope{Teams: []string{"team_b"}}, Status: domain.TransferPending})
	e.must(err)
	if len(list) != 1 || list[0].ID != tr.ID {
		t.Fatalf("receiving team's pending list: %+v", list)
	}
	if other, err := e.s.Transfers(e.ctx, domain.TransferFilter{Viewer: domain.Scope{Teams: []string{"team_zzz"}}}); err != nil || len(other) != 0 {
		t.Fatalf("a stranger team sees transfers: %+v %v", other, err)
	}
	done, err := e.s.DecideTransfer(e.ctx, supB, tr.ID, domain.DecisionAccept)
	e.must(err)
	if done.Status != domain.TransferAccepted || done.DecidedBy != "sup_b" || done.DecidedAt.IsZero() {
		t.Fatalf("accepted: %+v", done)
	}
	if rec, err := e.s.RecordState(e.ctx, string(yp)); err != nil || rec.String("team_id") != "team_b" {
		t.Fatalf("young person not moved: %v", err)
	}
	if _, err := e.s.DecideTransfer(e.ctx, supB, tr.ID, domain.DecisionDecline); code(err) != domain.ECONFLICT {
		t.Fatalf("deciding twice: %v", err)
	}
	// The phone of the old team is told to drop the young person.
	res := ph.sync(0)
	if !slicesContains(res.Drop, string(yp)) {
		t.Fatalf("old team's phone not told to drop the young person: %+v", res.Drop)
	}
}

func slicesContains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
