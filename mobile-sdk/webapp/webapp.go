// Package webapp is the installable field app: the static shell (static/,
// embedded) and the engine compiled to WebAssembly (wasm/, built by
// `make webapp` into a directory the server is given), served at /app/.
package webapp

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

//go:embed static
var static embed.FS

// CSP: only this origin's scripts (plus compiling the wasm), no inline script
// or style, no framing, no forms posting elsewhere, fetches to this origin only.
const csp = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pushCSP is csp when Web Push is configured: the Firebase SDK (served from
// this origin, static/vendor/firebase) calls exactly two Google endpoints,
// Firebase Installations and FCM Registrations, to turn the browser's push
// subscription into an FCM token. Nothing else is allowed.
var pushCSP = strings.Replace(csp, "connect-src 'self';",
	"connect-src 'self' https://firebaseinstallations.googleapis.com https://fcmregistrations.googleapis.com;", 1)

// built are the files `make webapp` puts in the engine directory.
var built = map[string]string{"app.wasm": "application/wasm", "wasm_exec.js": "text/javascript; charset=utf-8"}

// Handler serves the app, paths relative to its mount point ("/" is the
// page). engineDir holds app.wasm and wasm_exec.js; when they are missing the
// app answers 503 with how to build them, rather than a page that cannot start.
func Handler(engineDir string) http.Handler { return NewHandler(engineDir, WebPush{}) }

// NewHandler is Handler with the Web Push configuration (see WebPush): the
// app reads it from config.json, and the CSP allows Firebase's endpoints
// only when it is set. push must have passed Validate.
func NewHandler(engineDir string, push WebPush) http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServer(http.FS(sub))
	policy, config := csp, appConfig(push)
	if push.Enabled() {
		policy = pushCSP
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache") // the service worker keeps the offline copy
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Clean("/" + r.URL.Path)[1:]
		if ct, ok := built[name]; ok {
			p := filepath.Join(engineDir, name)
			fi, err := os.Stat(p)
			if err != nil {
				http.Error(w, "the app's engine is not built: run `make webapp`", http.StatusServiceUnavailable)
				return
			}
			a, err := engines.get(p, ct, fi)
			if err != nil {
				http.Error(w, "the app's engine cannot be read", http.StatusServiceUnavailable)
				return
			}
			// The service worker revalidates what the page just loaded
			// (no-cache): a 304 instead of the engine again.
			a.serve(w, r, name)
			return
		}
		if name == "sw.js" {
			h.Set("Service-Worker-Allowed", "/app/")
		}
		if name == "config.json" {
			h.Set("Content-Type", "application/json")
			w.Write(config)
			return
		}
		// The shell's files, compressed. The page is served at ./;
		// index.html by name stays the file server's redirect to ./, as do
		// its 404s.
		shell := name
		if shell == "" {
			shell = "index.html"
		}
		if f, ok := shellFiles()[shell]; ok && name != "index.html" {
			f.asset().serve(w, r, shell)
			return
		}
		files.ServeHTTP(w, r)
	})
}
