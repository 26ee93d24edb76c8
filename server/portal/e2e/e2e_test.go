// Package e2e drives the portal in real headless Chromium against the real
// server (server/cmd/joinedup, demo data) on loopback, with phones simulated
// by fieldsim (mobile-sdk/cmd/fieldsim) talking the real sync protocol.
//
// Chromium: $CHROMIUM_PATH, default /usr/bin/chromium; the test is skipped
// when it is missing, except under CI (it fails there). Screenshots of the main pages go to
// artifacts/screenshots/ at the repository root (git-ignored).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures/serverproc"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/fixtures/axe"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portal-e2e-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	root := repoRoot()
	for name, pkg := range map[string]string{"joinedup": "./server/cmd/joinedup", "fieldsim": "./mobile-sdk/cmd/fieldsim"} {
		cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("no go.mod above the test")
		}
		dir = parent
	}
}

// server is the real program, started as a process on 127.0.0.1:0.
type server struct {
	URL string
}

func startServer(t *testing.T) *server {
	t.Helper()
	lines := runServer(t, []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", "4", "-log-level", "warn"}, "DATA_DIR="+t.TempDir())
	deadline := time.After(90 * time.Second)
	for {
		select {
		case l := <-lines:
			if m := portalURLRe.FindStringSubmatch(l); m != nil {
				return &server{URL: m[1]}
			}
		case <-deadline:
			t.Fatal("server did not print its address")
		}
	}
}

var portalURLRe = regexp.MustCompile(`Portal:\s+(http://\S+?)/?$`)

// runServer starts the program with args and extra environment, stops it
// (SIGINT, then SIGKILL after 20 s) when the test ends, and returns its
// standard output's lines.
func runServer(t *testing.T, args []string, env ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "joinedup"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serverproc.Stop(cmd, os.Interrupt) })
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more: drop, never block the server
			}
		}
	}()
	return lines
}

// phone is a fieldsim state directory.
type phone struct {
	t   *testing.T
	dir string
}

func newPhone(t *testing.T) *phone { return &phone{t: t, dir: t.TempDir()} }

func (p *phone) try(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "fieldsim"), append([]string{"-dir", p.dir}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *phone) run(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("fieldsim %v: %v\n%s", args, err, out)
	}
	return out
}

// lastLine is a command's printed result (a record id).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// chrome is one headless Chromium with a fresh profile.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func newChrome(t *testing.T, base string) *chrome {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		// CI installs Chromium (.ci/run): there a missing browser is a failure, never a skip.
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s (set CHROMIUM_PATH): %v", path, err)
		}
		t.Skipf("no Chromium at %s (set CHROMIUM_PATH): %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 300*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	shots := filepath.Join(repoRoot(), "artifacts", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &chrome{t: t, ctx: ctx, base: base, shots: shots}
	c.do(chromedp.EmulateViewport(1280, 900))
	return c
}

func (c *chrome) do(actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("browser: %v", err)
	}
}

// visit opens a portal path and waits for its heading; every page a
// browser test shows is checked by axe-core.
func (c *chrome) visit(path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
	c.checkA11y()
}

// checkA11y runs axe-core on the page shown: no critical or serious
// violation is allowed (a page seen twice is checked twice, as its content
// may differ).
func (c *chrome) checkA11y() {
	c.t.Helper()
	vs, err := axe.Check(c.ctx)
	if err != nil {
		c.t.Fatalf("axe: %v", err)
	}
	if bad := axe.Serious(vs); len(bad) > 0 {
		url := c.eval(`location.pathname + location.search`)
		for _, v := range bad {
			c.t.Errorf("axe on %s: %s", url, v)
		}
	}
}

// submit clicks a button that submits a form and waits for the next page.
func (c *chrome) submit(sel string) {
	c.t.Helper()
	if _, err := chromedp.Run(c.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		c.t.Fatalf("submit %s: %v", sel, err)
	}
	c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	c.checkA11y()
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text %s: %v", sel, err)
	}
	return s
}

func (c *chrome) eval(js string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("eval %s: %v", js, err)
	}
	return s
}

