package webapp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	mobilesdk "github.com/joinedup/joinedup/mobile-sdk"
	"github.com/joinedup/joinedup/server/domain"
)

// TestHandler: what the server answers at /app/ (mounted with the prefix
// stripped), including to requests no page would make.
func TestHandler(t *testing.T) {
	engine := t.TempDir()
	if err := os.WriteFile(filepath.Join(engine, "app.wasm"), []byte("\x00asm-engine"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(filepath.Dir(engine), "secret.txt")
	os.WriteFile(secret, []byte("outside the engine dir"), 0o644)
	h := Handler(engine)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
		wantContains       string
		wantNotContains    string
	}{
		{"the page", "GET", "/", 200, "text/html", `src="app.js"`, "<script>"},
		{"the engine", "GET", "/app.wasm", 200, "application/wasm", "asm-engine", ""},
		{"the service worker", "GET", "/sw.js", 200, "javascript", "caches.open", ""},
		{"the manifest", "GET", "/manifest.webmanifest", 200, "", `"start_url"`, ""},
		{"the Welsh catalogue", "GET", "/cy.json", 200, "json", `"Cysoni"`, ""},
		{"the language code", "GET", "/i18n.js", 200, "javascript", "cy.json", ""},
		{"the service worker wakes a sync on push", "GET", "/sw.js", 200, "javascript", `addEventListener("push"`, ""},
		{"engine not built", "GET", "/wasm_exec.js", 503, "", "make webapp", ""},
		{"a write", "POST", "/", 405, "", "", ""},
		{"climbing out of the engine dir", "GET", "/../secret.txt", 404, "", "", "outside"},
		{"climbing out, encoded", "GET", "/..%2fsecret.txt", 404, "", "", "outside"},
		{"an unknown file", "GET", "/nope.js", 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://x/", nil)
			req.URL.Path = tt.path
			req.URL.RawPath = ""
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.wantStatus, body)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP = %q, want strict", csp)
			}
			if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q", got)
			}
			if tt.wantType != "" && !strings.Contains(w.Header().Get("Content-Type"), tt.wantType) {
				t.Errorf("Content-Type = %q, want %s", w.Header().Get("Content-Type"), tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantContains) {
				t.Errorf("body lacks %q", tt.wantContains)
			}
			if tt.wantNotContains != "" && strings.Contains(string(body), tt.wantNotContains) {
				t.Errorf("body contains %q", tt.wantNotContains)
			}
		})
	}
}

// TestEveryStringHasWelsh: every string the app shows (the page's [data-t]
// elements and aria-labels, the script's t("...") calls, and the values it
// shows through t(cap(value))) has a Welsh entry in cy.json.
func TestEveryStringHasWelsh(t *testing.T) {
	var cy map[string]string
	b, err := static.ReadFile("static/cy.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cy); err != nil {
		t.Fatalf("cy.json: %v", err)
	}
	keys := map[string]string{}
	page, _ := static.ReadFile("static/index.html")
	for _, m := range regexp.MustCompile(`(?s)<(\w+)[^>]*\bdata-t\b[^>]*>(.*?)</(\w+)>`).FindAllStringSubmatch(string(page), -1) {
		keys[strings.Join(strings.Fields(html.UnescapeString(m[2])), " ")] = "index.html"
	}
	for _, m := range regexp.MustCompile(`aria-label="([^"]*)"`).FindAllStringSubmatch(string(page), -1) {
		keys[m[1]] = "index.html aria-label"
	}
	script, _ := static.ReadFile("static/app.js")
	pushJS, _ := static.ReadFile("static/push.js") // Web Push's control
	script = append(script, pushJS...)
	calls := regexp.MustCompile(`\bt\("((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(script), -1)
	if len(calls) < 20 {
		t.Fatalf("found only %d t(...) calls in app.js: the extractor is broken", len(calls))
	}
	for _, m := range calls {
		keys[m[1]] = "app.js"
	}
	// push.js passes English keys to pushState, which translates them.
	states := regexp.MustCompile(`\bpushState\("\w+", "((?:[^"\\]|\\.)+)"`).FindAllStringSubmatch(string(pushJS), -1)
	if len(states) < 5 {
		t.Fatalf("found only %d pushState(...) messages in push.js: the extractor is broken", len(states))
	}
	for _, m := range states {
		keys[m[1]] = "push.js"
	}
	for _, v := range []string{"None", "Low", "Medium", "High", "Urgent", "Draft", "Submitted", "Accepted", "Declined",
		"Withdrawn", "Closed", "Routine", "Soon", "Open", "Done", "Cancelled", "Encounter", "Young person", "Referral", "Follow up"} {
		keys[v] = "app.js t(cap(value))"
	}
	for k, where := range keys {
		if strings.TrimSpace(cy[k]) == "" {
			t.Errorf("no Welsh for %q (%s)", k, where)
		}
	}
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), " style=") {
		t.Error("the page has inline script or style: the CSP forbids it")
	}
}

