package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// startEmptyServer runs the real program on an empty database, as a
// deployment starts (no demo data: supervisors and admins must enrol a
// second factor). Plain-HTTP cookies so a Go client can hold a worker's
// session beside the browser.
func startEmptyServer(t *testing.T) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	lines := runServer(t, []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", "4", "-log-level", "warn", "-demo=false"},
		"DATA_DIR="+dir, "PORTAL_INSECURE_COOKIES=1")
	var base, banner string
	deadline := time.After(90 * time.Second)
	for !strings.Contains(banner, "Press Ctrl-C") {
		select {
		case l := <-lines:
			banner += l + "\n"
			if m := portalURLRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-deadline:
			t.Fatalf("server did not start:\n%s", banner)
		}
	}
	if !strings.Contains(banner, "joinedup admin create --email") {
		t.Fatalf("an empty server's banner does not say how to create the first admin:\n%s", banner)
	}
	return &server{URL: base}, dir
}

var (
	linkRe   = regexp.MustCompile(`(/portal/set-password\?token=[A-Za-z0-9_-]+)`)
	secretRe = regexp.MustCompile(`^[A-Z2-7]+$`)
)

// setPassword opens a set-password link in the browser and sets pw.
func (c *chrome) setPassword(link, pw string) {
	c.t.Helper()
	c.visit(link)
	c.do(chromedp.SendKeys(chromedp.ID("password"), pw), chromedp.SendKeys(chromedp.ID("confirm"), pw))
	c.submit("#save-password")
	if h := c.text("main h1"); h != "Sign in" {
		c.t.Fatalf("after setting a password: %q", h)
	}
}

// signInWith signs in by password and then gives the second factor: it
// enrols (returning the secret and a recovery code) or types code().
func (c *chrome) signInWith(email, pw string, code func() string) (secret, recovery string) {
	c.t.Helper()
	c.visit("/portal/login")
	c.do(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), pw))
	c.submit("#signin")
	if h := c.text("main h1"); h != "Two-step sign-in" {
		c.t.Fatalf("after the password: %q, want the second step", h)
	}
	if code == nil {
		secret = strings.TrimSpace(c.text("#totp-secret"))
		if !secretRe.MatchString(secret) {
			c.t.Fatalf("no TOTP key on the enrolment page: %q", secret)
		}
		code = func() string {
			s, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				c.t.Fatal(err)
			}
			return s
		}
	}
	c.do(chromedp.SendKeys(chromedp.ID("code"), code()))
	c.submit("#verify")
	if secret != "" {
		recovery = strings.Fields(c.text("#recovery-codes"))[0]
		c.submit("#continue")
	}
	return secret, recovery
}

func (c *chrome) createPerson(name, email, role string, team string) string {
	c.t.Helper()
	c.visit("/portal/admin/people/new")
	c.do(chromedp.SendKeys(chromedp.ID("name"), name), chromedp.SetValue(chromedp.ID("role"), role),
		chromedp.SetValue(chromedp.ID("team_id"), team))
	if email != "" {
		c.do(chromedp.SendKeys(chromedp.ID("email"), email))
	}
	if role == "supervisor" {
		c.do(chromedp.Click(chromedp.ID("sup-" + team)))
	}
	c.submit("#save-person")
	link := linkRe.FindString(c.eval(`document.getElementById("link") ? document.getElementById("link").value : document.body.innerText`))
	if email != "" && link == "" {
		c.t.Fatalf("creating %s showed no set-password link: %s", name, c.text("main"))
	}
	return link
}