// status opens a portal path and returns the HTTP status of the response.
func (c *chrome) status(path string) string {
	c.t.Helper()
	resp, err := chromedp.Run(c.ctx, chromedp.NavigateResponse(c.base+path))
	if err != nil {
		c.t.Fatalf("open %s: %v", path, err)
	}
	return fmt.Sprint(resp.Status)
}

func (c *chrome) shot(name string) {
	c.t.Helper()
	buf, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(c.shots, name+".png"), buf, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// signIn signs in with the keyboard only: type, Tab, type, Enter.
func (c *chrome) signIn(l fixtures.Login) {
	c.t.Helper()
	c.visit("/portal/login")
	c.do(chromedp.WaitVisible(chromedp.ID("email")), chromedp.SendKeys(chromedp.ID("email"), l.Email),
		chromedp.KeyEvent("\t"), chromedp.KeyEvent(l.Password))
	if _, err := chromedp.Run(c.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent("\r"))); err != nil {
		c.t.Fatalf("sign in: %v", err)
	}
	c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	if who := c.text(".who"); !strings.Contains(who, l.Name) {
		c.t.Fatalf("signed in as %q, want %s", who, l.Name)
	}
}

func (c *chrome) signOut() {
	c.t.Helper()
	c.submit("form.signout button")
	if h := c.text("main h1"); h != "Sign in" {
		c.t.Fatalf("after sign-out: %q", h)
	}
}

func demoLogin(t *testing.T, role string, n int) (fixtures.Login, fixtures.Person) {
	t.Helper()
	org := fixtures.Generate(fixtures.Demo()).Org
	seen := 0
	for i, l := range fixtures.DemoLogins(org) {
		if l.Role == role {
			if seen++; seen == n {
				return l, org.People[i]
			}
		}
	}
	t.Fatalf("no demo %s %d", role, n)
	return fixtures.Login{}, fixtures.Person{}
}

