package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/signin"
	"github.com/pquerna/otp/totp"
)

var (
	secretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryRe = regexp.MustCompile(`<li><code>([a-z0-9-]{19})</code></li>`)
)

func TestTwoFactorEnrolSignInReplayRecovery(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1) // signed in before two-factor became mandatory
	e.portal.cfg.TwoFactorRoles = signin.TwoFactorRoles
	sup := login(t, "supervisor", 1)
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, *e.clock)
		must(t, err)
		return c
	}
	step := func(c *client, body, codeValue string) (int, string) {
		t.Helper()
		m := csrfRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no form on the second-factor page:\n%s", trunc(body))
		}
		form := url.Values{"_csrf": {m[1]}, "code": {codeValue}}
		if s := secretRe.FindStringSubmatch(body); s != nil {
			form.Set("secret", s[1])
		}
		return c.do("POST", "/portal/login/second-factor", form)
	}

	// A supervisor without a second factor must enrol before anything opens.
	b := e.anon()
	if status, _ := b.signIn(sup.Email, sup.Password); status != http.StatusSeeOther {
		t.Fatalf("password step: %d", status)
	}
	if status, _ := b.get("/portal/dashboard"); status != http.StatusSeeOther {
		t.Fatalf("dashboard before the second factor: %d, want a redirect", status)
	}
	_, page := b.get("/portal/login/second-factor")
	s := secretRe.FindStringSubmatch(page)
	if s == nil || !strings.Contains(page, `class="qr"`) {
		t.Fatalf("enrolment page has no QR code and key:\n%s", trunc(page))
	}
	secret := s[1]
	if status, body := step(b, page, "000000"); status != http.StatusUnprocessableEntity || !strings.Contains(body, "does not match") {
		t.Fatalf("wrong enrolment code: %d", status)
	}
	status, body := step(b, page, code(secret))
	codes := recoveryRe.FindAllStringSubmatch(body, -1)
	if status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("enrolment: %d, %d recovery codes\n%s", status, len(codes), trunc(body))
	}
	if status, _ := b.get("/portal/dashboard"); status != http.StatusOK {
		t.Fatalf("dashboard after enrolling: %d", status)
	}

	// Next sign-in asks for a code; the one just used is refused (replay).
	signInCode := func(codeValue string) (int, string) {
		t.Helper()
		c := e.anon()
		if status, _ := c.signIn(sup.Email, sup.Password); status != http.StatusSeeOther {
			t.Fatalf("password step: %d", status)
		}
		_, page := c.get("/portal/login/second-factor")
		if secretRe.MatchString(page) {
			t.Fatal("an enrolled person was shown a new secret")
		}
		status, body := step(c, page, codeValue)
		if status == http.StatusSeeOther {
			status, body = c.get("/portal/dashboard")
		}
		return status, body
	}
	if status, _ := signInCode(code(secret)); status != http.StatusUnauthorized {
		t.Fatalf("the enrolment code again in the same 30 s: %d, want 401", status)
	}
	*e.clock = e.clock.Add(30 * time.Second)
	if status, _ := signInCode(code(secret)); status != http.StatusOK {
		t.Fatalf("a fresh code: %d, want the dashboard", status)
	}
	if status, _ := signInCode("123456"); status != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d, want 401", status)
	}
	recovery := codes[0][1]
	if status, _ := signInCode(strings.ToUpper(recovery)); status != http.StatusOK {
		t.Fatalf("a recovery code: %d, want the dashboard", status)
	}
	if status, _ := signInCode(recovery); status != http.StatusUnauthorized {
		t.Fatalf("a recovery code used twice: %d, want 401", status)
	}

	// An admin resets it (lost phone): the next sign-in enrols again.
	id := personByEmail(t, sup.Email).ID
	if status, _ := admin.post("/portal/admin/people/"+id+"/reset-two-factor", nil); status != http.StatusSeeOther {
		t.Fatalf("reset: %d", status)
	}
	p, err := e.db.Person(context.Background(), id)
	must(t, err)
	if p.TOTPSecret != "" {
		t.Fatal("secret kept after a reset")
	}
	c := e.anon()
	c.signIn(sup.Email, sup.Password)
	if _, page := c.get("/portal/login/second-factor"); !secretRe.MatchString(page) {
		t.Fatal("after a reset the supervisor is not asked to enrol again")
	}
}
