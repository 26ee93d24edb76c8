package webapp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/mobile-sdk/webapp"
	"github.com/joinedup/joinedup/server/push/fcmfake"
	_ "github.com/mattn/go-sqlite3"
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
	b := enrolled(t, br, e.base, e.shots, e.workers[0])
	// The push service cannot answer here: give up after 2 s, not 20.
	b.eval(`(localStorage.setItem("lang", "en"), localStorage.setItem("push-timeout-ms", "2000"), "ok")`)
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
	b.waitFor(`document.documentElement.lang === "cy" && document.getElementById("notify-on").textContent === "Troi hysbysiadau ymlaen" &&
		document.getElementById("notify-state").textContent.startsWith("Methu troi hysbysiadau ymlaen")`)
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
	p := enrolled(t, br2, plain, e.shots, e.workers[1])
	grantNotifications(t, p, plain)
	p.click(`#nav [data-go="sync"]`)
	p.visible("sync")
	p.waitFor(`document.getElementById("notify").dataset.checked === "1"`)
	if got := p.eval(`String(document.getElementById("notify").hidden) + " " + typeof firebase + " " + document.querySelectorAll('script[src*="firebase"]').length`); got != "true undefined 0" {
		t.Fatalf("unconfigured: notify hidden, firebase, scripts = %s, want hidden, no SDK", got)
	}
}

// fakeFirebase is a local TLS fake of the two Google endpoints the Firebase
// JS SDK calls to turn a push subscription into an FCM token: Firebase
// Installations (create an installation, its auth token) and FCM
// Registrations (create and delete a registration). Chromium reaches it
// under the real host names through --host-resolver-rules and trusts its
// certificate by its key (--ignore-certificate-errors-spki-list), so the
// page's CSP and CORS apply as they would to Google.
type fakeFirebase struct {
	*httptest.Server
	spki string // base64 SHA-256 of the certificate's public key
	cfg  webapp.WebPush

	mu       sync.Mutex
	calls    []string          // "METHOD host path", in order
	bad      []string          // what a real Google endpoint would have refused
	web      map[string]string // the last registration's web subscription
	tokens   map[string]bool   // issued and not deleted
	issued   int
	fidAuths map[string]bool
}

var firebaseHosts = []string{"firebaseinstallations.googleapis.com", "fcmregistrations.googleapis.com"}

func newFakeFirebase(t *testing.T, cfg webapp.WebPush) *fakeFirebase {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake firebase"}, DNSNames: firebaseHosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	f := &fakeFirebase{cfg: cfg, spki: base64.StdEncoding.EncodeToString(sum[:]), tokens: map[string]bool{}, fidAuths: map[string]bool{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Server.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	f.StartTLS()
	t.Cleanup(f.Close)
	return f
}

// flags point Chromium's Firebase host names at the fake.
func (f *fakeFirebase) flags() []chromedp.ExecAllocatorOption {
	addr := f.Listener.Addr().String()
	var rules []string
	for _, h := range firebaseHosts {
		rules = append(rules, "MAP "+h+" "+addr)
	}
	return []chromedp.ExecAllocatorOption{chromedp.Flag("host-resolver-rules", strings.Join(rules, ",")),
		chromedp.Flag("ignore-certificate-errors-spki-list", f.spki)}
}

