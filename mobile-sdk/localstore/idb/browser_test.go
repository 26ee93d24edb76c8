//go:build !js

package idb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// harness runs a Go test binary compiled to wasm in the page, collecting
// what it prints and its exit code.
const harness = `<!doctype html><meta charset="utf-8"><script src="wasm_exec.js"></script>
<script>
window.testOut = ""; window.testDone = false; window.testCode = -1;
const dec = new TextDecoder();
globalThis.fs.writeSync = function (fd, buf) { window.testOut += dec.decode(buf); return buf.length; };
const go = new Go();
go.argv = ["idb.test", "-test.v", "-test.run", "TestConformance"];
go.exit = (c) => { window.testCode = c; window.testDone = true; };
WebAssembly.instantiateStreaming(fetch("test.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { window.testOut += "load: " + e; window.testDone = true; });
</script>`

// TestConformanceInChromium builds the localstore conformance suite for
// GOOS=js GOARCH=wasm and runs it against IndexedDB in headless Chromium.
func TestConformanceInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	dir := t.TempDir()
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(dir, "test.wasm"), ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the suite for wasm: %v\n%s", err, out)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(harness)) })
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, filepath.Join(dir, "test.wasm"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := browser(t, chrome)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the harness: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.testDone`, chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Fatalf("wait for the suite: %v", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.testOut`))
	if err != nil {
		t.Fatal(err)
	}
	code, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.testCode`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in the browser:\n%s", out)
	if code != 0 || !strings.Contains(out, "--- PASS: TestConformance") {
		t.Fatalf("the conformance suite failed in the browser (exit %d)", code)
	}
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM_PATH")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		// CI installs Chromium (.ci/run): there a missing browser is a failure, never a skip.
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s (set CHROMIUM_PATH)", p)
		}
		t.Skipf("no Chromium at %s (set CHROMIUM_PATH)", p)
	}
	return p
}

func browser(t *testing.T, chrome string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	return ctx, func() { cancel(); acancel() }
}
