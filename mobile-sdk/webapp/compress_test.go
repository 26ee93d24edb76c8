package webapp

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// get asks h for path with the given request headers (name, value pairs).
func get(t *testing.T, h http.Handler, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "http://x"+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// decoded is the body of w as the browser reads it.
func decoded(t *testing.T, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(w.Body.Bytes())
	switch enc := w.Header().Get("Content-Encoding"); enc {
	case "":
	case "br":
		r = brotli.NewReader(r)
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	default:
		t.Fatalf("Content-Encoding %q", enc)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", w.Header().Get("Content-Encoding"), err)
	}
	return b
}

// engineDir is an engine directory holding wasm as app.wasm, precompressed
// as `make webapp` does it.
func engineDir(t *testing.T, wasm []byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"app.wasm": wasm, "wasm_exec.js": []byte(strings.Repeat("// the Go wasm glue\n", 200))} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Precompress(dir, 5); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEngineEncodings: the engine goes out in the best encoding the browser
// accepts (Brotli, then gzip, then as it is), each with its own ETag, and
// always arrives as it was built.
func TestEngineEncodings(t *testing.T) {
	wasm := bytes.Repeat([]byte("\x00asm engine bytes that compress well "), 4096)
	h := Handler(engineDir(t, wasm))
	tests := []struct {
		name, acceptEncoding, wantEncoding string
	}{
		{"Chromium", "gzip, deflate, br, zstd", "br"},
		{"brotli only", "br", "br"},
		{"gzip only", "gzip", "gzip"},
		{"brotli refused", "br;q=0, gzip", "gzip"},
		{"brotli refused, spaced", "gzip, br ; q=0.0", "gzip"},
		{"anything", "*", "br"},
		{"anything but brotli", "br;q=0, *", "gzip"},
		{"anything refused", "*;q=0", ""},
		{"everything refused", "br;q=0, gzip;q=0", ""},
		{"identity", "identity", ""},
		{"nothing said", "", ""},
		{"upper case", "GZIP", "gzip"},
	}
	tags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "/app.wasm", "Accept-Encoding", tt.acceptEncoding)
			if w.Code != 200 || w.Header().Get("Content-Encoding") != tt.wantEncoding {
				t.Fatalf("status %d, Content-Encoding %q; want 200, %q", w.Code, w.Header().Get("Content-Encoding"), tt.wantEncoding)
			}
			if !strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") || w.Header().Get("Content-Type") != "application/wasm" {
				t.Errorf("headers %v", w.Header())
			}
			if got := decoded(t, w); !bytes.Equal(got, wasm) {
				t.Fatalf("the engine arrived changed (%d bytes, want %d)", len(got), len(wasm))
			}
			etag := w.Header().Get("ETag")
			if prev, ok := tags[tt.wantEncoding]; ok && prev != etag {
				t.Errorf("ETag %s for %q, earlier %s", etag, tt.wantEncoding, prev)
			}
			tags[tt.wantEncoding] = etag
		})
	}
	if len(tags) != 3 || tags["br"] == tags["gzip"] || tags["br"] == tags[""] || tags["gzip"] == tags[""] {
		t.Errorf("ETags per encoding %v: want three different", tags)
	}
	if w := get(t, h, "/wasm_exec.js", "Accept-Encoding", "br"); w.Header().Get("Content-Encoding") != "br" || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("wasm_exec.js: %v", w.Header())
	}
}