func (f *fakeFirebase) refuse(w http.ResponseWriter, status int, why string) {
	f.bad = append(f.bad, why)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"status":"INVALID_ARGUMENT"}}`, status, why)
}

func (f *fakeFirebase) serve(w http.ResponseWriter, r *http.Request) {
	// CORS, as Google answers the SDK's cross-origin calls.
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
	h.Set("Content-Type", "application/json")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.Host+" "+r.URL.Path)
	if r.Header.Get("x-goog-api-key") != f.cfg.APIKey {
		f.refuse(w, 403, "wrong or missing API key")
		return
	}
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	installations := "/v1/projects/" + f.cfg.ProjectID + "/installations"
	registrations := "/v1/projects/" + f.cfg.ProjectID + "/registrations"
	switch {
	case r.Host == firebaseHosts[0] && r.Method == "POST" && r.URL.Path == installations:
		fid, _ := body["fid"].(string)
		if body["appId"] != f.cfg.AppID || fid == "" {
			f.refuse(w, 400, "installation for another app, or no fid")
			return
		}
		auth := "fis-auth-" + fid
		f.fidAuths[auth] = true
		json.NewEncoder(w).Encode(map[string]any{"name": "projects/" + f.cfg.MessagingSenderID + "/installations/" + fid, "fid": fid,
			"refreshToken": "refresh-" + fid, "authToken": map[string]string{"token": auth, "expiresIn": "604800s"}})
	case r.Host == firebaseHosts[0] && r.Method == "POST" && strings.HasPrefix(r.URL.Path, installations+"/") && strings.HasSuffix(r.URL.Path, "/authTokens:generate"):
		fid := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, installations+"/"), "/authTokens:generate")
		json.NewEncoder(w).Encode(map[string]string{"token": "fis-auth-" + fid, "expiresIn": "604800s"})
	case r.Host == firebaseHosts[1] && r.Method == "POST" && r.URL.Path == registrations:
		if !f.fidAuths[strings.TrimPrefix(r.Header.Get("x-goog-firebase-installations-auth"), "FIS ")] {
			f.refuse(w, 401, "no installation auth token")
			return
		}
		web, _ := body["web"].(map[string]any)
		f.web = map[string]string{}
		for k, v := range web {
			f.web[k], _ = v.(string)
		}
		f.issued++
		tok := fmt.Sprintf("fake-web-%d:APA91b%s", f.issued, strings.Repeat("Q", 120))
		f.tokens[tok] = true
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	case r.Host == firebaseHosts[1] && r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, registrations+"/"):
		delete(f.tokens, strings.TrimPrefix(r.URL.Path, registrations+"/"))
		w.Write([]byte(`{}`))
	default:
		f.refuse(w, 404, "unexpected "+r.Method+" "+r.Host+r.URL.Path)
	}
}

// stubPushService stands in for the browser's push service, the one hop
// this machine cannot make (Chromium subscribes through Google's GCM): the
// page's PushManager hands out a subscription with a fixed endpoint and
// keys, and remembers the applicationServerKey it was given.
const stubPushService = `(() => {
  const bytes = (n, seed) => { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = (i * 31 + seed) & 255; if (n === 65) a[0] = 4; return a.buffer; };
  let sub = null;
  PushManager.prototype.subscribe = async function (opts) {
    const k = new Uint8Array(opts.applicationServerKey);
    window.__pushKey = btoa(String.fromCharCode(...k)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    window.__subscribes = (window.__subscribes || 0) + 1;
    sub = { endpoint: "https://fcm.googleapis.com/fcm/send/stub-endpoint", expirationTime: null, options: opts,
      getKey: (name) => (name === "p256dh" ? bytes(65, 7) : bytes(16, 3)),
      unsubscribe: async () => { sub = null; window.__unsubscribed = (window.__unsubscribed || 0) + 1; return true; } };
    return sub;
  };
  PushManager.prototype.getSubscription = async function () { return sub; };
})();`

func (f *fakeFirebase) state() (calls, bad []string, web map[string]string, live []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok := range f.tokens {
		live = append(live, tok)
	}
	return append([]string(nil), f.calls...), append([]string(nil), f.bad...), f.web, live
}

// TestWebPushTokenReachesServer: the whole chain but the browser's push
// service. The app's "Turn on notifications" runs the vendored Firebase SDK
// against a local fake of Firebase Installations and FCM Registrations
// (under their real names, through the page's CSP and CORS); the token it
// gets reaches the server through the SDK's client (POST /v1/push/token,
// platform web); a worker's high concern makes the server send to that
// token through the real Firebase Admin SDK to fcmfake, with a webpush part
// that carries ids and generic text only; that part, delivered to the
// service worker as the push service would (DevTools), shows the generic
// notification and the app syncs. Sign-out deletes the token at Firebase,
// drops the subscription and the server forgets the token.
//
// Simulated: the browser's push service (PushManager, stubPushService) and
// the hop from FCM to the browser (ServiceWorker.deliverPushMessage).
func TestWebPushTokenReachesServer(t *testing.T) {
	cfg := webapp.FakeWebPush(t)
	fire := newFakeFirebase(t, cfg)
	fcm := fcmfake.New()
	t.Cleanup(fcm.Close)
	data := t.TempDir()
	e := setup(t, append(webPushEnv(cfg), "DATA_DIR="+data, "FCM_PROJECT_ID="+cfg.ProjectID, "FCM_CREDENTIALS_FILE=", "FCM_ENDPOINT="+fcm.URL)...)
	br, _ := newBrowserAt(t, e.chrome, t.TempDir(), fire.flags()...)
	sup := supervisor(t)
	b := enrolled(t, br, e.base, e.shots, sup)
	csp := watchCSP(b)
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: stubPushService}); err != nil {
		t.Fatal(err)
	}
	b.reload()
	grantNotifications(t, b, e.base)
	b.click(`#nav [data-go="sync"]`)
	b.visible("notify")
	b.click("#notify-on")
	b.waitLong(`["on", "failed"].includes(document.getElementById("notify").dataset.state)`)
	calls, bad, web, live := fire.state()
	if st := b.eval(`document.getElementById("notify").dataset.state + " " + (document.getElementById("notify").dataset.error || "")`); st != "on " {
		t.Fatalf("notifications: %s; Firebase saw %v, refused %v", st, calls, bad)
	}
	b.check("18-sync-notifications-on")
	if len(bad) > 0 || len(live) != 1 {
		t.Fatalf("Firebase refused %v; live tokens %v; calls %v", bad, live, calls)
	}
	if k := b.eval(`window.__pushKey`); k != strings.TrimRight(cfg.VAPIDKey, "=") || web["applicationPubKey"] != k || web["endpoint"] != "https://fcm.googleapis.com/fcm/send/stub-endpoint" {
		t.Fatalf("subscribed with key %s; registration web part %v; want the VAPID key %s", k, web, cfg.VAPIDKey)
	}
	if v := csp.violations(b); len(v) > 0 {
		t.Fatalf("CSP violations: %v", v)
	}
	t.Logf("Firebase calls: %v", calls)

	// The server holds exactly that token, for this device, as web.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "joinedup.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	device := b.deviceID()
	tokens := func() string {
		rows, err := db.Query(`SELECT device_id || ' ' || person_id || ' ' || platform || ' ' || token FROM push_tokens ORDER BY token`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return strings.Join(out, "\n")
	}
	if got, want := tokens(), device+" "+sup+" web "+live[0]; got != want {
		t.Fatalf("the server's push tokens:\n%s\nwant\n%s", got, want)
	}

	// A reload refreshes the token without asking: the same one (the
	// subscription did not change), no second registration.
	b.reload()
	b.click(`#nav [data-go="sync"]`)
	b.waitLong(`document.getElementById("notify").dataset.state === "on"`)
	if _, _, _, again := fire.state(); len(again) != 1 || again[0] != live[0] || tokens() != device+" "+sup+" web "+live[0] {
		t.Fatalf("after a restart: Firebase tokens %v, server %s", again, tokens())
	}

	// A worker's high concern: the server sends to the browser's token.
	other := t.TempDir()
	fieldsim(t, e.bin, other, "enrol", "-server", e.base, "-code", code(t, e.base, e.workers[0]))
	id := strings.TrimSpace(fieldsim(t, e.bin, other, "add-encounter", "-area", "Underpass", "-note", "Name and details stay on phones"))
	fieldsim(t, e.bin, other, "set", "-id", id, "-field", "concern_level", "-value", `"high"`)
	fieldsim(t, e.bin, other, "sync")
	var sent fcmfake.Received
	for deadline := time.Now().Add(60 * time.Second); ; {
		for _, r := range fcm.Requests() {
			if r.Token == live[0] {
				sent = r
			}
		}
		if sent.Token != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no FCM send to the browser's token; sends: %d", fcm.Count())
		}
		time.Sleep(200 * time.Millisecond)
	}
	wp, _ := sent.Message["webpush"].(map[string]any)
	if wp == nil {
		t.Fatalf("the FCM message has no webpush part: %s", sent.Body)
	}
	for _, private := range []string{"Underpass", "Name and details"} {
		if strings.Contains(string(sent.Body), private) {
			t.Fatalf("the push carries %q: %s", private, sent.Body)
		}
	}
	// As FCM hands the webpush part to the browser: its data and notification.
	msg, _ := json.Marshal(map[string]any{"data": wp["data"], "notification": wp["notification"], "from": cfg.MessagingSenderID})
	b.eval(`(document.body.dataset.pushes = "0", "ok")`)
	deliverPush(t, b, e.base, string(msg))
	b.waitFor(`document.body.dataset.pushes === "1"`)
	shown := b.notifications()
	if strings.Contains(shown, "Underpass") || !strings.Contains(shown, "JoinedUp") {
		t.Fatalf("shown: %s", shown)
	}

	// Sign-out: the token is deleted at Firebase, the subscription dropped,
	// and the server forgets it.
	b.click("#signout")
	b.visible("enrol")
	b.waitFor(`window.__unsubscribed === 1`)
	calls, _, _, left := fire.state()
	if len(left) != 0 || tokens() != "" {
		t.Fatalf("after sign-out: Firebase still has %v (calls %v), the server %q", left, calls, tokens())
	}
	t.Logf("Firebase calls, all: %v", calls)

	// Enrolled again, notifications come back on by themselves (permission
	// is granted). The supervisor's device is revoked: its next contact
	// wipes it, and the token goes at Firebase and on the server too.
	b.do(chromedp.SetValue(chromedp.ID("code"), code(t, e.base, sup)), chromedp.Click(chromedp.ID("enrol-go")))
	b.visible("home")
	b.click(`#nav [data-go="sync"]`)
	b.waitLong(`document.getElementById("notify").dataset.state === "on"`)
	if _, _, _, again := fire.state(); len(again) != 1 || !strings.Contains(tokens(), " web "+again[0]) {
		t.Fatalf("enrolled again: Firebase tokens %v, server %q", again, tokens())
	}
	device = b.deviceID()
	admin(t, e.base, fmt.Sprintf("/v1/admin/devices/%s/revoke", device), map[string]string{"reason": "lost phone"})
	b.click("#st-sync")
	b.visible("enrol")
	b.waitFor(`window.__unsubscribed === 2`)
	if _, _, _, left := fire.state(); len(left) != 0 || tokens() != "" {
		t.Fatalf("after the wipe: Firebase still has %v, the server %q", left, tokens())
	}
	if v := csp.violations(b); len(v) > 0 {
		t.Fatalf("CSP violations: %v", v)
	}
}