func TestPortalJourneys(t *testing.T) {
	srv := startServer(t)
	c := newChrome(t, srv.URL)
	ds := fixtures.Generate(fixtures.Demo())
	supLogin, sup := demoLogin(t, "supervisor", 1)
	prLogin, pr := demoLogin(t, "practitioner", 1)
	admLogin, _ := demoLogin(t, "admin", 1)
	wkLogin, _ := demoLogin(t, "worker", 1)
	var workers []fixtures.Person
	for _, p := range ds.Org.People {
		if p.Role == "worker" && p.TeamID == sup.TeamID {
			workers = append(workers, p)
		}
	}

	// Signed out: every page sends you to sign in.
	c.visit("/portal/dashboard")
	if h := c.text("main h1"); h != "Sign in" {
		t.Fatalf("signed-out dashboard shows %q", h)
	}
	c.shot("01-sign-in")

	// A supervisor enrols two phones for two workers of the team.
	c.signIn(supLogin)
	c.shot("02-dashboard")
	phones := make([]*phone, 2)
	for i := range phones {
		c.visit("/portal/devices")
		c.do(chromedp.SetValue(chromedp.ID("person"), workers[i].ID))
		c.submit("#issue")
		code := strings.TrimSpace(c.text("#code"))
		if n := c.eval(`String(document.querySelectorAll("svg.qr path").length)`); n != "1" {
			t.Fatalf("no QR code on the enrolment page (%s)", n)
		}
		if i == 0 {
			c.shot("03-enrolment-code")
		}
		phones[i] = newPhone(t)
		if out := phones[i].run("enrol", "-server", srv.URL, "-code", code); !strings.Contains(out, "enrolled") {
			t.Fatalf("enrol: %s", out)
		}
	}
	a, b := phones[0], phones[1]

	// Two phones write one encounter: A creates it (the note has markup in
	// it), B adds to the note; both change the area without seeing the other.
	note := `Met J at the bus shelter. <script>document.title="pwned"</script> Talked about college.`
	enc := lastLine(a.run("add-encounter", "-area", "Bus station", "-note", note))
	a.run("sync")
	b.run("sync")
	b.run("edit-note", "-id", enc, "-pos", fmt.Sprint(len([]rune(note))), "-insert", " Second worker: J seemed calmer later.")
	b.run("set", "-id", enc, "-field", "area", "-value", `"Bus station (east side)"`)
	a.run("set", "-id", enc, "-field", "area", "-value", `"Market square"`)
	b.run("sync")
	a.run("sync")

	c.visit("/portal/encounters/" + enc)
	c.shot("04-encounter-conflict")
	narrative := c.text("#note")
	if !strings.Contains(narrative, `<script>document.title="pwned"</script>`) || !strings.Contains(narrative, "J seemed calmer later") {
		t.Fatalf("narrative: %q", narrative)
	}
	if n := c.eval(`String(document.querySelectorAll("main script").length) + document.title`); strings.Contains(n, "pwned") || !strings.HasPrefix(n, "0") {
		t.Fatalf("note markup ran or rendered as an element: %s", n)
	}
	legend := c.text(".legend")
	if !strings.Contains(legend, workers[0].Name) || !strings.Contains(legend, workers[1].Name) {
		t.Fatalf("authors legend %q lacks a worker", legend)
	}
	if got := c.eval(`String(document.querySelectorAll("#conflicts .side").length)`); got != "2" {
		t.Fatalf("%s sides in the conflict, want 2", got)
	}

	// Resolve the conflict (keep B's value), then sign off.
	c.submit(`#conflicts form.side button`) // the first (winning) side
	kept := c.text("dl.facts")
	if c.eval(`String(document.querySelectorAll("#conflicts").length)`) != "0" {
		t.Fatal("conflict still shown after resolving")
	}
	c.submit("#signoff")
	if s := c.text("#review-status"); !strings.Contains(s, "Signed off") || !strings.Contains(s, sup.Name) {
		t.Fatalf("review status %q", s)
	}
	c.shot("05-encounter-signed-off")
	// The sign-off and the resolution reach the phones.
	a.run("sync")
	if shown := a.run("show", "-id", enc); !strings.Contains(shown, "signed_off") {
		t.Fatalf("phone A does not see the sign-off:\n%s", shown)
	}
	_ = kept

	// Young person chronology and the encounters list with filters.
	c.visit("/portal/encounters?concern=yes")
	c.shot("06-encounters")
	c.visit("/portal/young-people")
	c.do(chromedp.Click(chromedp.CSS("table.list tbody a")))
	c.do(chromedp.WaitVisible(chromedp.ID("timeline")))
	c.shot("07-chronology")

	// A referral from phone A to the practitioner's service.
	yp := lastLine(a.run("add-young-person", "-known-as", "Jaz"))
	ref := lastLine(a.run("draft-referral", "-yp", yp, "-reason", "Sofa-surfing since September; wants a housing assessment.", "-service", pr.ServiceID, "-urgency", "soon"))
	a.run("consent", "-id", ref, "-consent", "given")
	a.run("submit-referral", "-id", ref)
	a.run("sync")
	c.visit("/portal/referrals")
	c.shot("08-referrals")

	// Revoke phone B; at its next sync it is told to wipe.
	c.visit("/portal/devices")
	c.shot("09-devices")
	// Revoking asks for a reason and a confirmation naming the phone.
	row := fmt.Sprintf(`[...document.querySelectorAll("#device-list > li")].find(li => li.textContent.includes(%q) && li.querySelector("form"))`, workers[1].Name)
	c.eval(row + `.querySelector("details").open = true; ""`)
	c.eval(row + `.querySelector("input[name=reason]").value = "lost on the night bus"; ""`)
	c.eval(row + `.querySelector("input[name=confirm]").checked = true; ""`)
	if _, err := chromedp.Run(c.ctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Evaluate[chromedp.Void](row+`.querySelector("button").click()`))); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	out, err := b.try("sync")
	if err == nil || !strings.Contains(out, "wiped") {
		t.Fatalf("revoked phone's sync: err %v\n%s", err, out)
	}
	c.visit("/portal/devices")
	if s := c.text("#device-list"); !strings.Contains(s, "revoked") {
		t.Fatalf("device list after revoke: %s", s)
	}

	// Reports, and a CSV export downloaded through the browser.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(c.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
		t.Fatal(err)
	}
	c.visit("/portal/reports")
	if n := c.eval(`String(document.querySelectorAll("#r-topics .bars").length)`); n != "1" {
		t.Fatalf("%s topic charts", n)
	}
	// Every report draws its chart exactly when its table shows a count
	// above zero (all suppressed or all zero: no chart, never an empty one).
	if bad := c.eval(`JSON.stringify([...document.querySelectorAll("section.report")].filter(s =>
		!!s.querySelector(".bars") !== [...s.querySelectorAll("td")].some(td => /^[1-9][0-9]*$/.test(td.textContent.trim()))).map(s => s.id))`); bad != "[]" {
		t.Fatalf("reports whose chart does not match their counts: %s", bad)
	}
	if n := c.eval(`String(document.querySelectorAll("section.report .bars").length)`); n == "0" {
		t.Fatal("no report drew a chart")
	}
	c.shot("10-reports")
	c.do(chromedp.Click(chromedp.CSS(`#r-topics a.button`)))
	csv := waitFile(t, filepath.Join(dl, "topics.csv"))
	if !strings.HasPrefix(csv, "Topic,Encounters") {
		t.Fatalf("downloaded CSV: %q", csv)
	}
	c.visit("/portal/audit?action=export")
	if s := c.text("#audit-list"); !strings.Contains(s, "topics") {
		t.Fatalf("export not in the audit log: %s", s)
	}
	c.shot("11-audit")
	c.signOut()

	// The practitioner accepts the referral, sees only agreed fields, and
	// cannot open another service's referral or a worker's encounter.
	c.signIn(prLogin)
	c.shot("12-service-view")
	c.visit("/portal/service/referrals/" + ref)
	c.shot("13-service-referral")
	c.submit("#accept")
	if s := c.text("#status"); !strings.Contains(s, "accepted") {
		t.Fatalf("after accept: %q", s)
	}
	var otherRef string
	for _, r := range ds.Referrals {
		if r.ServiceID != "" && r.ServiceID != pr.ServiceID && r.Status != "draft" {
			otherRef = r.ID
			break
		}
	}
	for path, want := range map[string]string{
		"/portal/service/referrals/" + otherRef: "404",
		"/portal/referrals/" + ref:              "403",
		"/portal/encounters/" + enc:             "403",
		"/portal/young-people/" + yp:            "403",
		"/portal/dashboard":                     "403",
	} {
		if got := c.status(path); got != want {
			t.Errorf("practitioner GET %s: %s, want %s", path, got, want)
		}
	}
	c.visit("/portal/encounters/" + enc)
	c.shot("14-practitioner-guessing-url")
	if h := c.text("main h1"); h != "Not allowed" {
		t.Errorf("practitioner guessing an encounter URL sees %q", h)
	}
	c.signOut()
	a.run("sync")
	if shown := a.run("show", "-id", ref); !strings.Contains(shown, "accepted") {
		t.Fatalf("phone A does not see the acceptance:\n%s", shown)
	}

	// Admin: directory, a service's agreement, dashboard on a tablet.
	c.signIn(admLogin)
	c.visit("/portal/services/" + pr.ServiceID)
	c.shot("15-service-agreement")
	c.do(chromedp.EmulateViewport(820, 1180, chromedp.EmulateTouch))
	c.visit("/portal/dashboard")
	c.shot("16-dashboard-tablet")
	c.do(chromedp.EmulateViewport(1280, 900))
	c.signOut()

	// A youth worker is told to use the phone app.
	c.signIn(wkLogin)
	c.shot("17-worker")
	if got := c.status("/portal/encounters/" + enc); got != "403" {
		t.Errorf("worker GET encounter: %s", got)
	}
	c.signOut()
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Fatalf("no download %s (dir has %v)", path, names)
	return ""
}
