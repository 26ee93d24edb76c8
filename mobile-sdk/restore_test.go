package mobilesdk

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures/serverproc"

	"github.com/joinedup/joinedup/syncengine"
)

// bootServer runs the server binary on a given port and data directory
// until the test ends or stop is called.
func bootServer(t *testing.T, bin, dataDir string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, "-bcrypt-cost", "4", "-rate", "0", "-log-level", "warn")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "DATA_DIR="+dataDir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		serverproc.Stop(cmd, syscall.SIGTERM)
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://localhost:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServerRestoredFromBackupLosesNothing: the server is restored from a
// backup taken before two phones made edits (the second built on the first).
// The phones notice (cursor_ahead), send their recent saves again in either
// order, and everything written after the backup ends up on the server and on
// both phones.
func TestServerRestoredFromBackupLosesNothing(t *testing.T) {
	shared := startServer(t) // builds the binary and knows the demo organisation
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	s := &testServer{url: fmt.Sprintf("http://localhost:%d", port), dataDir: filepath.Join(dir, "before"), bin: shared.bin, demo: shared.demo}
	stop := bootServer(t, s.bin, s.dataDir, port)

	sup := s.person(t, 0, "supervisor", 0)
	a := s.enrolPhone(t, sup, s.person(t, 0, "worker", 0))
	b := s.enrolPhone(t, sup, s.person(t, 0, "worker", 1))
	enc, err := a.CreateEncounter(`{"area":"Bus station","note":"Before the backup."}`)
	if err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	syncOK(t, b)

	backup := filepath.Join(dir, "backup.db")
	if out, err := exec.Command(s.bin, "-data", s.dataDir, "-backup", backup).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	// After the backup: A adds to the note, B builds on A's words.
	if err := a.InsertText(enc, "note", 0, "A after the backup. "); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	syncOK(t, b)
	if err := b.InsertText(enc, "note", 0, "B after the backup. "); err != nil {
		t.Fatal(err)
	}
	syncOK(t, b)

	// Disaster: the server is restored from the backup, on the same address.
	stop()
	restored := filepath.Join(dir, "restored")
	if err := os.MkdirAll(restored, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "joinedup.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	bootServer(t, s.bin, restored, port)

	// B comes back first: its save depends on A's, which the server lost.
	syncOK(t, b)
	syncOK(t, a)
	syncOK(t, b)
	syncOK(t, a)
	for _, c := range []*Client{a, b} {
		v, err := c.Get(enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"A after the backup.", "B after the backup.", "Before the backup."} {
			if !strings.Contains(v, want) {
				t.Fatalf("%s lost %q after the restore: %s", c.PersonID(), want, v)
			}
		}
	}
	// B's save waited in quarantine on the server; once applied it is no
	// longer listed as refused on B's phone.
	if st, _ := b.Status(); !strings.Contains(st, `"quarantined":[]`) {
		t.Fatalf("B still lists a released save as quarantined: %s", st)
	}
	va, _ := a.Get(enc)
	vb, _ := b.Get(enc)
	if va != vb {
		t.Fatalf("phones differ after the restore:\n%s\n%s", va, vb)
	}
	s.dataDir = restored
	var state []byte
	if err := s.serverDB(t).QueryRow(`SELECT state FROM records WHERE id = ?`, enc).Scan(&state); err != nil {
		t.Fatal(err)
	}
	rec, err := syncengine.DecodeRecord(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A after the backup.", "B after the backup."} {
		if !strings.Contains(rec.String("note"), want) {
			t.Fatalf("server lost %q after the restore: %q", want, rec.String("note"))
		}
	}
}
