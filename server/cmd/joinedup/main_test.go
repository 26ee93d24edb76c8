package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"golang.org/x/crypto/bcrypt"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "joinedup-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "joinedup")
	if out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m) // the Postgres tests' cluster stops with the run
	os.RemoveAll(dir)
	os.Exit(code)
}

// testDeadline bounds anything a test starts (servers, subprocesses,
// shutdowns), so a hang fails one test with a goroutine dump instead of
// stalling the run until go test's global timeout.
const testDeadline = 90 * time.Second

// client is the tests' HTTP client: never without a timeout.
var client = &http.Client{Timeout: 10 * time.Second}

// MustRunMain boots the whole program on :0 with data in dir; it is closed
// (within testDeadline) when the test ends if the test did not close it.
// opts change the configuration first.
func MustRunMain(tb testing.TB, dir string, opts ...func(*Main)) *Main {
	tb.Helper()
	m := NewMain()
	m.Out = io.Discard
	m.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DataDir = dir
	m.Config.BcryptCost = bcrypt.MinCost
	for _, o := range opts {
		o(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { MustClose(tb, m) })
	return m
}

// MustClose closes m, failing with every goroutine's stack if Close does not
// return within testDeadline.
func MustClose(tb testing.TB, m *Main) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("close: %v", err)
		}
	case <-time.After(testDeadline):
		buf := make([]byte, 1<<20)
		tb.Fatalf("Main.Close did not return within %s; goroutines:\n%s", testDeadline, buf[:runtime.Stack(buf, true)])
	}
}

