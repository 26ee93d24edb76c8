package webapp_test

// End to end: the real server (server/cmd/joinedup) on loopback serving the
// app at /app/, the engine built for wasm, headless Chromium as the phone,
// and a fieldsim phone of the same team as the witness of what the server
// holds. Chromium: $CHROMIUM_PATH, default /usr/bin/chromium; skipped when
// missing. Screenshots at 360 px go to artifacts/screenshots/webapp/*.png.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures/serverproc"

	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/mobile-sdk/webapp"
)

func repoRoot(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// Built once for the package: the server, fieldsim and the app's engine,
// as `make webapp` builds it.
var (
	buildOnce         sync.Once
	binDir, engineDir string
	buildErr          error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
		os.RemoveAll(engineDir)
	}
	os.Exit(code)
}

func buildAll(root string) error {
	var err error
	if binDir, err = os.MkdirTemp("", "webapp-e2e-bin"); err != nil {
		return err
	}
	if engineDir, err = os.MkdirTemp("", "webapp-e2e-engine"); err != nil {
		return err
	}
	steps := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"build", "-tags", "sqlite_fts5", "-o", filepath.Join(binDir, "joinedup"), "./server/cmd/joinedup"}},
		{nil, []string{"build", "-o", filepath.Join(binDir, "fieldsim"), "./mobile-sdk/cmd/fieldsim"}},
		{[]string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0"}, []string{"build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(engineDir, "app.wasm"), "./mobile-sdk/webapp/wasm"}},
	}
	for _, s := range steps {
		cmd := exec.Command("go", s.args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), s.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %v\n%s", s.args, err, out)
		}
	}
	js, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(engineDir, "wasm_exec.js"), js, 0o644); err != nil {
		return err
	}
	// The compressed copies `make webapp` writes, so the browser gets the
	// engine as phones do (Brotli); a quick quality, the same code path.
	return webapp.Precompress(engineDir, 5)
}

// env is one test's world: a fresh server (its own database) on loopback.
type env struct {
	chrome, bin, base, shots string
	workers                  []string
}

