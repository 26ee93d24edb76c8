package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// readPage is a response's status and body.
func readPage(t *testing.T, resp *http.Response, err error) (int, string) {
	t.Helper()
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFirstStart is a real deployment's first minutes: an empty server
// says how to begin, `joinedup admin create` prints a link, the admin sets
// a password through it and signs in to the people page.
func TestFirstStart(t *testing.T) {
	t.Setenv("PORTAL_INSECURE_COOKIES", "1") // plain HTTP on loopback, for the cookie jar
	dir := t.TempDir()
	var banner bytes.Buffer
	m := MustRunMain(t, dir, func(m *Main) { m.Config.Demo = false; m.Out = &banner })
	if !strings.Contains(banner.String(), firstAdminHint) {
		t.Fatalf("an empty server's banner does not say how to create the first admin:\n%s", banner.String())
	}
	ctx := context.Background()
	args := []string{"create", "--email", "Ada.Admin@Council.example", "--name", "Ada Admin", "-data", dir, "-url", m.URL()}
	var out, errOut bytes.Buffer
	if code := runAdmin(ctx, args, &out, &errOut); code != 0 {
		t.Fatalf("admin create: exit %d: %s", code, errOut.String())
	}
	link := regexp.MustCompile(`http://\S+/portal/set-password\?token=\S+`).FindString(out.String())
	if link == "" {
		t.Fatalf("admin create printed no link:\n%s", out.String())
	}
	for _, bad := range []struct {
		name string
		args []string
		code int
	}{
		{"same e-mail again", args, 1},
		{"not an e-mail", []string{"create", "--email", "ada", "--name", "Ada", "-data", dir}, 1},
		{"no name", []string{"create", "--email", "b@council.example", "-data", dir}, 1},
		{"no subcommand", []string{"delete"}, 2},
	} {
		out.Reset()
		errOut.Reset()
		if code := runAdmin(ctx, bad.args, &out, &errOut); code != bad.code || errOut.Len() == 0 {
			t.Errorf("%s: exit %d, want %d with a message (stderr %q)", bad.name, code, bad.code, errOut.String())
		}
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: client.Timeout}
	page := func(resp *http.Response, err error) (int, string) { t.Helper(); return readPage(t, resp, err) }
	status, body := page(browser.Get(link))
	csrf := csrfField.FindStringSubmatch(body)
	if status != 200 || csrf == nil || !strings.Contains(body, "Ada Admin") {
		t.Fatalf("set-password page: %d\n%s", status, body)
	}
	token := strings.SplitN(link, "token=", 2)[1]
	const pw = "velvet thunder orchard"
	status, body = page(browser.PostForm(m.URL()+"/portal/set-password", url.Values{"_csrf": {csrf[1]}, "token": {token},
		"password": {pw}, "confirm": {pw}}))
	if status != 200 || !strings.Contains(body, "Sign in") {
		t.Fatalf("after setting the password: %d, want the sign-in page\n%s", status, body)
	}
	csrf = csrfField.FindStringSubmatch(body)
	status, body = page(browser.PostForm(m.URL()+"/portal/login", url.Values{"_csrf": {csrf[1]},
		"email": {"ada.admin@council.example"}, "password": {pw}, "next": {"/portal/admin/people"}}))
	secret := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if status != 200 || secret == nil {
		t.Fatalf("an admin on a real server is not asked to enrol a second factor: %d\n%s", status, body)
	}
	if _, early := page(browser.Get(m.URL() + "/portal/admin/people")); strings.Contains(early, `id="people"`) {
		t.Fatal("the people page opened before the second factor")
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	must(t, err)
	csrf = csrfField.FindStringSubmatch(body)
	status, body = page(browser.PostForm(m.URL()+"/portal/login/second-factor", url.Values{"_csrf": {csrf[1]},
		"secret": {secret[1]}, "code": {code}, "next": {"/portal/admin/people"}}))
	if status != 200 || !strings.Contains(body, `id="recovery-codes"`) {
		t.Fatalf("second factor enrolment: %d\n%s", status, body)
	}
	status, body = page(browser.Get(m.URL() + "/portal/admin/people"))
	if status != 200 || !strings.Contains(body, `id="people"`) || !strings.Contains(body, "Ada Admin") {
		t.Fatalf("the first admin's people page: %d\n%s", status, body)
	}
}