// TestFirstStartJourney: from an empty database to a leaver's phone wiped,
// in real headless Chromium.
func TestFirstStartJourney(t *testing.T) {
	srv, dir := startEmptyServer(t)
	c := newChrome(t, srv.URL)

	out, err := exec.Command(filepath.Join(binDir, "joinedup"), "admin", "create", "--email", "ada@council.example",
		"--name", "Ada Admin", "-data", dir, "-url", srv.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	link := linkRe.FindString(string(out))
	c.visit(link)
	c.shot("first-01-set-password")
	c.setPassword(link, "velvet thunder orchard")
	_, adminRecovery := c.signInWith("ada@council.example", "velvet thunder orchard", nil)
	c.shot("first-02-recovery-codes-done")

	// A team in a new area, then people.
	c.visit("/portal/admin/teams")
	c.do(chromedp.SendKeys(chromedp.ID("name"), "North detached team"), chromedp.SendKeys(chromedp.ID("area_name"), "North"))
	c.submit("#save-team")
	c.visit("/portal/admin/people/new")
	team := c.eval(`document.querySelector("#team_id option:not([value=''])").value`)
	if team == "" {
		t.Fatal("the new team is not offered on the person form")
	}
	supLink := c.createPerson("Sam Supervisor", "sam@council.example", "supervisor", team)
	c.shot("first-03-password-link")
	workerLink := c.createPerson("Wren Worker", "wren@council.example", "worker", team)
	c.createPerson("Wes Worker", "", "worker", team)
	c.visit("/portal/admin/people")
	c.shot("first-04-people")

	// A service with an agreement (checkboxes) and opening hours (the weekly editor).
	c.visit("/portal/admin/services/new")
	c.do(chromedp.SendKeys(chromedp.ID("name"), "Northside Housing"), chromedp.Click(chromedp.ID("sf-reason")),
		chromedp.Click(chromedp.ID("sf-urgency")),
		chromedp.SetValue(chromedp.CSS(`input[name="hours-1-0-start"]`), "09:00"),
		chromedp.SetValue(chromedp.CSS(`input[name="hours-1-0-end"]`), "17:00"))
	c.shot("first-05-service-form")
	c.submit("#save-service")
	if h := c.text("main h1"); h != "Northside Housing" {
		t.Fatalf("after adding the service: %q", h)
	}
	c.signOut()

	// The worker sets a password and signs in (a Go browser, holding a session).
	jar, _ := cookiejar.New(nil)
	wren := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) (int, string) {
		resp, err := wren.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		resp, err := wren.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	csrf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	_, body := get(workerLink)
	post("/portal/set-password", url.Values{"_csrf": {csrf.FindStringSubmatch(body)[1]}, "token": {strings.SplitN(workerLink, "token=", 2)[1]},
		"password": {"quiet river lantern"}, "confirm": {"quiet river lantern"}})
	_, body = get("/portal/login")
	if _, body = post("/portal/login", url.Values{"_csrf": {csrf.FindStringSubmatch(body)[1]}, "email": {"wren@council.example"},
		"password": {"quiet river lantern"}}); !strings.Contains(body, "Wren Worker") {
		t.Fatalf("the worker could not sign in:\n%s", body)
	}

	// The supervisor sets a password, enrols TOTP and issues an enrolment code.
	c.setPassword(supLink, "granite meadow falcon")
	c.signInWith("sam@council.example", "granite meadow falcon", nil)
	c.visit("/portal/devices")
	wrenID := c.eval(`[...document.querySelectorAll("#person option")].find(o => o.textContent.startsWith("Wren")).value`)
	c.do(chromedp.SetValue(chromedp.ID("person"), wrenID))
	c.submit("#issue")
	code := strings.TrimSpace(c.text("#code"))
	c.shot("first-06-enrolment-code")
	phone := newPhone(t)
	if out := phone.run("enrol", "-server", srv.URL, "-code", code); !strings.Contains(out, "enrolled") {
		t.Fatalf("enrol: %s", out)
	}
	phone.run("add-encounter", "-team", team, "-area", "Park", "-note", "Chatted by the skate ramp.")
	if out := phone.run("sync"); strings.Contains(out, "wiped") {
		t.Fatalf("first sync: %s", out)
	}
	c.signOut()

	// The admin (with a recovery code: the enrolment's TOTP code may not be
	// used twice) deactivates the worker.
	c.signInWith("ada@council.example", "velvet thunder orchard", func() string { return adminRecovery })
	c.visit("/portal/admin/people/" + wrenID)
	c.do(chromedp.Click(chromedp.ID("confirm")))
	c.submit("#deactivate")
	if got := c.text("#deactivation"); !strings.Contains(got, "told to wipe at their next sync: 1") || !strings.Contains(got, "Portal sessions ended: 1") {
		t.Fatalf("deactivation page: %s", got)
	}
	c.shot("first-07-deactivated")

	out2, _ := phone.try("sync")
	if !strings.Contains(out2, "device revoked: local data wiped") {
		t.Fatalf("the leaver's phone was not told to wipe:\n%s", out2)
	}
	if _, body := get("/portal/worker"); !strings.Contains(body, `id="signin"`) {
		t.Fatalf("the leaver's portal session survived:\n%s", body)
	}
}