// TestMetricsBehindTokenOrOwnAddress: with METRICS_TOKEN set, /metrics is on
// the main address behind the token; without, only on -metrics-addr.
func TestMetricsBehindTokenOrOwnAddress(t *testing.T) {
	get := func(url, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("METRICS_TOKEN", func(t *testing.T) {
		t.Setenv("METRICS_TOKEN", "t0ken-from-env")
		m := MustRunMain(t, t.TempDir(), func(m *Main) { m.Config.Demo = false })
		if got := get(m.URL()+"/metrics", ""); got != 401 {
			t.Fatalf("no token: %d", got)
		}
		if got := get(m.URL()+"/metrics", "t0ken-from-env"); got != 200 {
			t.Fatalf("token: %d", got)
		}
		if m.MetricsURL() != "" {
			t.Fatalf("a metrics address without -metrics-addr: %s", m.MetricsURL())
		}
	})
	t.Run("-metrics-addr", func(t *testing.T) {
		t.Setenv("METRICS_TOKEN", "")
		m := NewMain()
		must(t, m.ParseFlags([]string{"-metrics-addr", "127.0.0.1:0"}))
		m = MustRunMain(t, t.TempDir(), func(x *Main) { x.Config.Demo = false; x.Config.MetricsAddr = m.Config.MetricsAddr })
		if got := get(m.URL()+"/metrics", ""); got != 404 {
			t.Fatalf("/metrics on the main address without a token: %d", got)
		}
		if got := get(m.MetricsURL()+"/metrics", ""); got != 200 {
			t.Fatalf("/metrics on the metrics address: %d", got)
		}
	})
}

// TestRunCloseAtOnce closes the program right after Run returns, before the
// serving goroutine has necessarily started: Close used to wait for ever on
// a Serve that registered its listener after the shutdown.
func TestRunCloseAtOnce(t *testing.T) {
	for i := 0; i < 20; i++ {
		m := NewMain()
		m.Out = io.Discard
		m.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
		m.Config.Addr = "127.0.0.1:0"
		m.Config.DataDir = t.TempDir()
		m.Config.Demo = false
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		must(t, m.Run(ctx))
		cancel()
		MustClose(t, m)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"no addr", func(c *Config) { c.Addr = "" }, false},
		{"bad port", func(c *Config) { c.Addr = "localhost:http99" }, false},
		{"no data dir", func(c *Config) { c.DataDir = "" }, false},
		{"bad cost", func(c *Config) { c.BcryptCost = 99 }, false},
		{"unknown store", func(c *Config) { c.Store.Kind = "mysql" }, false},
		{"postgres without url", func(c *Config) { c.Store = StoreConfig{Kind: storePostgres} }, false},
		{"postgres", func(c *Config) { c.Store = StoreConfig{Kind: storePostgres, DatabaseURL: "postgres://h/db"} }, true},
		{"postgres needs no data dir", func(c *Config) {
			c.Store = StoreConfig{Kind: storePostgres, DatabaseURL: "postgres://h/db"}
			c.DataDir = ""
		}, true},
		{"pool min over max", func(c *Config) {
			c.Store = StoreConfig{Kind: storePostgres, DatabaseURL: "postgres://h/db", MaxConns: 2, MinConns: 3}
		}, false},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	t.Setenv("PORT", "9999")
	if c := DefaultConfig(); c.Addr != "localhost:9999" {
		t.Fatalf("PORT ignored: %s", c.Addr)
	}
}

func TestBootBackupRestore(t *testing.T) {
	dir := t.TempDir()
	m := MustRunMain(t, dir)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get(m.URL() + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	ctx := context.Background()
	before, err := m.DB.Stats(ctx)
	if err != nil || before.Records == 0 {
		t.Fatalf("demo data not loaded: %+v %v", before, err)
	}
	// Online backup with the CLI path, while the server runs.
	backup := filepath.Join(t.TempDir(), "backup.db")
	must(t, m.DB.Backup(ctx, backup))
	MustClose(t, m)
	// Restore: the backup becomes joinedup.db of a new data dir; boot; compare.
	restored := t.TempDir()
	b, err := os.ReadFile(backup)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(restored, "joinedup.db"), b, 0o600))
	m2 := MustRunMain(t, restored)
	after, err := m2.DB.Stats(ctx)
	must(t, err)
	if after != before {
		t.Fatalf("restored stats %+v, want %+v", after, before)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary runs the server binary; it is killed when the test's deadline
// passes or the test ends.
func startBinary(t *testing.T, dir, addr string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, binPath, "-addr", addr, "-data", dir, "-bcrypt-cost", "4", "-log-level", "error", "-rate", "0")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	cmd.WaitDelay = 5 * time.Second
	must(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("server did not become ready")
	return nil
}

type crashPhone struct {
	cred, person string
	rep          *syncengine.Replica
	acked        []*syncengine.Changeset
	unacked      []*syncengine.Changeset
}

func pushOne(addr, cred string, cs *syncengine.Changeset) (string, error) {
	body, _ := json.Marshal(protocol.Request{NoPull: true, Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/sync", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out protocol.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != 1 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return out.Results[0].Status, nil
}

// TestCrash kills the server with SIGKILL while phones push, restarts it, and
// checks every acknowledged changeset is stored exactly once and every
// unacknowledged one is accepted (or found) on retry.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	addr := freePort(t)
	cmd := startBinary(t, dir, addr)
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(dir, "joinedup.db"))
	must(t, err)
	workers, err := db.People(ctx, domain.PeopleFilter{Role: "worker"})
	must(t, err)
	var phones []*crashPhone
	for i := 0; i < 4; i++ {
		w := workers[i]
		code, _, err := db.IssueEnrolmentCode(ctx, w.ID, "test")
		must(t, err)
		resp, err := client.Post("http://"+addr+"/v1/enrol", "application/json", strings.NewReader(`{"code":"`+code+`","platform":"sim"}`))
		must(t, err)
		var e domain.Enrolment
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		id, err := syncengine.ParseReplicaID(e.ReplicaID)
		must(t, err)
		rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: db.Rand, Store: syncengine.NewMemStore()})
		must(t, err)
		phones = append(phones, &crashPhone{cred: e.Credential, person: w.ID, rep: rep})
		team := w.TeamID
		_ = team
	}
	db.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, p := range phones {
		wg.Add(1)
		go func(p *crashPhone, team string) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cs, err := p.rep.Edit(p.person, func(tx *syncengine.Txn) error {
					id, err := tx.Create(syncengine.TypeEncounter)
					if err != nil {
						return err
					}
					tx.Set(id, "team_id", team)
					tx.Set(id, "area", "town centre")
					tx.Set(id, "started_at", time.Now().Add(-time.Hour))
					return tx.InsertText(id, "note", 0, "crash test note")
				})
				if err != nil {
					t.Error(err)
					return
				}
				if st, err := pushOne(addr, p.cred, cs); err == nil && st == "accepted" {
					p.acked = append(p.acked, cs)
				} else {
					p.unacked = append(p.unacked, cs)
					if err != nil {
						return // the server is gone
					}
				}
			}
		}(p, workers[indexOf(phones, p)].TeamID)
	}
	time.Sleep(1500 * time.Millisecond)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	close(stop)
	wg.Wait()

	cmd = startBinary(t, dir, addr)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	db, err = sqlite.Open(filepath.Join(dir, "joinedup.db"))
	must(t, err)
	defer db.Close()
	count := func(cs *syncengine.Changeset) int {
		var n int
		must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM changesets WHERE replica_id = ? AND start = ?`, cs.Replica.String(), cs.Start).Scan(&n))
		return n
	}
	acked, retried := 0, 0
	for _, p := range phones {
		for _, cs := range p.acked {
			if n := count(cs); n != 1 {
				t.Fatalf("acknowledged changeset stored %d times", n)
			}
			// Its record too, though the last pushes' records waited in
			// the killed server's write-behind set (server/sqlite/behind.go).
			var recs int
			must(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM records WHERE id = ?`, string(cs.Records()[0])).Scan(&recs))
			if recs != 1 {
				t.Fatalf("acknowledged changeset's record stored %d times", recs)
			}
			acked++
		}
		for _, cs := range p.unacked {
			st, err := pushOne(addr, p.cred, cs)
			if err != nil || (st != "accepted" && st != "duplicate") {
				t.Fatalf("retry: %q %v", st, err)
			}
			if n := count(cs); n != 1 {
				t.Fatalf("retried changeset stored %d times", n)
			}
			retried++
		}
	}
	if acked == 0 {
		t.Fatal("no changeset was acknowledged before the kill")
	}
	t.Logf("acknowledged %d, retried %d", acked, retried)
}

