package webapp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/mobile-sdk/webapp"
)

// webPushEnv is the server's environment with Web Push configured.
func webPushEnv(w webapp.WebPush) []string {
	return []string{"WEBPUSH_API_KEY=" + w.APIKey, "WEBPUSH_PROJECT_ID=" + w.ProjectID, "WEBPUSH_SENDER_ID=" + w.MessagingSenderID,
		"WEBPUSH_APP_ID=" + w.AppID, "WEBPUSH_VAPID_KEY=" + w.VAPIDKey}
}

// cspWatch records every CSP violation the tab reports, from the page's
// securitypolicyviolation events (installed before any of its scripts run,
// on every load) and from the browser's log (which also sees the service
// worker's): a test that checks none happened can fail.
type cspWatch struct {
	mu  sync.Mutex
	log []string
}

func watchCSP(b *tab) *cspWatch {
	b.t.Helper()
	w := &cspWatch{}
	chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && strings.Contains(e.Entry.Text, "Content Security Policy") {
			w.mu.Lock()
			w.log = append(w.log, e.Entry.Text)
			w.mu.Unlock()
		}
	})
	if _, err := chromedp.Call(b.ctx, cdplog.Enable, struct{}{}); err != nil {
		b.t.Fatalf("log domain: %v", err)
	}
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`}); err != nil {
		b.t.Fatalf("inject the CSP watcher: %v", err)
	}
	return w
}

// violations is what the browser and the page reported.
func (w *cspWatch) violations(b *tab) []string {
	b.t.Helper()
	w.mu.Lock()
	out := append([]string(nil), w.log...)
	w.mu.Unlock()
	var page []string
	json.Unmarshal([]byte(b.eval(`JSON.stringify(window.__csp || ["the CSP watcher is missing"])`)), &page)
	return append(out, page...)
}

// reload loads the app again in the same tab and waits for it to start.
func (b *tab) reload() {
	b.t.Helper()
	b.do(chromedp.Reload())
	b.waitFor(`typeof joinedup === "object" && !document.getElementById("loading").checkVisibility()`)
}

// grantPermissions is DevTools' Browser.grantPermissions (this cdproto
// has only setPermission): what a worker's "Allow" on the prompt does.
var grantPermissions = cdp.Command[struct {
	Permissions []browser.PermissionType `json:"permissions"`
	Origin      string                   `json:"origin"`
}, cdp.Empty]{Method: "Browser.grantPermissions"}

// waitLong is waitFor for what the app gives up on only after its own
// timeout (a push subscription that never settles: 20 s).
func (b *tab) waitLong(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		b.fail(fmt.Sprintf("wait for %s: %v", js, err))
	}
}

func grantNotifications(t *testing.T, b *tab, origin string) {
	t.Helper()
	if _, err := chromedp.CallBrowser(b.ctx, grantPermissions, struct {
		Permissions []browser.PermissionType `json:"permissions"`
		Origin      string                   `json:"origin"`
	}{[]browser.PermissionType{browser.PermissionTypeNotifications}, origin}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
}

func getText(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.Header
}

// TestWebPushControl: with Web Push configured, the page loads the vendored
// Firebase SDK under the strict CSP with no violation; "Turn on
// notifications" asks for permission on the tap (granted through DevTools)
// and the SDK's getToken runs with the app's service worker. Chromium here
// cannot reach Google's push service, so the browser's push subscription
// fails inside getToken: the app says so plainly ("try again when online")
// and keeps working. Without the configuration the control is absent and
// the SDK never loads. Screenshots at 360 px and axe-core, in English and
// Welsh.
//
// Real: the server and its config.json and CSP, the vendored SDK, the
// permission prompt's outcome, the service worker, getToken up to the push
// subscription. Not reached: Google's push service (see
// TestWebPushTokenReachesServer for the rest of the chain).
func TestWebPushControl(t *testing.T) {
	cfg := webapp.FakeWebPush(t)
	e := setup(t, webPushEnv(cfg)...)
	if csp := func() string { _, h := getText(t, e.base+"/app/"); return h.Get("Content-Security-Policy") }(); !strings.Contains(csp, "connect-src 'self' https://firebaseinstallations.googleapis.com https://fcmregistrations.googleapis.com;") ||
		!strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") {
		t.Fatalf("configured CSP = %q", csp)
	}
	br := newBrowser(t, e.chrome)
	if _, err := chromedp.Run(br, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := enrolled(t, br, e.base, e.shots, e.workers[0])
	b.eval(`(localStorage.setItem("lang", "en"), "ok")`)
	csp := watchCSP(b)
	b.reload()
	b.click(`#nav [data-go="sync"]`)
	b.visible("notify")
	b.waitFor(`document.getElementById("notify").dataset.state === "off" && !document.getElementById("notify-on").hidden`)
	if got := b.eval(`Notification.permission`); got != "default" {
		t.Fatalf("permission %q before the tap: the app must ask only on the tap", got)
	}
	b.check("15-sync-notifications")

	grantNotifications(t, b, e.base)
	b.click("#notify-on")
	b.waitLong(`document.getElementById("notify").dataset.state === "failed"`)
	if v := b.eval(`typeof firebase === "object" ? firebase.SDK_VERSION : "not loaded"`); v != "13.2.0" {
		t.Fatalf("the Firebase SDK: %s", v)
	}
	if n := b.eval(`document.getElementById("notify").dataset.attempts || "0"`); n != "1" {
		t.Fatalf("getToken attempted %s times, want 1", n)
	}
	why := b.eval(`document.getElementById("notify").dataset.error`)
	msg := b.eval(`document.getElementById("notify-state").textContent`)
	if msg != "Could not turn on notifications — try again when online." || b.eval(`String(document.getElementById("notify-on").hidden)`) != "false" {
		t.Fatalf("after a failed subscription the control shows %q (error %s), want the retry message and the button", msg, why)
	}
	t.Logf("getToken failed as expected here: %s", why)
	b.check("16-sync-notifications-failed")
	if v := csp.violations(b); len(v) > 0 {
		t.Fatalf("CSP violations: %v", v)
	}

	// The app keeps working: a save reaches the server.
	b.eval(`joinedup.create("encounter", {area: "After push failed", concern_level: "none"}).then(() => "ok")`)
	b.click("#st-sync")
	b.waitFor(`document.getElementById("st-pending").textContent === "0" && document.getElementById("st-error").textContent === ""`)

	// Welsh.
	b.click("#lang")
	b.waitFor(`document.documentElement.lang === "cy" && document.getElementById("notify-on").textContent === "Troi hysbysiadau ymlaen"`)
	b.check("17-sync-notifications-cymraeg")
	b.click("#lang")

	// At the next start, with permission granted, the token is refreshed
	// without a tap.
	b.reload()
	b.click(`#nav [data-go="sync"]`)
	b.waitFor(`document.getElementById("notify").dataset.attempts === "1" && document.getElementById("notify").dataset.state === "working"`)
	if v := csp.violations(b); len(v) > 0 {
		t.Fatalf("CSP violations: %v", v)
	}

	// Without the configuration: no control, no SDK, no Firebase in the CSP.
	plain := startServer(t, e.bin, engineDir)
	if body, h := getText(t, plain+"/app/config.json"); body != `{"push":null}` || strings.Contains(h.Get("Content-Security-Policy"), "googleapis") {
		t.Fatalf("unconfigured: config.json %s, CSP %q", body, h.Get("Content-Security-Policy"))
	}
	br2 := newBrowser(t, e.chrome)
	if _, err := chromedp.Run(br2, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	p := enrolled(t, br2, plain, e.shots, e.workers[1])
	grantNotifications(t, p, plain)
	p.click(`#nav [data-go="sync"]`)
	p.visible("sync")
	p.waitFor(`document.getElementById("notify").dataset.checked === "1"`)
	if got := p.eval(`String(document.getElementById("notify").hidden) + " " + typeof firebase + " " + document.querySelectorAll('script[src*="firebase"]').length`); got != "true undefined 0" {
		t.Fatalf("unconfigured: notify hidden, firebase, scripts = %s, want hidden, no SDK", got)
	}
}
