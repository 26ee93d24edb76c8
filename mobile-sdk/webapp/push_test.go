package webapp_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
)

// TestWebPushWakesSync: a Web Push message reaching the service worker
// makes the open app sync, and with no app open shows only generic text.
//
// Simulated: the push event. Chromium cannot subscribe to a real push
// service offline, so the test hands the service worker the message
// through DevTools (ServiceWorker.deliverPushMessage), shaped as FCM
// delivers the webpush part server/push builds (TestWebPushPartOnTheWire
// checks that part with the real Firebase SDK against fcmfake). Real: the
// server, the service worker, the app and its sync.
func TestWebPushWakesSync(t *testing.T) {
	e := setup(t)
	br := newBrowser(t, e.chrome)
	b := enrolled(t, br, e.base, e.shots, e.workers[0])
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: e.base}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	var mu sync.Mutex
	var reg serviceworker.RegistrationID
	chromedp.Listen(b.ctx, func(ev any) {
		if u, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range u.Registrations {
				if strings.HasPrefix(r.ScopeURL, e.base+"/app/") && !r.IsDeleted {
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		id := reg
		mu.Unlock()
		if id != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app's service worker registration was not reported")
		}
		time.Sleep(100 * time.Millisecond)
	}
	push := func(data string) {
		t.Helper()
		ctx := b.ctx
		if ctx.Err() != nil {
			ctx = br // the app's tab is closed: through the browser's own tab
			if _, err := chromedp.Call(ctx, serviceworker.Enable, struct{}{}); err != nil {
				t.Fatalf("service worker domain: %v", err)
			}
		}
		mu.Lock()
		id := reg
		mu.Unlock()
		if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
			Origin: e.base, RegistrationID: id, Data: data}); err != nil {
			t.Fatalf("deliver push: %v", err)
		}
	}

	// Another worker's save reaches the server; a push says "sync".
	other := t.TempDir()
	fieldsim(t, e.bin, other, "enrol", "-server", e.base, "-code", code(t, e.base, e.workers[1]))
	fieldsim(t, e.bin, other, "add-encounter", "-area", "Pushed corner", "-note", "arrived by push")
	fieldsim(t, e.bin, other, "sync")
	push(`{"data":{"nid":"n1","kind":"sync"}}`)
	b.waitFor(`document.body.dataset.pushes === "1"`)
	b.eval(`refresh().then(() => "ok")`)
	b.waitFor(`document.getElementById("encounters").textContent.includes("Pushed corner")`)

	// With no window open, only the server's generic text is shown.
	b.eval(`(document.body.dataset.pushes = "0", "ok")`)
	b.close()
	push(`{"data":{"nid":"n2","kind":"concern_raised","record_id":"enc-1"},"notification":{"title":"JoinedUp","body":"A safeguarding concern needs your attention now"}}`)
	b2, _ := open(t, br, e.base+"/app/", e.shots, false)
	shown := b2.notifications()
	if !strings.Contains(shown, `"A safeguarding concern needs your attention now"`) || !strings.Contains(shown, `"n2"`) {
		t.Fatalf("with no app open the push showed %s, want the generic text tagged with the notification id", shown)
	}
}