func indexOf(ps []*crashPhone, p *crashPhone) int {
	for i := range ps {
		if ps[i] == p {
			return i
		}
	}
	return -1
}

// TestBannerShowsHowToEnrol: the start banner's enrolment example works as
// printed: the supervisor's credentials issue a code for the worker's email,
// and the code enrols a phone that learns its team.
func TestBannerShowsHowToEnrol(t *testing.T) {
	var out bytes.Buffer
	m := NewMain()
	m.Out = &out
	m.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DataDir = t.TempDir()
	m.Config.BcryptCost = bcrypt.MinCost
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	must(t, m.Run(ctx))
	t.Cleanup(func() { MustClose(t, m) })
	banner := out.String()
	re := regexp.MustCompile(`curl -s -u '([^:]+):([^']+)' -H 'Content-Type: application/json' \\\n\s+-d '(\{"email":"[^"]+"\})' (\S+/v1/admin/devices/enrol-code)`)
	sm := re.FindStringSubmatch(banner)
	if sm == nil {
		t.Fatalf("banner has no enrolment example:\n%s", banner)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", sm[4], strings.NewReader(sm[3]))
	req.SetBasicAuth(sm[1], sm[2])
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	must(t, err)
	var issued struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if resp.StatusCode != 201 || issued.Code == "" {
		t.Fatalf("banner's curl: %d", resp.StatusCode)
	}
	resp, err = client.Post(m.URL()+"/v1/enrol", "application/json", strings.NewReader(`{"code":"`+issued.Code+`","platform":"sim"}`))
	must(t, err)
	var e domain.Enrolment
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 201 || e.Role != "worker" || e.TeamID == "" {
		t.Fatalf("enrol: %d %+v", resp.StatusCode, e)
	}
}
