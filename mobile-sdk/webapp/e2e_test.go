package webapp_test

// End to end: the real server (server/cmd/joinedup) on loopback serving the
// app at /app/, the engine built for wasm, headless Chromium as the phone,
// and a fieldsim phone of the same team as the witness of what the server
// holds. Chromium: $CHROMIUM_PATH, default /usr/bin/chromium; skipped when
// missing. Screenshots at 360 px go to artifacts/screenshots/webapp-*.png.

import (
	"bufio"
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
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
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

// build compiles the server, fieldsim and the app's engine, as `make webapp` does.
func build(t *testing.T) (bin, engine string) {
	t.Helper()
	bin, engine = t.TempDir(), t.TempDir()
	root := repoRoot(t)
	steps := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"build", "-o", filepath.Join(bin, "joinedup"), "./server/cmd/joinedup"}},
		{nil, []string{"build", "-o", filepath.Join(bin, "fieldsim"), "./mobile-sdk/cmd/fieldsim"}},
		{[]string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0"}, []string{"build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(engine, "app.wasm"), "./mobile-sdk/webapp/wasm"}},
	}
	for _, s := range steps {
		cmd := exec.Command("go", s.args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), s.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", s.args, err, out)
		}
	}
	js, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(engine, "wasm_exec.js"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, engine
}

func startServer(t *testing.T, bin, engine string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "joinedup"), "-addr", "127.0.0.1:0", "-bcrypt-cost", "4", "-log-level", "warn")
	cmd.Env = append(os.Environ(), "DATA_DIR="+t.TempDir(), "WEBAPP_DIR="+engine)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	urlRe := regexp.MustCompile(`Portal:\s+(http://\S+?)/?$`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- strings.TrimSuffix(m[1], "/portal"):
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(90 * time.Second):
		t.Fatal("server did not print its address")
	}
	return ""
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
	t     *testing.T
	ctx   context.Context
	shots string
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
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
		b.t.Fatalf("wait for %s: %v", js, err)
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, "webapp-"+name+".png"), buf, 0o644); err != nil {
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
	b := &tab{t: t, ctx: ctx, shots: shots}
	b.do(chromedp.EmulateViewport(360, 740))
	if offline {
		b.offline(true)
	}
	b.do(chromedp.Navigate(url))
	b.waitFor(`typeof joinedup === "object" && !document.getElementById("loading").checkVisibility()`)
	return b, cancel
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
	chrome := os.Getenv("CHROMIUM_PATH")
	if chrome == "" {
		chrome = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chrome); err != nil {
		t.Skipf("no Chromium at %s (set CHROMIUM_PATH)", chrome)
	}
	bin, engine := build(t)
	base := startServer(t, bin, engine)
	shots := filepath.Join(repoRoot(t), "artifacts", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ws := workers(t)

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	browser, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	browser, cancelT := context.WithTimeout(browser, 4*time.Minute)
	defer cancelT()
	if _, err := chromedp.Run(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

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
	if got := b.eval(`document.getElementById("encounters").textContent`); !strings.Contains(got, note) {
		t.Fatalf("after reopening offline the list shows %q, want the note", got)
	}

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
