package webapp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// The engine is most of a first load, and a phone on 3G pays for every
// byte: it is sent Brotli-compressed where the browser accepts it (a third
// smaller than gzip -9 for app.wasm), else gzip, else as it is. Brotli's best
// setting takes most of a minute on app.wasm, so `make webapp` writes the
// compressed copies beside the files (Precompress); the server checks each
// copy against the file before trusting it and, without one, gzips the file
// itself once.

// Encodings, best first.
const (
	encBrotli = "br"
	encGzip   = "gzip"
)

// BrotliBest is Brotli's smallest (and slowest) setting, for `make webapp`.
const BrotliBest = brotli.BestCompression

// Precompress writes name.br (Brotli at quality) and name.gz (gzip -9)
// beside each file the engine directory holds, for Handler to send.
func Precompress(dir string, quality int) error {
	for name := range built {
		p := filepath.Join(dir, name)
		raw, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
		br, err := brotliBytes(raw, quality)
		if err != nil {
			return fmt.Errorf("precompress %s: %w", name, err)
		}
		gz, err := gzipBytes(raw)
		if err != nil {
			return fmt.Errorf("precompress %s: %w", name, err)
		}
		if err := writeFile(p+".br", br); err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
		if err := writeFile(p+".gz", gz); err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
	}
	return nil
}

// writeFile replaces p whole (a temporary file renamed over it), so a server
// reading it meanwhile sees the old copy or the new, never half of one.
func writeFile(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func brotliBytes(raw []byte, quality int) ([]byte, error) {
	var buf bytes.Buffer
	// A 16 MB window: the whole engine is one window, so late code can
	// refer back to early code.
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: quality, LGWin: 24})
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gzipBytes(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// asset is one file as the server sends it: raw and in the encodings that
// make it smaller, with a tag naming its content (so a rebuild with the same
// bytes, or another server, answers a revalidation with 304).
type asset struct {
	ctype   string
	modTime time.Time
	tag     string // hex hash of raw
	raw     []byte
	enc     map[string][]byte // encoding -> body; only those smaller than raw
}

func newAsset(ctype string, modTime time.Time, raw []byte) *asset {
	sum := sha256.Sum256(raw)
	return &asset{ctype: ctype, modTime: modTime, tag: hex.EncodeToString(sum[:12]), raw: raw, enc: map[string][]byte{}}
}

func (a *asset) add(enc string, body []byte) {
	if len(body) < len(a.raw) {
		a.enc[enc] = body
	}
}

// serve answers r with the best encoding it accepts. http.ServeContent does
// the conditional requests (If-None-Match against the variant's ETag: a 304
// drops Content-Encoding), ranges and HEAD.
func (a *asset) serve(w http.ResponseWriter, r *http.Request, name string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.raw, `"`+a.tag+`"`
	for _, enc := range []string{encBrotli, encGzip} {
		if b, ok := a.enc[enc]; ok && accepts(r, enc) {
			body, etag = b, `"`+a.tag+"-"+enc+`"`
			h.Set("Content-Encoding", enc)
			break
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, name, a.modTime, bytes.NewReader(body))
}

// accepts reports whether the request's Accept-Encoding allows enc: named
// (or covered by "*") without q=0.
func accepts(r *http.Request, enc string) bool {
	star := false
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		ok := qualityAbove0(params)
		switch {
		case strings.EqualFold(name, enc):
			return ok
		case name == "*":
			star = ok
		}
	}
	return star
}

func qualityAbove0(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err != nil || q > 0 // an unreadable q is not a refusal
		}
	}
	return true
}

// engineAssets holds the built files, each read once per build: while the
// file and its compressed copies keep their sizes and times (copies written
// after the file, as `make webapp` does under a running server, are picked
// up).
type engineAssets struct {
	mu    sync.Mutex
	files map[string]engineAsset
}

type engineAsset struct {
	stamp string
	a     *asset
}

// stamp names what the files at p, p.br and p.gz are now.
func stamp(p string, fi os.FileInfo) string {
	s := fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	for _, ext := range []string{".br", ".gz"} {
		if ci, err := os.Stat(p + ext); err == nil {
			s += fmt.Sprint(" ", ci.Size(), ci.ModTime().UnixNano())
		} else {
			s += " -"
		}
	}
	return s
}

var engines = &engineAssets{files: map[string]engineAsset{}}

func (c *engineAssets) get(p, ctype string, fi os.FileInfo) (*asset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := stamp(p, fi)
	if e, ok := c.files[p]; ok && e.stamp == st {
		return e.a, nil
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	a := newAsset(ctype, fi.ModTime(), raw)
	// A compressed copy is used only if it holds exactly this build: one
	// left from an earlier build (rebuilt without `make webapp`) would send
	// phones an old engine.
	if b, err := os.ReadFile(p + ".br"); err == nil && decodesTo(brotli.NewReader(bytes.NewReader(b)), raw) {
		a.add(encBrotli, b)
	}
	if b, err := os.ReadFile(p + ".gz"); err == nil && gunzipsTo(b, raw) {
		a.add(encGzip, b)
	} else if gz, err := gzipBytes(raw); err == nil {
		a.add(encGzip, gz)
	}
	c.files[p] = engineAsset{stamp: st, a: a}
	return a, nil
}

func gunzipsTo(b, raw []byte) bool {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	return err == nil && decodesTo(zr, raw)
}

// decodesTo reports whether r yields exactly want (reading at most one byte
// more, so a corrupt copy cannot make the server read without end).
func decodesTo(r io.Reader, want []byte) bool {
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))+1))
	return err == nil && bytes.Equal(got, want)
}

// shellFiles are the embedded shell's files by name, each compressed at its
// first request (some kilobytes to tens of kilobytes: a fraction of a second
// at Brotli's best, and files a phone never asks for, such as the Firebase
// SDK when push is off, cost nothing).
var shellFiles = sync.OnceValue(func() map[string]*shellFile {
	m := map[string]*shellFile{}
	_ = fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m[strings.TrimPrefix(p, "static/")] = &shellFile{path: p}
		}
		return err
	})
	return m
})

type shellFile struct {
	path string
	once sync.Once
	a    *asset
}

func (f *shellFile) asset() *asset {
	f.once.Do(func() {
		raw, _ := static.ReadFile(f.path) // listed by WalkDir: it is there
		f.a = newAsset(contentType(f.path, raw), time.Time{}, raw)
		if br, err := brotliBytes(raw, BrotliBest); err == nil {
			f.a.add(encBrotli, br)
		}
		if gz, err := gzipBytes(raw); err == nil {
			f.a.add(encGzip, gz)
		}
	})
	return f.a
}

// contentType is what http.FileServer would say, except that a web app
// manifest is named as one.
func contentType(name string, raw []byte) string {
	ext := path.Ext(name)
	if ext == ".webmanifest" {
		return "application/manifest+json"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return http.DetectContentType(raw)
}
