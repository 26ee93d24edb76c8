package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"golang.org/x/crypto/bcrypt"
)

// TestStaffLockoutUsesInjectedClock: after five wrong passwords the client
// waits a minute of the server's clock (not the wall clock), told so by
// Retry-After, even with the right password; then it gets in.
func TestStaffLockoutUsesInjectedClock(t *testing.T) {
	e := newEnv(t)
	wrong, right := basicPW("sup@example.org", "nope"), basic("sup@example.org")
	for i := 0; i < 5; i++ {
		if r := e.do("GET", "/v1/admin/quarantine", wrong, nil); r.status != 401 {
			t.Fatalf("wrong password %d: %d", i, r.status)
		}
	}
	req := httptest.NewRequest("GET", "/v1/admin/quarantine", nil)
	for k, v := range right {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.App.Test(req, 10000)
	must(t, err)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("right password during the back-off: %d, Retry-After %q; want 429, 60", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.now = e.now.Add(59 * time.Second)
	if r := e.do("GET", "/v1/admin/quarantine", right, nil); r.status != 429 {
		t.Fatalf("right password a second before the back-off ends: %d %s", r.status, r.body)
	}
	e.now = e.now.Add(time.Second)
	if r := e.do("GET", "/v1/admin/quarantine", right, nil); r.status != 200 {
		t.Fatalf("right password after the back-off: %d %s", r.status, r.body)
	}
}

// TestUnknownEmailCostsAsMuchAsAKnownOne: over HTTP Basic, an unknown email
// costs exactly one bcrypt comparison at the configured cost, as a wrong
// password for a real account does (server/signin has the same test on its
// own, and BenchmarkSignInUnknownVsKnownEmail the time ratio).
func TestUnknownEmailCostsAsMuchAsAKnownOne(t *testing.T) {
	var compared []int
	e := newEnv(t, func(c *api.Config) {
		c.SignIn.Cost = bcrypt.MinCost + 1 // not the default: the decoy must follow the configuration
		c.SignIn.ComparePassword = func(hash, pw []byte) error {
			cost, err := bcrypt.Cost(hash)
			if err != nil {
				cost = -1
			}
			compared = append(compared, cost)
			return bcrypt.CompareHashAndPassword(hash, pw)
		}
	})
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost+1)
	must(t, err)
	must(t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "sup_t", Name: "Sup T", Email: "timing@example.org",
		Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}, PasswordHash: string(hash)}))
	work := func(email string) []int {
		compared = nil
		if r := e.do("GET", "/v1/admin/quarantine", basicPW(email, "wrong"), nil); r.status != 401 {
			t.Fatalf("%s: %d %s", email, r.status, r.body)
		}
		return compared
	}
	known, unknown := work("timing@example.org"), work("nobody@example.org")
	if want := []int{bcrypt.MinCost + 1}; !slices.Equal(known, want) || !slices.Equal(unknown, want) {
		t.Fatalf("bcrypt comparisons (their costs): known email %v, unknown email %v; want %v for both", known, unknown, want)
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
	got, err := e.db.Audit(context.Background(), domain.AuditFilter{Action: domain.ActionLogin})
	must(t, err)
	if len(got) != 1 || got[0].PersonID != "" {
		t.Fatalf("audit = %+v", got)
	}
}

// serveFrom serves e's API on loopback and returns a function that sends a
// request from the given loopback address (127.0.0.x), so that tests can
// be several clients on one machine.
func (e *env) serveFrom(tb testing.TB) func(from, method, path string, headers map[string]string) (int, http.Header, []byte) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	go e.srv.Serve(ln)
	tb.Cleanup(func() { e.srv.Shutdown(context.Background()) })
	clients := map[string]*http.Client{}
	return func(from, method, path string, headers map[string]string) (int, http.Header, []byte) {
		tb.Helper()
		c := clients[from]
		if c == nil {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			c = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			clients[from] = c
		}
		req, err := http.NewRequest(method, "http://"+ln.Addr().String()+path, nil)
		must(tb, err)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		must(tb, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
}

// TestSignInAnswersDoNotTellWhichAddressesExist: a wrong password for a real
// account and any password for an address nobody has get the same status and
// body, before and after enough failures to throttle the pair.
func TestSignInAnswersDoNotTellWhichAddressesExist(t *testing.T) {
	e := newEnv(t)
	answer := func(email string) string {
		r := e.do("GET", "/v1/admin/quarantine", basicPW(email, "wrong"), nil)
		return fmt.Sprintf("%d %s", r.status, r.body)
	}
	for i := 0; i < 8; i++ {
		known, unknown := answer("sup@example.org"), answer("nobody@example.org")
		if known != unknown {
			t.Fatalf("attempt %d: real account answered %q, unknown address %q", i+1, known, unknown)
		}
	}
}

// TestSignInHostileClientIsThrottled: one address sending wrong passwords as
// fast as it can is answered 429 rate_limited with a Retry-After before any
// password is checked, and may try again once that time has passed.
func TestSignInHostileClientIsThrottled(t *testing.T) {
	e := newEnv(t)
	send := e.serveFrom(t)
	var throttled int
	var retry string
	for i := 0; i < 40; i++ {
		// a different account each time: the per-account back-off is not what stops it
		status, h, body := send("127.0.0.2", "GET", "/v1/admin/quarantine", basicPW(fmt.Sprintf("guess%d@example.org", i), "wrong"))
		switch status {
		case 401:
		case 429:
			throttled++
			retry = h.Get("Retry-After")
			if !strings.Contains(string(body), `"rate_limited"`) {
				t.Fatalf("429 body %s", body)
			}
		default:
			t.Fatalf("attempt %d: %d %s", i, status, body)
		}
	}
	if throttled < 25 {
		t.Fatalf("40 rapid attempts from one address: only %d throttled", throttled)
	}
	secs, err := strconv.Atoi(retry)
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", retry)
	}
	// Another address is not held back by it.
	if status, _, body := send("127.0.0.3", "GET", "/v1/admin/quarantine", basic("sup@example.org")); status != 200 {
		t.Fatalf("another address: %d %s", status, body)
	}
	e.now = e.now.Add(time.Duration(secs) * time.Second)
	if status, _, body := send("127.0.0.2", "GET", "/v1/admin/quarantine", basic("sup@example.org")); status != 200 {
		t.Fatalf("after Retry-After: %d %s", status, body)
	}
}

// TestSignInLockoutCannotLockTheOwnerOut: an attacker hammering an account
// with wrong passwords from one address, for an hour, does not stop the
// account's owner signing in from their own address, at any point.
func TestSignInLockoutCannotLockTheOwnerOut(t *testing.T) {
	e := newEnv(t)
	send := e.serveFrom(t)
	for minute := 0; minute < 60; minute++ {
		for i := 0; i < 3; i++ {
			if status, _, body := send("127.0.0.2", "GET", "/v1/admin/quarantine", basicPW("sup@example.org", "guess")); status != 401 && status != 429 {
				t.Fatalf("attacker: %d %s", status, body)
			}
		}
		if minute%10 == 0 {
			if status, _, body := send("127.0.0.3", "GET", "/v1/admin/quarantine", basic("sup@example.org")); status != 200 {
				t.Fatalf("minute %d: the owner, from their own address, got %d %s", minute, status, body)
			}
		}
		e.now = e.now.Add(time.Minute)
	}
	// The attacker's own address is held back.
	if status, _, _ := send("127.0.0.2", "GET", "/v1/admin/quarantine", basic("sup@example.org")); status != 429 {
		t.Fatalf("the attacking address with the right password: %d, want 429", status)
	}
}