func setup(t *testing.T, serverEnv ...string) *env {
	t.Helper()
	chrome := chromium(t)
	root := repoRoot(t)
	buildOnce.Do(func() { buildErr = buildAll(root) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	shots := filepath.Join(root, "artifacts", "screenshots", "webapp")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &env{chrome: chrome, bin: binDir, base: startServer(t, binDir, engineDir, serverEnv...), shots: shots, workers: workers(t)}
}

// startServer boots the server; env (NAME=value) adds to or overrides its
// environment (a later value of a name wins).
func startServer(t *testing.T, bin, engine string, env ...string) string {
	t.Helper()
	base, stop, err := serverproc.Start(filepath.Join(bin, "joinedup"), []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", "4", "-log-level", "warn"},
		append([]string{"DATA_DIR=" + t.TempDir(), "WEBAPP_DIR=" + engine}, env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base
}

// admin calls the admin API as the demo team's supervisor.
func admin(t *testing.T, base, path string, body any) map[string]any {
	t.Helper()
	org := fixtures.Generate(fixtures.Demo()).Org
	var sup fixtures.Login
	for _, l := range fixtures.DemoLogins(org) {
		if l.Role == "supervisor" {
			sup = l
			break
		}
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sup.Email+":"+sup.Password)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: HTTP %d %s", path, resp.StatusCode, rb)
	}
	out := map[string]any{}
	json.Unmarshal(rb, &out)
	return out
}

// workers returns two workers of the supervisor's team.
func workers(t *testing.T) []string {
	org := fixtures.Generate(fixtures.Demo()).Org
	var team string
	for _, p := range org.People {
		if p.Role == "supervisor" {
			team = p.TeamID
			break
		}
	}
	var out []string
	for _, p := range org.People {
		if p.Role == "worker" && p.TeamID == team {
			out = append(out, p.ID)
		}
	}
	if len(out) < 2 {
		t.Fatal("the demo team has fewer than two workers")
	}
	return out
}

func code(t *testing.T, base, person string) string {
	c, _ := admin(t, base, "/v1/admin/enrolment-codes", map[string]string{"person_id": person})["code"].(string)
	if c == "" {
		t.Fatal("no enrolment code")
	}
	return c
}

type tab struct {
	t       *testing.T
	ctx     context.Context
	browser context.Context // the browser the tab is in
	kill    func()          // ends the browser process, when the test started it with newBrowserAt
	close   context.CancelFunc
	shots   string

	logMu sync.Mutex
	logs  []string // the page's console and uncaught exceptions, for failures
}

// listen keeps what the page prints (a Go panic in the engine prints there
// and stops it: every later call would wait forever).
func (b *tab) listen() {
	chromedp.Listen(b.ctx, func(ev any) {
		var line string
		switch e := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			line = string(e.Type) + ": " + strings.Join(parts, " ")
		case *cdpruntime.EventExceptionThrown:
			line = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				line += " " + e.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		b.logMu.Lock()
		b.logs = append(b.logs, line)
		if len(b.logs) > 200 {
			b.logs = b.logs[len(b.logs)-200:]
		}
		b.logMu.Unlock()
	})
}

func (b *tab) console() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return strings.Join(b.logs, "\n")
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(fmt.Sprintf("browser: %v", err))
	}
}

// fail ends the test with what the phone showed and printed, to tell a
// slow page from a wrong one.
func (b *tab) fail(msg string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("main > section, nav")).filter((s) => !s.hidden).map((s) => s.id + ": " + s.innerText).join("\n")`))
	b.t.Fatalf("%s\nthe page shows:\n%s\nits console:\n%s", msg, page, b.console())
}

func (b *tab) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return s
}

func (b *tab) waitFor(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.fail(fmt.Sprintf("wait for %s: %v", js, err))
	}
}

// notifications are the service worker's shown notifications as JSON
// [title, body, tag] triples, waiting up to 10 s for the first. The worker
// tells open apps of a push once its notification is shown (sw.js); the
// wait only covers a browser slow to list it.
func (b *tab) notifications() string {
	b.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		shown := b.eval(`navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => JSON.stringify(ns.map((n) => [n.title, n.body, n.tag])))`)
		if shown != "[]" || time.Now().After(deadline) {
			return shown
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// offline cuts this tab (and its service worker) off the network, as
// airplane mode would; navigator.onLine follows.
func (b *tab) offline(off bool) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.Enable, network.EnableParams{}); err != nil {
		b.t.Fatal(err)
	}
	sw := off
	if _, err := chromedp.Call(b.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		EmulateOfflineServiceWorker: &sw, MatchedNetworkConditions: []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
		b.t.Fatalf("emulate offline: %v", err)
	}
	if _, err := chromedp.Call(b.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		b.t.Fatalf("override network state: %v", err)
	}
}

// open starts a tab at 360 px on the app.
func open(t *testing.T, browser context.Context, url, shots string, offline bool) (*tab, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(browser)
	b := &tab{t: t, ctx: ctx, browser: browser, close: cancel, shots: shots}
	b.listen()
	b.do(chromedp.EmulateViewport(360, 740))
	if offline {
		b.offline(true)
	}
	b.do(chromedp.Navigate(url))
	b.waitFor(`typeof joinedup === "object" && !document.getElementById("loading").checkVisibility()`)
	return b, cancel
}

// newBrowser starts a headless Chromium with a profile of its own (its own
// IndexedDB: one browser, one phone).
func newBrowser(t *testing.T, chrome string) context.Context {
	ctx, _ := newBrowserAt(t, chrome, t.TempDir())
	return ctx
}

// newBrowserAt starts Chromium on the profile in dir, with extra flags;
// kill ends the process.
func newBrowserAt(t *testing.T, chrome, dir string, extra ...chromedp.ExecAllocatorOption) (ctx context.Context, kill func()) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true)}
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelB := chromedp.NewContext(actx)
	browser, cancelT := context.WithTimeout(browser, 8*time.Minute)
	var once sync.Once // a second cancel of a killed browser's context blocks
	kill = func() { once.Do(func() { cancelT(); cancelB(); cancelA() }) }
	t.Cleanup(kill)
	// Start Chromium now, on a blank first tab: the browser's own tab
	// keeps it up while the tests open and close theirs.
	if _, err := chromedp.Run(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser, kill
}

func chromium(t *testing.T) string {
	chrome := os.Getenv("CHROMIUM_PATH")
	if chrome == "" {
		chrome = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chrome); err != nil {
		// CI installs Chromium (.ci/run): there a missing browser is a failure, never a skip.
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s (set CHROMIUM_PATH)", chrome)
		}
		t.Skipf("no Chromium at %s (set CHROMIUM_PATH)", chrome)
	}
	return chrome
}

func fieldsim(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "fieldsim"), append([]string{"-dir", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("fieldsim %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestFieldAppOfflineSaveReachesServerOnce: enrol a browser phone, go
// offline, add an encounter, close the tab, reopen it (still offline: the
// service worker serves the app), come back online: the save reaches the
// server exactly once. Then the supervisor revokes the device and its next
// contact wipes IndexedDB, the key with it.
func TestFieldAppOfflineSaveReachesServerOnce(t *testing.T) {
	e := setup(t)
	chrome, bin, base, shots, ws := e.chrome, e.bin, e.base, e.shots, e.workers

	browser := newBrowser(t, chrome)

	// Enrol by typing the code.
	b, closeTab := open(t, browser, base+"/app/", shots, false)
	b.waitFor(`!document.getElementById("enrol").hidden`)
	b.shot("01-enrol")
	b.do(chromedp.SetValue(chromedp.ID("code"), code(t, base, ws[0])), chromedp.Click(chromedp.ID("enrol-go")))
	b.waitFor(`!document.getElementById("home").hidden`)
	b.waitFor(`document.getElementById("last-synced").textContent !== "never"`)
	if u := b.eval(`location.href`); u != base+"/app/" {
		t.Fatalf("the URL changed to %s: nothing may be added to it", u)
	}
	b.eval(`navigator.serviceWorker.ready.then(() => "ready")`)
	b.shot("02-home")

	// Offline: add an encounter.
	b.offline(true)
	b.waitFor(`document.getElementById("net").classList.contains("offline")`)
	note := "Met two young people by the bus station; one worried about housing."
	b.do(chromedp.Click(chromedp.ID("add")), chromedp.WaitVisible(chromedp.ID("area")),
		chromedp.SetValue(chromedp.ID("area"), "Bus station"), chromedp.SetValue(chromedp.ID("note"), note),
		chromedp.Click(chromedp.CSS(`input[value="medium"]`)))
	b.shot("03-new-encounter")
	b.do(chromedp.Click(chromedp.ID("save")))
	b.waitFor(`document.getElementById("pending").textContent === "1"`)
	b.shot("04-offline-pending")
	closeTab()

	// Reopened with no network: the app comes from the service worker's
	// cache and the save is still there, still pending.
	b, closeTab = open(t, browser, base+"/app/", shots, true)
	b.waitFor(`!document.getElementById("home").hidden && document.getElementById("pending").textContent === "1"`)
	b.waitFor(fmt.Sprintf(`document.getElementById("encounters").textContent.includes(%q)`, note))

	// Online again: the app syncs by itself.
	b.offline(false)
	b.waitFor(`document.getElementById("pending").textContent === "0"`)
	b.do(chromedp.Click(chromedp.ID("sync-now")))
	b.waitFor(`document.getElementById("pending").textContent === "0"`)
	b.shot("05-synced")

	// The witness: another worker's phone of the same team sees it once.
	witness := t.TempDir()
	fieldsim(t, bin, witness, "enrol", "-server", base, "-code", code(t, base, ws[1]))
	fieldsim(t, bin, witness, "sync")
	list := fieldsim(t, bin, witness, "list", "-type", "encounter")
	if n := strings.Count(list, `area="Bus station"`); n != 1 {
		t.Fatalf("the server holds the save %d times, want exactly once:\n%s", n, list)
	}

	// Revoked: the next contact wipes the database and the key.
	device := b.eval(`new Promise((res, rej) => { const r = indexedDB.open("joinedup"); r.onerror = rej;
		r.onsuccess = () => { const g = r.result.transaction("meta").objectStore("meta").get("device_id");
		g.onsuccess = () => { r.result.close(); res(String(g.result)); }; }; })`)
	admin(t, base, fmt.Sprintf("/v1/admin/devices/%s/revoke", device), map[string]string{"reason": "lost phone"})
	b.do(chromedp.Click(chromedp.ID("sync-now")))
	b.waitFor(`!document.getElementById("enrol").hidden`)
	if dbs := b.eval(`indexedDB.databases().then((d) => JSON.stringify(d.map((x) => x.name)))`); strings.Contains(dbs, `"joinedup"`) {
		t.Fatalf("after the revoke the browser still has its database: %s", dbs)
	}
	b.shot("06-revoked-wiped")
	closeTab()
}

// enrolled opens the app in its own browser and enrols it for person.
func enrolled(t *testing.T, browser context.Context, base, shots, person string) *tab {
	t.Helper()
	b, _ := open(t, browser, base+"/app/", shots, false)
	b.waitFor(`!document.getElementById("enrol").hidden`)
	b.do(chromedp.SetValue(chromedp.ID("code"), code(t, base, person)), chromedp.Click(chromedp.ID("enrol-go")))
	b.waitFor(`!document.getElementById("home").hidden && document.getElementById("last-synced").textContent !== "never"`)
	b.eval(`navigator.serviceWorker.ready.then(() => "ready")`)
	return b
}

// editNote opens the encounter in area and saves text as its note.
func (b *tab) editNote(area, text string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { for (const li of document.querySelectorAll("#encounters li")) {
		if (li.querySelector("strong").textContent === %q) { li.querySelector("button.edit").click(); return "ok"; } } return "none"; })()`, area))
	b.do(chromedp.WaitVisible(chromedp.ID("edit-note")), chromedp.SetValue(chromedp.ID("edit-note"), text), chromedp.Click(chromedp.ID("edit-save")))
	b.waitFor(`!document.getElementById("home").hidden`)
}