// TestEveryErrorCodeHasWelsh: the app has words (app.js errorWords), and
// Welsh for them, for every error code the server and the SDK return, so
// no error reaches a Welsh screen as the server's or the engine's English.
func TestEveryErrorCodeHasWelsh(t *testing.T) {
	var cy map[string]string
	b, _ := static.ReadFile("static/cy.json")
	if err := json.Unmarshal(b, &cy); err != nil {
		t.Fatalf("cy.json: %v", err)
	}
	script, _ := static.ReadFile("static/app.js")
	block := regexp.MustCompile(`(?s)const errorWords = \{(.*?)\n\};`).FindSubmatch(script)
	if block == nil {
		t.Fatal("no errorWords in app.js")
	}
	words := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+): \(\) => t\("((?:[^"\\]|\\.)*)"\),$`).FindAllSubmatch(block[1], -1) {
		words[string(m[1])] = string(m[2])
	}
	codes := append(domain.Codes(), mobilesdk.EUNSYNCED, mobilesdk.ENOTENROLLED, mobilesdk.EOFFLINE, mobilesdk.ENETWORK,
		mobilesdk.EWIPED, mobilesdk.EWRONGKEY, mobilesdk.ECORRUPT, mobilesdk.EREVOKED, mobilesdk.EUNAUTHORIZED,
		mobilesdk.ECURSORAHEAD, mobilesdk.EPROTOCOL)
	if len(words) < len(codes)/2 {
		t.Fatalf("found only %d entries in errorWords: the extractor is broken", len(words))
	}
	for _, c := range codes {
		en, ok := words[c]
		if !ok {
			t.Errorf("error code %q has no words in app.js errorWords", c)
			continue
		}
		if strings.TrimSpace(cy[en]) == "" {
			t.Errorf("error code %q: no Welsh for %q", c, en)
		}
	}
}

// TestEngineIsSentCompressed: the engine is most of a first load; a phone
// that accepts gzip gets it gzipped (a quarter of the bytes), others get it
// as it is.
func TestEngineIsSentCompressed(t *testing.T) {
	engine := t.TempDir()
	wasm := bytes.Repeat([]byte("\x00asm engine bytes that compress well "), 4096)
	if err := os.WriteFile(filepath.Join(engine, "app.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	h := Handler(engine)
	tests := []struct {
		name, acceptEncoding, wantEncoding string
	}{
		{"gzip accepted", "gzip, deflate, br", "gzip"},
		{"nothing accepted", "", ""},
		{"only brotli", "br", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := 0; round < 2; round++ { // the second answer comes from the cache
				req := httptest.NewRequest("GET", "http://x/app.wasm", nil)
				if tt.acceptEncoding != "" {
					req.Header.Set("Accept-Encoding", tt.acceptEncoding)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 || w.Header().Get("Content-Encoding") != tt.wantEncoding {
					t.Fatalf("status %d, Content-Encoding %q; want 200, %q", w.Code, w.Header().Get("Content-Encoding"), tt.wantEncoding)
				}
				if !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") || w.Header().Get("Content-Type") != "application/wasm" {
					t.Errorf("headers %v", w.Header())
				}
				body := w.Body.Bytes()
				if tt.wantEncoding == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
					if w.Body.Len() >= len(wasm)/4 {
						t.Errorf("gzipped engine is %d bytes of %d", w.Body.Len(), len(wasm))
					}
				}
				if !bytes.Equal(body, wasm) {
					t.Fatalf("the engine arrived changed (%d bytes, want %d)", len(body), len(wasm))
				}
			}
		})
	}
	// Revalidation (the service worker's install after the first load) costs
	// a 304, not the engine again.
	req := httptest.NewRequest("GET", "http://x/app.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	req = httptest.NewRequest("GET", "http://x/app.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("revalidation: status %d with %d bytes, want 304 and none", w.Code, w.Body.Len())
	}
	// A rebuilt engine is not answered from the old cache.
	wasm2 := append(wasm, []byte("rebuilt")...)
	if err := os.WriteFile(filepath.Join(engine, "app.wasm"), wasm2, 0o644); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("GET", "http://x/app.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(zr); !bytes.Equal(got, wasm2) {
		t.Fatal("a rebuilt engine was answered from the old cache")
	}
}