// TestEngineRevalidation: the service worker's and the browser's
// revalidations get a 304 for the variant they hold, and only for it.
func TestEngineRevalidation(t *testing.T) {
	wasm := bytes.Repeat([]byte("\x00asm engine "), 8192)
	h := Handler(engineDir(t, wasm))
	br := get(t, h, "/app.wasm", "Accept-Encoding", "br").Header().Get("ETag")
	gz := get(t, h, "/app.wasm", "Accept-Encoding", "gzip").Header().Get("ETag")
	tests := []struct {
		name, acceptEncoding, ifNoneMatch string
		wantStatus                        int
	}{
		{"same variant", "gzip, br", br, 304},
		{"weak form", "br", "W/" + br, 304},
		{"in a list", "br", `"other", ` + br, 304},
		{"any", "br", "*", 304},
		{"gzip copy, brotli now accepted", "gzip, br", gz, 200},
		{"another build", "br", `"0123456789abcdef01234567-br"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, "/app.wasm", "Accept-Encoding", tt.acceptEncoding, "If-None-Match", tt.ifNoneMatch)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if tt.wantStatus == 304 && (w.Body.Len() != 0 || w.Header().Get("Content-Encoding") != "") {
				t.Errorf("304 with %d bytes, Content-Encoding %q", w.Body.Len(), w.Header().Get("Content-Encoding"))
			}
		})
	}
}

// TestEngineCompressedCopiesMustMatch: a compressed copy left from another
// build (or damaged) is never sent: phones would run an old engine, or none.
// The ETag names the content, so the same bytes rebuilt revalidate to 304.
func TestEngineCompressedCopiesMustMatch(t *testing.T) {
	wasm := bytes.Repeat([]byte("\x00asm engine, first build "), 4096)
	dir := engineDir(t, wasm)
	h := Handler(dir)
	first := get(t, h, "/app.wasm", "Accept-Encoding", "br").Header().Get("ETag")

	// Rebuilt with the same bytes (a later time): same tag.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "app.wasm"), later, later)
	if w := get(t, h, "/app.wasm", "Accept-Encoding", "br", "If-None-Match", first); w.Code != 304 {
		t.Errorf("the same bytes rebuilt: status %d, want 304", w.Code)
	}

	// Rebuilt with other bytes, the compressed copies left as they were.
	wasm2 := bytes.Repeat([]byte("\x00asm engine, second build "), 4096)
	if err := os.WriteFile(filepath.Join(dir, "app.wasm"), wasm2, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ae := range []string{"br", "gzip", "gzip, br"} {
		w := get(t, h, "/app.wasm", "Accept-Encoding", ae)
		if got := decoded(t, w); !bytes.Equal(got, wasm2) {
			t.Fatalf("Accept-Encoding %q: a stale compressed copy was sent (%s)", ae, w.Header().Get("Content-Encoding"))
		}
		if w.Header().Get("ETag") == first {
			t.Errorf("Accept-Encoding %q: the old build's ETag", ae)
		}
	}

	// Damaged copies: the first half of a good one, and garbage.
	if err := Precompress(dir, 5); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, "app.wasm.br"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{good[:len(good)/2], []byte("not brotli at all")} {
		os.WriteFile(filepath.Join(dir, "app.wasm.br"), bad, 0o644)
		os.WriteFile(filepath.Join(dir, "app.wasm.gz"), bad, 0o644)
		later = later.Add(time.Minute) // another build as the server sees it
		os.Chtimes(filepath.Join(dir, "app.wasm"), later, later)
		w := get(t, h, "/app.wasm", "Accept-Encoding", "gzip, br")
		if got := decoded(t, w); !bytes.Equal(got, wasm2) {
			t.Fatalf("a damaged copy was sent (%s)", w.Header().Get("Content-Encoding"))
		}
	}
}

// TestShellIsSentCompressed: the page, its script, styles and catalogue go
// out compressed with an ETag, so a revalidation is a 304, not the file.
func TestShellIsSentCompressed(t *testing.T) {
	h := Handler(t.TempDir())
	for _, tt := range []struct{ path, file, wantType string }{
		{"/", "index.html", "text/html"},
		{"/app.js", "app.js", "javascript"},
		{"/i18n.js", "i18n.js", "javascript"},
		{"/app.css", "app.css", "text/css"},
		{"/cy.json", "cy.json", "json"},
		{"/sw.js", "sw.js", "javascript"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			want, err := static.ReadFile("static/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			w := get(t, h, tt.path, "Accept-Encoding", "gzip, deflate, br, zstd")
			if w.Code != 200 || w.Header().Get("Content-Encoding") != "br" || !strings.Contains(w.Header().Get("Content-Type"), tt.wantType) {
				t.Fatalf("status %d, headers %v", w.Code, w.Header())
			}
			if got := decoded(t, w); !bytes.Equal(got, want) {
				t.Fatal("the file arrived changed")
			}
			if w.Body.Len() >= len(want)*2/3 {
				t.Errorf("compressed to %d bytes of %d", w.Body.Len(), len(want))
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP %q", csp)
			}
			again := get(t, h, tt.path, "Accept-Encoding", "gzip, deflate, br, zstd", "If-None-Match", w.Header().Get("ETag"))
			if again.Code != 304 || again.Body.Len() != 0 {
				t.Errorf("revalidation: status %d with %d bytes, want 304 and none", again.Code, again.Body.Len())
			}
			if plain := get(t, h, tt.path); plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), want) {
				t.Errorf("without Accept-Encoding: %v", plain.Header())
			}
		})
	}
	if w := get(t, h, "/sw.js"); w.Header().Get("Service-Worker-Allowed") != "/app/" {
		t.Errorf("sw.js: Service-Worker-Allowed %q", w.Header().Get("Service-Worker-Allowed"))
	}
	if w := get(t, h, "/index.html"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "./" {
		t.Errorf("/index.html: status %d to %q, want the file server's redirect to ./", w.Code, w.Header().Get("Location"))
	}
}

// FuzzAccepts: any Accept-Encoding header is read without panicking, and an
// encoding it never mentions (nor "*") is never chosen.
func FuzzAccepts(f *testing.F) {
	for _, s := range []string{"", "gzip, deflate, br, zstd", "br;q=0, *", "gzip;q=0.5;x=y", ";;,,;q=", "*;q=abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "http://x/app.wasm", nil)
		req.Header.Set("Accept-Encoding", header)
		for _, enc := range []string{"br", "gzip"} {
			if accepts(req, enc) && !strings.Contains(strings.ToLower(header), enc) && !strings.Contains(header, "*") {
				t.Fatalf("%q: accepts %s", header, enc)
			}
		}
	})
}

// TestEngineCopiesWrittenLater: `make webapp` under a running server writes
// the engine, then its compressed copies; a request in between must not
// leave the server without them until the next build.
func TestEngineCopiesWrittenLater(t *testing.T) {
	dir := t.TempDir()
	wasm := bytes.Repeat([]byte("\x00asm engine, built "), 4096)
	if err := os.WriteFile(filepath.Join(dir, "app.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), []byte("// glue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := Handler(dir)
	if w := get(t, h, "/app.wasm", "Accept-Encoding", "gzip, br"); w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("before the copies: Content-Encoding %q, want the server's own gzip", w.Header().Get("Content-Encoding"))
	}
	if err := Precompress(dir, 5); err != nil {
		t.Fatal(err)
	}
	w := get(t, h, "/app.wasm", "Accept-Encoding", "gzip, br")
	if w.Header().Get("Content-Encoding") != "br" || !bytes.Equal(decoded(t, w), wasm) {
		t.Fatalf("after the copies: Content-Encoding %q, want br", w.Header().Get("Content-Encoding"))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
