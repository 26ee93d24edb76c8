package webapp_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestEngineLoad: a first load fetches the engine once (the page's preload
// and its script share one download) and Brotli-compressed; later online
// loads keep the cached engine as it is when the server still has that
// version (its ETag), and take a new version when there is one.
func TestEngineLoad(t *testing.T) {
	e := setup(t)
	// A server of its own, on a copy of the engine this test may change.
	dir := t.TempDir()
	for _, name := range []string{"app.wasm", "app.wasm.br", "app.wasm.gz", "wasm_exec.js"} {
		b, err := os.ReadFile(filepath.Join(engineDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := startServer(t, e.bin, dir)
	raw, _ := os.Stat(filepath.Join(dir, "app.wasm"))

	browser := newBrowser(t, e.chrome)
	ctx, cancel := chromedp.NewContext(browser)
	defer cancel()
	b := &tab{t: t, ctx: ctx, browser: browser, close: cancel, shots: e.shots}
	b.listen()
	var mu sync.Mutex
	var requests []string                      // the page's requests for the engine
	encoding := map[network.RequestID]string{} // Content-Encoding of each
	size := map[network.RequestID]float64{}    // bytes on the wire
	chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if strings.HasSuffix(ev.Request.URL, "/app/app.wasm") {
				requests = append(requests, string(ev.RequestID))
			}
		case *network.EventResponseReceived:
			if strings.HasSuffix(ev.Response.URL, "/app/app.wasm") {
				for k, v := range ev.Response.Headers {
					if strings.EqualFold(k, "Content-Encoding") {
						encoding[ev.RequestID], _ = v.(string)
					}
				}
			}
		case *network.EventLoadingFinished:
			size[ev.RequestID] = ev.EncodedDataLength
		}
	})
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	ready := `typeof joinedup === "object" && !document.getElementById("enrol").hidden`
	b.do(chromedp.EmulateViewport(360, 740), chromedp.Navigate(base+"/app/"))
	b.waitFor(ready)
	b.waitFor(`document.readyState === "complete"`)
	mu.Lock()
	if len(requests) != 1 {
		mu.Unlock()
		b.fail("the first load asked for the engine " + strings.Join(requests, ", ") + ": want exactly one download (a preload the script does not use downloads it twice)")
	}
	id := network.RequestID(requests[0])
	enc, wire := encoding[id], size[id]
	mu.Unlock()
	if enc != "br" || wire <= 0 || wire > float64(raw.Size())/3 {
		t.Fatalf("the engine came with Content-Encoding %q, %.0f bytes on the wire of %d: want Brotli, under a third", enc, wire, raw.Size())
	}

	// Under the service worker now; what it holds after an online load.
	b.eval(`navigator.serviceWorker.ready.then(() => "ready")`)
	b.waitFor(`!!navigator.serviceWorker.controller`)
	cached := func(name string) string {
		return b.eval(`caches.match("` + name + `").then((r) => r ? r.headers.get("Date") + " " + r.headers.get("ETag") : "missing")`)
	}
	b.do(chromedp.Navigate(base + "/app/"))
	b.waitFor(ready)
	b.waitFor(`caches.match("wasm_exec.js").then((r) => !!r)`)
	before := cached("app.wasm")
	if strings.HasPrefix(before, "missing") {
		b.fail("the engine is not in the service worker's cache")
	}

	// A second later (HTTP dates are in seconds) a new wasm_exec.js, the
	// same engine: the new file replaces the old, the engine stays as it was.
	time.Sleep(1100 * time.Millisecond)
	js, _ := os.ReadFile(filepath.Join(dir, "wasm_exec.js"))
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), append(js, "\n// a new version\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(base + "/app/"))
	b.waitFor(ready)
	b.waitFor(`caches.match("wasm_exec.js").then((r) => r.text()).then((s) => s.includes("a new version"))`)
	// The engine's write, had there been one, started with wasm_exec.js's.
	b.waitFor(`new Promise((res) => setTimeout(() => res(true), 1000))`)
	if after := cached("app.wasm"); after != before {
		t.Fatalf("an online load that revalidated to the same engine wrote it to the cache again: %q, then %q", before, after)
	}
}