// note is the note of the encounter in area as the page shows it.
func (b *tab) note(area string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(() => { for (const li of document.querySelectorAll("#encounters li")) {
		if (li.querySelector("strong").textContent === %q) return li.querySelector(".note").textContent; } return ""; })()`, area))
}

// waitNote waits (up to 30 s) for the page to show want as the note of the
// encounter in area, and returns what it shows.
func (b *tab) waitNote(area, want string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	js := fmt.Sprintf(`Array.from(document.querySelectorAll("#encounters li")).some((li) =>
		li.querySelector("strong").textContent === %q && li.querySelector(".note").textContent === %q)`, area, want)
	chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond)))
	return b.note(area)
}

// syncNow syncs and waits until nothing is pending.
func (b *tab) syncNow() {
	b.t.Helper()
	b.eval(`joinedup.sync().then(() => "ok", (e) => "failed: " + e.message)`)
	b.eval(`joinedup.sync().then(() => refreshStatus()).then(() => "ok", (e) => "failed: " + e.message)`)
	b.waitFor(`document.getElementById("pending").textContent === "0"`)
}

// sharedNote enrols two workers' browser phones; the first adds an encounter
// in area with note, and both sync until the second shows it.
func sharedNote(t *testing.T, e *env, area, note string) (a, b *tab) {
	t.Helper()
	a = enrolled(t, newBrowser(t, e.chrome), e.base, e.shots, e.workers[0])
	b = enrolled(t, newBrowser(t, e.chrome), e.base, e.shots, e.workers[1])
	a.do(chromedp.Click(chromedp.ID("add")), chromedp.WaitVisible(chromedp.ID("area")),
		chromedp.SetValue(chromedp.ID("area"), area), chromedp.SetValue(chromedp.ID("note"), note), chromedp.Click(chromedp.ID("save")))
	a.waitFor(`!document.getElementById("home").hidden`)
	a.syncNow()
	b.syncNow()
	if got := b.waitNote(area, note); got != note {
		t.Fatalf("B sees note %q, want %q", got, note)
	}
	return a, b
}

// TestTwoBrowserPhonesConvergeLikeFieldsim: two workers' browser phones both
// edit the same note offline, the tabs are closed and reopened, both come
// back online: both end with the same note holding both workers' text, and
// it is exactly what two fieldsim (native SDK) phones make of the same edits.
func TestTwoBrowserPhonesConvergeLikeFieldsim(t *testing.T) {
	e := setup(t)
	bin, base, shots, ws := e.bin, e.base, e.shots, e.workers
	const base0, addA, addB = "Base note.", " A: walked him home.", "B: seen earlier. "
	want := addB + base0 + addA

	a, b := sharedNote(t, e, "Shared corner", base0)

	// Both offline, both edit, both tabs closed and reopened.
	tabs := []*tab{a, b}
	for i, text := range []string{base0 + addA, addB + base0} {
		tabs[i].offline(true)
		tabs[i].editNote("Shared corner", text)
		tabs[i].waitFor(`document.getElementById("pending").textContent === "1"`)
		tabs[i].close()
		reopened, _ := open(t, tabs[i].browser, base+"/app/", shots, true)
		reopened.waitFor(`!document.getElementById("home").hidden && document.getElementById("pending").textContent === "1"`)
		tabs[i] = reopened
	}
	a, b = tabs[0], tabs[1]
	a.offline(false)
	b.offline(false)
	a.syncNow()
	b.syncNow()
	a.syncNow()
	gotA, gotB := a.waitNote("Shared corner", want), b.waitNote("Shared corner", want)
	a.shot("07-converged")
	if gotA != gotB || gotA != want {
		t.Fatalf("browser phones: A has %q, B has %q; want both %q", gotA, gotB, want)
	}

	// The same edits on two fieldsim phones.
	c, d := t.TempDir(), t.TempDir()
	fieldsim(t, bin, c, "enrol", "-server", base, "-code", code(t, base, ws[0]))
	fieldsim(t, bin, d, "enrol", "-server", base, "-code", code(t, base, ws[1]))
	id := strings.TrimSpace(lastLine(fieldsim(t, bin, c, "add-encounter", "-area", "Fieldsim corner", "-note", base0)))
	fieldsim(t, bin, c, "sync")
	fieldsim(t, bin, d, "sync")
	fieldsim(t, bin, c, "edit-note", "-id", id, "-pos", fmt.Sprint(len(base0)), "-insert", addA)
	fieldsim(t, bin, d, "edit-note", "-id", id, "-pos", "0", "-insert", addB)
	fieldsim(t, bin, c, "sync")
	fieldsim(t, bin, d, "sync")
	fieldsim(t, bin, c, "sync")
	for _, dir := range []string{c, d} {
		if got := fieldsimNote(t, bin, dir, id); got != gotA {
			t.Errorf("fieldsim phone has %q, the browser phones %q", got, gotA)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func fieldsimNote(t *testing.T, bin, dir, id string) string {
	t.Helper()
	out := fieldsim(t, bin, dir, "show", "-id", id)
	var view struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &view); err != nil {
		t.Fatalf("fieldsim show: %v\n%s", err, out)
	}
	var note string
	json.Unmarshal(view.Values["note"], &note)
	return note
}

// TestFieldAppBrowserKilledMidSave: the browser process is killed as a save
// is made offline. Whether or not the save had committed, after a restart
// the phone holds it whole or not at all, and the server gets it at most
// once.
func TestFieldAppBrowserKilledMidSave(t *testing.T) {
	e := setup(t)
	profile := t.TempDir()
	browser, kill := newBrowserAt(t, e.chrome, profile)
	b := enrolled(t, browser, e.base, e.shots, e.workers[0])
	b.offline(true)
	b.do(chromedp.Click(chromedp.ID("add")), chromedp.WaitVisible(chromedp.ID("area")),
		chromedp.SetValue(chromedp.ID("area"), "Killed mid-save"), chromedp.SetValue(chromedp.ID("note"), "half a thought"),
		chromedp.Click(chromedp.ID("save")))
	kill()

	browser, kill = newBrowserAt(t, e.chrome, profile)
	b, _ = open(t, browser, e.base+"/app/", e.shots, true)
	b.kill = kill
	b.waitFor(`!document.getElementById("home").hidden && document.getElementById("encounters").dataset.shown === "1"`)
	pending := b.eval(`joinedup.status().then((s) => String(s.pending))`)
	shown := b.eval(`String(Array.from(document.querySelectorAll("#encounters li strong")).filter((s) => s.textContent === "Killed mid-save").length)`)
	if pending != shown || (pending != "0" && pending != "1") {
		t.Fatalf("after the kill: %s pending, %s shown; want the save whole (1, 1) or not at all (0, 0)", pending, shown)
	}
	t.Logf("the save had committed before the kill: %v", pending == "1")

	// A save that had returned survives killing the browser.
	before := pending
	b.do(chromedp.Click(chromedp.ID("add")), chromedp.WaitVisible(chromedp.ID("area")),
		chromedp.SetValue(chromedp.ID("area"), "Saved then killed"), chromedp.Click(chromedp.ID("save")))
	b.waitFor(fmt.Sprintf(`document.getElementById("pending").textContent === "%d"`, 1+atoi(before)))
	b.kill()
	browser, _ = newBrowserAt(t, e.chrome, profile)
	b, _ = open(t, browser, e.base+"/app/", e.shots, true)
	b.waitFor(`!document.getElementById("home").hidden && document.getElementById("encounters").dataset.shown === "1"`)
	if got := b.eval(`String(Array.from(document.querySelectorAll("#encounters li strong")).filter((s) => s.textContent === "Saved then killed").length)`); got != "1" {
		t.Fatalf("a save that had returned is shown %s times after the browser was killed, want 1", got)
	}

	b.offline(false)
	b.syncNow()
	witness := t.TempDir()
	fieldsim(t, e.bin, witness, "enrol", "-server", e.base, "-code", code(t, e.base, e.workers[1]))
	fieldsim(t, e.bin, witness, "sync")
	list := fieldsim(t, e.bin, witness, "list", "-type", "encounter")
	if n := strings.Count(list, `area="Killed mid-save"`); fmt.Sprint(n) != shown {
		t.Fatalf("the server holds the interrupted save %d times, the phone showed it %s times", n, shown)
	}
	if n := strings.Count(list, `area="Saved then killed"`); n != 1 {
		t.Fatalf("the server holds the save made before the kill %d times, want 1", n)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestLiveNoteEditingConverges: two workers' browser phones open the same
// note online and type into it at the same time, one at the end and one at
// the start. Without saving or reloading, both editors come to hold the same
// text with both workers' words, and each caret stays just after what its
// worker typed (a merge that replaced the textarea's text would throw it to
// the end).
func TestLiveNoteEditingConverges(t *testing.T) {
	e := setup(t)
	const base0, addA, addB = "Base note.", " A: walked him home to the flats.", "B: seen earlier by the shops. "
	want := addB + base0 + addA

	a, b := sharedNote(t, e, "Live corner", base0)

	// Both open the note; A's caret at the end, B's at the start.
	carets := []int{len(base0), 0}
	for i, p := range []*tab{a, b} {
		p.eval(`(() => { for (const li of document.querySelectorAll("#encounters li"))
			if (li.querySelector("strong").textContent === "Live corner") { li.querySelector("button.edit").click(); return "ok"; } return "none"; })()`)
		p.waitFor(`!document.getElementById("edit").hidden`)
		p.eval(fmt.Sprintf(`(() => { const ta = document.getElementById("edit-note"); ta.focus(); ta.setSelectionRange(%d, %d); return "ok"; })()`, carets[i], carets[i]))
	}

	// Both type at once, a word at a time, so merges land mid-typing.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []*tab{a, b} {
		text := []string{addA, addB}[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, w := range strings.SplitAfter(text, " ") {
				if err := chromedp.Do(p.ctx, chromedp.KeyEvent(w), chromedp.Sleep(150*time.Millisecond)); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	editor := func(p *tab) string { return p.eval(`document.getElementById("edit-note").value`) }
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("edit-note").value === %q`, want), chromedp.WithPollingInterval(100*time.Millisecond)))
	ctx, cancel = context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById("edit-note").value === %q`, want), chromedp.WithPollingInterval(100*time.Millisecond)))
	a.shot("08-live-note")
	if gotA, gotB := editor(a), editor(b); gotA != want || gotB != want {
		t.Fatalf("live editors: A has %q, B has %q; want both %q", gotA, gotB, want)
	}
	for i, p := range []*tab{a, b} {
		wantCaret := []int{len(want), len(addB)}[i]
		if got := p.eval(`String(document.getElementById("edit-note").selectionStart)`); got != fmt.Sprint(wantCaret) {
			t.Errorf("phone %c: caret at %s, want %d (just after what its worker typed)", 'A'+i, got, wantCaret)
		}
		if p.eval(`String(document.getElementById("edit").hidden)`) != "false" {
			t.Errorf("phone %c left the editor", 'A'+i)
		}
	}
}