// deviceID is the server's id for this browser phone, from its IndexedDB.
func (b *tab) deviceID() string {
	b.t.Helper()
	return b.eval(`new Promise((res, rej) => { const r = indexedDB.open("joinedup"); r.onerror = rej;
		r.onsuccess = () => { const g = r.result.transaction("meta").objectStore("meta").get("device_id");
		g.onsuccess = () => { r.result.close(); res(String(g.result)); }; }; })`)
}

// supervisor is the demo team's supervisor (whose phone hears of a high
// concern at once).
func supervisor(t *testing.T) string {
	org := fixtures.Generate(fixtures.Demo()).Org
	for _, p := range org.People {
		if p.Role == "supervisor" {
			return p.ID
		}
	}
	t.Fatal("no supervisor in the demo")
	return ""
}

// deliverPush hands the app's service worker a push message through
// DevTools, as the browser's push service would.
func deliverPush(t *testing.T, b *tab, origin, data string) {
	t.Helper()
	var mu sync.Mutex
	var reg serviceworker.RegistrationID
	chromedp.Listen(b.ctx, func(ev any) {
		if u, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range u.Registrations {
				if strings.HasPrefix(r.ScopeURL, origin+"/app/") && !r.IsDeleted {
					mu.Lock()
					reg = r.RegistrationID
					mu.Unlock()
				}
			}
		}
	})
	if _, err := chromedp.Call(b.ctx, serviceworker.Enable, struct{}{}); err != nil {
		t.Fatalf("service worker domain: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		id := reg
		mu.Unlock()
		if id != "" {
			if _, err := chromedp.Call(b.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{Origin: origin, RegistrationID: id, Data: data}); err != nil {
				t.Fatalf("deliver push: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the app's service worker registration was not reported")
		}
	}
}
