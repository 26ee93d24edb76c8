// Package pgtest gives tests a throw-away PostgreSQL: a cluster made with
// initdb in a temporary directory, started with pg_ctl on a loopback port
// for the test binary's run, and a fresh database per test.
//
// Tests never skip for want of Postgres unless told to: without the server
// binaries (Debian's postgresql package) they fail, naming the package to
// install; JOINEDUP_SKIP_PG=1 skips them on a developer's machine (CI never
// sets it, and .ci/run installs postgresql). JOINEDUP_TEST_DATABASE_URL
// points them at an existing server instead (a role that may CREATE
// DATABASE).
//
// initdb refuses to run as root, so as root the cluster runs as the
// "postgres" system user (made by the Debian package) via runuser.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	mu       sync.Mutex
	baseURL  string // the admin connection to the cluster
	stop     func()
	setupErr error
	seq      atomic.Int64
)

// Main runs the package's tests with a cluster started before and stopped after.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with work of its own after the tests: it runs
// them, stops the cluster (if one was started) and returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// URL returns the URL of a new, empty database on the test cluster.
func URL(t testing.TB) string {
	t.Helper()
	base, err := cluster()
	if err != nil {
		if os.Getenv("JOINEDUP_SKIP_PG") == "1" {
			t.Skipf("no PostgreSQL (JOINEDUP_SKIP_PG=1): %v", err)
		}
		t.Fatalf("PostgreSQL for tests: %v (install Debian's postgresql package, or set JOINEDUP_TEST_DATABASE_URL; JOINEDUP_SKIP_PG=1 skips locally)", err)
	}
	url, drop, err := newDatabase(context.Background(), base, "jutest")
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(drop)
	return url
}

// start makes and starts the cluster, or uses JOINEDUP_TEST_DATABASE_URL.
func start() (string, func(), error) {
	if u := os.Getenv("JOINEDUP_TEST_DATABASE_URL"); u != "" {
		return u, func() {}, nil
	}
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "joinedup-pg-")
	if err != nil {
		return "", nil, err
	}
	run := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("running as root needs the postgres system user to run the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	// Throw-away data: durability settings off for speed.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	stop := func() {
		_ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(dir)
	}
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			c.Close(ctx)
			return url, stop, nil
		}
		if ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("cluster did not accept connections: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// binDir finds the newest installed server binaries (PG_BIN overrides).
func binDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl) not found")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
