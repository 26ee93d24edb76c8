package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
)

// zeroTablePage overwrites the root b-tree page of a table with zeros, as a
// failing disk or a stray write would.
func zeroTablePage(t *testing.T, path, table string) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	must(t, err)
	var root int64
	must(t, conn.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, table).Scan(&root))
	conn.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	hdr := make([]byte, 100)
	_, err = f.ReadAt(hdr, 0)
	must(t, err)
	size := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if size == 1 {
		size = 65536
	}
	_, err = f.WriteAt(make([]byte, size), (root-1)*size)
	must(t, err)
}

// errorCode GETs or POSTs and returns the status and the error body's code.
func errorCode(t *testing.T, method, url, cred, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Code, Message string }
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Code, string(b)
}

// enrolWorker enrols a phone for a demo worker straight through the store.
func enrolWorker(t *testing.T, m *Main) string {
	t.Helper()
	ctx := context.Background()
	var worker, sup string
	must(t, m.SQLite.SQL().QueryRow(`SELECT w.id, s.id FROM people w JOIN people s ON s.team_id = w.team_id AND s.role = 'supervisor'
		WHERE w.role = 'worker' LIMIT 1`).Scan(&worker, &sup))
	code, _, err := m.DB.IssueEnrolmentCode(ctx, worker, sup)
	must(t, err)
	e, err := m.DB.Enrol(ctx, code, "sim")
	must(t, err)
	return e.Credential
}

// TestCorruptDatabaseIsNotServedAsHealthy: with a b-tree page of the change
// log zeroed, the server still starts (reads are served where they work) but
// /readyz answers 503 with the reason and every write is refused with a
// clear code, never applied to the damaged file.
func TestCorruptDatabaseIsNotServedAsHealthy(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	cred := enrolWorker(t, m)
	MustClose(t, m)
	zeroTablePage(t, filepath.Join(dir, "joinedup.db"), "changesets")

	m = MustRunMain(t, dir)
	for _, tc := range []struct {
		name, method, path, cred, body string
		wantStatus                     int
		wantCode                       string
	}{
		{"ready", "GET", "/readyz", "", "", 503, domain.EDBCORRUPT},
		{"sync", "POST", "/v1/sync", cred, `{"cursor":""}`, 503, domain.EDBCORRUPT},
		{"enrol", "POST", "/v1/enrol", "", `{"code":"ABCDEFGH","platform":"sim"}`, 503, domain.EDBCORRUPT},
		{"alive", "GET", "/healthz", "", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := errorCode(t, tc.method, m.URL()+tc.path, tc.cred, tc.body)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Fatalf("%s %s: %d %s, want %d %q", tc.method, tc.path, status, body, tc.wantStatus, tc.wantCode)
			}
		})
	}
	if _, code, body := errorCode(t, "GET", m.URL()+"/readyz", "", ""); code == domain.EDBCORRUPT && !strings.Contains(body, "reason") {
		t.Fatalf("readyz gives no reason: %s", body)
	}
}

// TestRestoreCommand: `joinedup restore BACKUP` refuses while the server
// runs and refuses a damaged or too-new backup without touching anything; a
// good one replaces the database after a crash, moving the old file aside
// with its WAL (copying a backup over it and leaving the WAL corrupts the
// restored database), installs it readable only by the server's user and
// starts a new history generation.
func TestRestoreCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	good := filepath.Join(t.TempDir(), "good.db")
	must(t, m.DB.Backup(ctx, good))
	backupGen, err := sqlite.CheckFile(ctx, good)
	must(t, err)
	copyTo := func(t *testing.T, name string, damage func(path string)) string {
		p := filepath.Join(t.TempDir(), name)
		must(t, copyFile(good, p))
		damage(p)
		return p
	}
	damaged := copyTo(t, "damaged.db", func(p string) { zeroTablePage(t, p, "changesets") })
	newer := copyTo(t, "newer.db", func(p string) {
		conn, err := sql.Open("sqlite3", "file:"+p)
		must(t, err)
		_, err = conn.Exec(`INSERT INTO migrations (n, name, applied_at) VALUES (9999, '9999_future.sql', '')`)
		must(t, err)
		conn.Close()
	})
	restore := func(backup string) (string, error) {
		out, err := exec.Command(binPath, "restore", "-data", dir, backup).CombinedOutput()
		return string(out), err
	}

	if out, err := restore(good); err == nil || !strings.Contains(out, "running") {
		t.Fatalf("restore under a running server: %v\n%s", err, out)
	}
	MustClose(t, m)

	// A crash: the server dies with its WAL beside the database.
	addr := freePort(t)
	cmd := startBinary(t, dir, addr)
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "joinedup.db-wal")); err != nil {
		t.Fatalf("no WAL after the crash: %v", err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "joinedup.db"))
	must(t, err)

	for _, tc := range []struct{ name, backup, want string }{
		{"damaged backup", damaged, "integrity"},
		{"backup of a newer version", newer, "newer"},
		{"missing backup", filepath.Join(dir, "nope.db"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := restore(tc.backup)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("restore: %v\n%s\nwant an error mentioning %q", err, out, tc.want)
			}
			now, err := os.ReadFile(filepath.Join(dir, "joinedup.db"))
			must(t, err)
			if string(now) != string(before) {
				t.Fatal("a refused restore changed the database")
			}
		})
	}

	out, err := restore(good)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	for _, want := range []string{"cursor_ahead", "enrol"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore does not tell what phones do next (%q):\n%s", want, out)
		}
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "replaced-*", "joinedup.db-wal"))
	if len(aside) != 1 {
		t.Fatalf("old WAL not moved aside: %v\n%s", aside, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "joinedup.db-wal")); err == nil {
		t.Fatal("old WAL left beside the restored database")
	}
	fi, err := os.Stat(filepath.Join(dir, "joinedup.db"))
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored database mode %v, want 0600", fi.Mode().Perm())
	}
	fc, err := sqlite.CheckFile(ctx, filepath.Join(dir, "joinedup.db"))
	must(t, err)
	if len(fc.Problems) > 0 || fc.Generation == "" || fc.Generation == backupGen.Generation || fc.Backup {
		t.Fatalf("restored database: %+v (backup's generation %s)", fc, backupGen.Generation)
	}
	m = MustRunMain(t, dir)
	if status, _, body := errorCode(t, "GET", m.URL()+"/readyz", "", ""); status != 200 {
		t.Fatalf("restored server not ready: %s", body)
	}
	if out, err := exec.Command(binPath, "check", "-data", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("check on the restored server: %v\n%s", err, out)
	}
	// On demand, beside nothing running: a damaged file fails the check.
	broken := t.TempDir()
	must(t, copyFile(damaged, filepath.Join(broken, "joinedup.db")))
	if out, err := exec.Command(binPath, "check", "-data", broken).CombinedOutput(); err == nil || !strings.Contains(string(out), "FAILS") {
		t.Fatalf("check of a damaged database: %v\n%s", err, out)
	}
}
