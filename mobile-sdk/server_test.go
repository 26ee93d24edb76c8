package mobilesdk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/syncengine"
)

// The end-to-end tests run the real server (./server/cmd/joinedup, demo data
// loaded, on a free loopback port, DATA_DIR in a temp dir) and real phones,
// each with its own SQLite file. The server and fieldsim are built once.

type testServer struct {
	url, dataDir, bin, fieldsim string
	cmd                         *exec.Cmd
	demo                        *fixtures.Dataset
}

var (
	srvOnce sync.Once
	srv     *testServer
	srvErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m) // stops the Postgres cluster of the three-node test
	if srv != nil && srv.cmd != nil {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { srv.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.cmd.Process.Kill()
		}
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func moduleRoot(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

var (
	buildOnce sync.Once
	buildErr  error
)

// buildBinaries builds the server and fieldsim once for the whole test
// binary, into binDir, and returns their paths.
func buildBinaries(tb testing.TB) (server, fieldsim string) {
	tb.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "mobilesdk-e2e-"); buildErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{{"joinedup", "./server/cmd/joinedup"}, {"fieldsim", "./mobile-sdk/cmd/fieldsim"}} {
			cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = moduleRoot(tb)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(binDir, "joinedup"), filepath.Join(binDir, "fieldsim")
}

// startServer builds and boots the server once for the whole test binary.
func startServer(tb testing.TB) *testServer {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end test: needs the server (skipped with -short)")
	}
	bin, fieldsim := buildBinaries(tb)
	srvOnce.Do(func() {
		s := &testServer{dataDir: filepath.Join(binDir, "data"), bin: bin, fieldsim: fieldsim}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			srvErr = err
			return
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s.cmd = exec.Command(s.bin, "-bcrypt-cost", "4", "-rate", "0", "-log-level", "warn")
		s.cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "DATA_DIR="+s.dataDir)
		var logs bytes.Buffer
		s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
		if srvErr = s.cmd.Start(); srvErr != nil {
			return
		}
		s.url = fmt.Sprintf("http://localhost:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(s.url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				srvErr = fmt.Errorf("server did not become ready: %v\n%s", err, logs.String())
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.demo = fixtures.Generate(fixtures.Demo())
		srv = s
	})
	if srvErr != nil {
		tb.Fatal(srvErr)
	}
	if srv == nil {
		tb.Fatal("server failed to start in an earlier test")
	}
	return srv
}

// person returns a demo person: role "worker" or "supervisor", the n-th
// (from 0) of that role in the team-th team.
func (s *testServer) person(tb testing.TB, team int, role string, n int) fixtures.Person {
	tb.Helper()
	teamID := s.demo.Org.Teams[team].ID
	for _, p := range s.demo.Org.People {
		if p.TeamID == teamID && p.Role == role {
			if n == 0 {
				return p
			}
			n--
		}
	}
	tb.Fatalf("no %s #%d in team %s", role, n, teamID)
	return fixtures.Person{}
}

func (s *testServer) password(tb testing.TB, email string) string {
	for _, l := range fixtures.DemoLogins(s.demo.Org) {
		if l.Email == email {
			return l.Password
		}
	}
	tb.Fatalf("no demo login for %s", email)
	return ""
}

// admin calls the admin API as the team's supervisor.
func (s *testServer) admin(tb testing.TB, sup fixtures.Person, path string, body any) map[string]any {
	tb.Helper()
	code, out := s.adminTry(tb, sup, path, body)
	if code/100 != 2 {
		tb.Fatalf("POST %s: %d %s", path, code, out)
	}
	var m map[string]any
	json.Unmarshal([]byte(out), &m)
	return m
}

// adminTry posts to the admin API as sup and returns the status and body,
// whatever they are.
func (s *testServer) adminTry(tb testing.TB, sup fixtures.Person, path string, body any) (int, string) {
	tb.Helper()
	b, _ := json.Marshal(body)
	return s.adminDo(tb, sup, http.MethodPost, path, bytes.NewReader(b))
}

// adminGet reads the admin API as sup and returns the status and body.
func (s *testServer) adminGet(tb testing.TB, sup fixtures.Person, path string) (int, string) {
	tb.Helper()
	return s.adminDo(tb, sup, http.MethodGet, path, nil)
}

func (s *testServer) adminDo(tb testing.TB, sup fixtures.Person, method, path string, body io.Reader) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, s.url+path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sup.Email+":"+s.password(tb, sup.Email))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (s *testServer) code(tb testing.TB, sup, p fixtures.Person) string {
	tb.Helper()
	return s.admin(tb, sup, "/v1/admin/enrolment-codes", map[string]string{"person_id": p.ID})["code"].(string)
}

// serverDB opens the server's database read-only (WAL lets us read while it runs).
func (s *testServer) serverDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.dataDir, "joinedup.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// serverRecords returns the server's canonical record states for a team.
func (s *testServer) serverRecords(tb testing.TB, team string) map[string][]byte {
	tb.Helper()
	rows, err := s.serverDB(tb).Query(`SELECT id, state FROM records WHERE team_id = ?`, team)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var state []byte
		if err := rows.Scan(&id, &state); err != nil {
			tb.Fatal(err)
		}
		out[id] = state
	}
	return out
}

// phoneRecords returns a phone's record states, canonically encoded.
func phoneRecords(tb testing.TB, c *Client) map[string][]byte {
	tb.Helper()
	recs, err := c.st.Find(localstore.Query{})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, r := range recs {
		out[string(r.ID)] = syncengine.EncodeRecord(r)
	}
	return out
}

// sameRecords fails unless two record sets are byte-identical.
func sameRecords(tb testing.TB, what string, a, b map[string][]byte) {
	tb.Helper()
	var diffs []string
	for id, x := range a {
		if y, ok := b[id]; !ok {
			diffs = append(diffs, id+" only in first")
		} else if !bytes.Equal(x, y) {
			diffs = append(diffs, id+" differs")
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			diffs = append(diffs, id+" only in second")
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
		}
		tb.Fatalf("%s: %d vs %d records, differences:\n  %s", what, len(a), len(b), strings.Join(diffs, "\n  "))
	}
}

// enrolPhone opens a phone in its own directory, enrols it for p and syncs.
func (s *testServer) enrolPhone(tb testing.TB, sup, p fixtures.Person) *Client {
	tb.Helper()
	c, err := open(tb.TempDir(), testKey, "sim", options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Enrol(s.url, s.code(tb, sup, p)); err != nil {
		tb.Fatalf("enrol %s: %v", p.ID, err)
	}
	syncOK(tb, c)
	return c
}

func syncOK(tb testing.TB, c *Client) {
	tb.Helper()
	if _, err := c.SyncNow(); err != nil {
		tb.Fatalf("sync %s: %v", c.PersonID(), err)
	}
}

var _ = context.Background

// quarantine lists a device's open quarantined saves, as the team's
// supervisor sees them through the admin API.
func (s *testServer) quarantine(tb testing.TB, sup fixtures.Person, device string) []domain.QuarantineItem {
	tb.Helper()
	code, body := s.adminGet(tb, sup, "/v1/admin/quarantine?device="+device)
	if code != http.StatusOK {
		tb.Fatalf("GET quarantine: %d %s", code, body)
	}
	var out struct {
		Items []domain.QuarantineItem `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		tb.Fatal(err)
	}
	return out.Items
}
