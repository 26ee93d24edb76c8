package sqlite_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

func tokenHash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestPasswordTokenSingleUseAndExpiry(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustOrg(t, db)
	now := db.Now()
	must(t, db.CreateSession(ctx, domain.StaffSession{TokenHash: tokenHash("old-session"), PersonID: "s1", CSRF: "c",
		Created: now, LastSeen: now, Expires: now.Add(time.Hour)}))
	issue := func(tok string, ttl time.Duration) {
		t.Helper()
		must(t, db.CreatePasswordToken(ctx, domain.PasswordToken{TokenHash: tokenHash(tok), PersonID: "s1",
			Purpose: domain.PasswordReset, CreatedBy: "admin", Expires: now.Add(ttl)}))
	}
	issue("expired", -time.Second)
	issue("superseded", time.Hour)
	issue("good", time.Hour)
	for _, tc := range []struct {
		name, token string
		wantCode    string
	}{
		{"unknown", "nope", domain.ENOTFOUND},
		{"expired", "expired", domain.ENOTFOUND},
		{"superseded by a newer link", "superseded", domain.ENOTFOUND},
		{"good", "good", ""},
		{"used twice", "good", domain.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := db.UsePasswordToken(ctx, tokenHash(tc.token), "$2a$hash-"+tc.name)
			if got := domain.ErrorCode(err); tc.wantCode != "" && got != tc.wantCode || tc.wantCode == "" && err != nil {
				t.Fatalf("err = %v (code %q), want code %q", err, got, tc.wantCode)
			}
			if tc.wantCode == "" && p.ID != "s1" {
				t.Fatalf("person = %q, want s1", p.ID)
			}
		})
	}
	p, err := db.Person(ctx, "s1")
	must(t, err)
	if p.PasswordHash != "$2a$hash-good" {
		t.Fatalf("password hash = %q: only the good link may set it", p.PasswordHash)
	}
	if ss, err := db.PersonSessions(ctx, "s1"); err != nil || len(ss) != 0 {
		t.Fatalf("sessions after a password set = %d, %v; want none (signed out everywhere)", len(ss), err)
	}
}

func TestDeactivatePersonEndsEverything(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustOrg(t, db)
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	enr, err := db.Enrol(ctx, code, "android")
	must(t, err)
	spare, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	now := db.Now()
	for _, tok := range []string{"a", "b"} {
		must(t, db.CreateSession(ctx, domain.StaffSession{TokenHash: tokenHash(tok), PersonID: "w1", CSRF: "c",
			Created: now, LastSeen: now, Expires: now.Add(time.Hour)}))
	}
	d, err := db.DeactivatePerson(ctx, "w1", "admin")
	must(t, err)
	if d.DevicesRevoked != 1 || d.SessionsEnded != 2 || d.Supervisor != "s1" {
		t.Fatalf("deactivation = %+v, want 1 device, 2 sessions, flagged to s1", d)
	}
	dev, err := db.Device(ctx, enr.DeviceID)
	must(t, err)
	if dev.Status != domain.DeviceRevoked || !dev.WipeRequested {
		t.Fatalf("device after deactivation = %+v, want revoked and told to wipe", dev)
	}
	if _, err := db.Enrol(ctx, spare, "android"); err == nil {
		t.Fatal("an enrolment code issued before deactivation still enrolled a phone")
	}
	if _, err := db.DeactivatePerson(ctx, "w1", "admin"); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("second deactivation: %v, want conflict", err)
	}
	if err := db.CreatePasswordToken(ctx, domain.PasswordToken{TokenHash: tokenHash("x"), PersonID: "w1",
		Purpose: domain.PasswordReset, CreatedBy: "admin", Expires: now.Add(time.Hour)}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("password link for a deactivated person: %v, want conflict", err)
	}
	p, err := db.Person(ctx, "w1")
	must(t, err)
	if p.Deactivated.IsZero() {
		t.Fatal("person not marked deactivated")
	}
	audit, err := db.Audit(ctx, domain.AuditFilter{Action: domain.ActionDeactivate})
	must(t, err)
	if len(audit) != 1 || audit[0].RecordID != "w1" || audit[0].PersonID != "admin" {
		t.Fatalf("audit = %+v, want one deactivation of w1 by admin", audit)
	}
}
