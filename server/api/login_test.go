package api_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// TestStaffLockoutUsesInjectedClock: five wrong passwords lock the account
// on the server's clock (not the wall clock); the lock ends when that clock
// passes it, and one more failure afterwards does not lock again.
func TestStaffLockoutUsesInjectedClock(t *testing.T) {
	e := newEnv(t)
	wrong, right := basicPW("sup@example.org", "nope"), basic("sup@example.org")
	for i := 0; i < 5; i++ {
		if r := e.do("GET", "/v1/admin/quarantine", wrong, nil); r.status != 401 {
			t.Fatalf("wrong password %d: %d", i, r.status)
		}
	}
	if r := e.do("GET", "/v1/admin/quarantine", right, nil); r.status != 401 {
		t.Fatalf("right password during the lockout: %d %s", r.status, r.body)
	}
	e.now = e.now.Add(16 * time.Minute)
	if r := e.do("GET", "/v1/admin/quarantine", wrong, nil); r.status != 401 {
		t.Fatalf("wrong password after the lockout: %d", r.status)
	}
	if r := e.do("GET", "/v1/admin/quarantine", right, nil); r.status != 200 {
		t.Fatalf("right password after the lockout (and one failure): %d %s", r.status, r.body)
	}
}

// noLoginRecord is the real store with RecordLogin (a write transaction,
// whose fsync would swamp the measurement) made a no-op, so that the timing
// test below compares what it is about: the bcrypt work.
type noLoginRecord struct{ *sqlite.DB }

func (noLoginRecord) RecordLogin(context.Context, string, bool, int, time.Duration) error { return nil }

// TestUnknownEmailCostsAsMuchAsAKnownOne: signing in with an unknown email
// spends as long in bcrypt as a wrong password for a real account, at the
// configured cost (a decoy of another cost, or a malformed one that fails
// fast, would reveal which emails exist).
func TestUnknownEmailCostsAsMuchAsAKnownOne(t *testing.T) {
	e := newEnv(t)
	const cost = 8 // not the default cost 10: the decoy must follow the configuration
	cfg := e.srv.Config
	cfg.BcryptCost = cost
	cfg.StaffAuth = nil // the default (HTTP Basic) bound to the new server
	srv := api.New(noLoginRecord{e.db}, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), cost)
	must(t, err)
	must(t, e.db.UpsertPerson(context.Background(), sqlite.Person{ID: "sup_t", Name: "Sup T", Email: "timing@example.org",
		Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}, PasswordHash: string(hash)}))
	attempt := func(email string) time.Duration {
		req := httptest.NewRequest("GET", "/v1/admin/quarantine", nil)
		for k, v := range basicPW(email, "wrong") {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := srv.App.Test(req, 10000)
		must(t, err)
		d := time.Since(start)
		if resp.StatusCode != 401 {
			t.Fatalf("%s: %d", email, resp.StatusCode)
		}
		return d
	}
	attempt("nobody@example.org") // the decoy is made on first use
	// Interleaved, so load from other packages' tests hits both alike.
	var ks, us []time.Duration
	for i := 0; i < 7; i++ {
		ks = append(ks, attempt("timing@example.org"))
		us = append(us, attempt("nobody@example.org"))
	}
	slices.Sort(ks)
	slices.Sort(us)
	known, unknown := ks[3], us[3]
	t.Logf("known email %s, unknown email %s", known, unknown)
	if ratio := float64(unknown) / float64(known); ratio < 0.6 || ratio > 1.6 {
		t.Fatalf("unknown email took %s, known email %s: the difference reveals which emails exist", unknown, known)
	}
}

func basicPW(user, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)), "Content-Type": "application/json"}
}

// TestUnknownEmailSignInIsAuditedLikeAFailure: a sign-in for an email nobody
// has writes the same kind of audit entry as a failed one, in a write
// transaction, so neither the time taken nor the log tells which emails exist.
func TestUnknownEmailSignInIsAuditedLikeAFailure(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/v1/admin/quarantine", basicPW("nobody@example.org", "x"), nil); r.status != 401 {
		t.Fatalf("unknown email: %d", r.status)
	}
	got, err := e.db.Audit(context.Background(), sqlite.AuditFilter{Action: sqlite.ActionLogin})
	must(t, err)
	if len(got) != 1 || got[0].PersonID != "" {
		t.Fatalf("audit = %+v", got)
	}
}
