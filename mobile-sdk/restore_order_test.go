package mobilesdk

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreWhenAnotherPhoneSyncsFirst: after the server is restored from a
// backup, a phone with many new saves syncs first and pushes the log past the
// cursors the other phones hold from before the restore. Those cursors name
// positions of the old history: they must not be taken as valid against the
// restored one, or the saves acknowledged after the backup are never sent
// again and the phones that pulled them differ from the server for ever.
func TestRestoreWhenAnotherPhoneSyncsFirst(t *testing.T) {
	for _, how := range []string{"joinedup restore", "backup copied into a new data directory"} {
		t.Run(how, func(t *testing.T) { testRestoreOrder(t, how) })
	}
}

func testRestoreOrder(t *testing.T, how string) {
	shared := startServer(t)
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
	team := s.demo.Org.Teams[0].ID
	a := s.enrolPhone(t, sup, s.person(t, 0, "worker", 0))
	b := s.enrolPhone(t, sup, s.person(t, 0, "worker", 1))
	c := s.enrolPhone(t, sup, s.person(t, 0, "supervisor", 0))

	backup := filepath.Join(dir, "backup.db")
	restoreBackup := func() {
		t.Helper()
		stop()
		if how == "joinedup restore" {
			if out, err := runBin(s.bin, "restore", "-data", s.dataDir, backup); err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
		} else {
			s.dataDir = filepath.Join(dir, "restored")
			data, err := os.ReadFile(backup)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.dataDir, "joinedup.db"), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		stop = bootServer(t, s.bin, s.dataDir, port)
	}
	if out, err := runBin(s.bin, "-data", s.dataDir, "-backup", backup); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	// After the backup: A saves five encounters; the server acknowledges
	// them and B and C pull them.
	var acked []string
	for i := 0; i < 5; i++ {
		id, err := a.CreateEncounter(fmt.Sprintf(`{"area":"Park","note":"A's save %d after the backup."}`, i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, id)
	}
	syncOK(t, a)
	syncOK(t, b)
	syncOK(t, c)

	restoreBackup()

	// B saves more than A did while the server was down, and syncs first.
	for i := 0; i < 8; i++ {
		id, err := b.CreateEncounter(fmt.Sprintf(`{"area":"Market","note":"B's save %d after the restore."}`, i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, id)
	}
	for round := 0; round < 3; round++ {
		for _, p := range []*Client{b, c, a} {
			syncOK(t, p)
		}
	}

	server := s.serverRecords(t, team)
	for _, id := range acked {
		if _, ok := server[id]; !ok {
			t.Errorf("acknowledged save %s is not on the server after the restore", id)
		}
	}
	var n int
	if err := s.serverDB(t).QueryRow(`SELECT COUNT(*) FROM records WHERE id IN (`+placeholders(len(acked))+`)`, anySlice(acked)...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(acked) {
		t.Errorf("server holds %d of the %d acknowledged saves", n, len(acked))
	}
	for _, p := range []*Client{a, b, c} {
		sameRecords(t, "server and "+p.PersonID(), server, inServer(t, p, server))
	}
}

// inServer is the phone's copy of the records the server holds for the team.
func inServer(t *testing.T, c *Client, server map[string][]byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for id, st := range phoneRecords(t, c) {
		if _, ok := server[id]; ok {
			out[id] = st
		}
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func runBin(bin string, args ...string) ([]byte, error) {
	return exec.Command(bin, args...).CombinedOutput()
}
