package main

// openloop: an open-loop load generator. Requests are issued at a fixed
// rate whatever the server's answers do (a closed loop of N clients slows
// down with the server and hides its queueing), and each latency is counted
// from the moment the request was due, not from when it was sent, so a
// stalled server cannot hide its backlog (coordinated omission).
//
// The server runs as a separate process (this program re-run with -serve),
// so its CPU per sync is read from /proc/<pid>/stat apart from the
// generator's own. 1,000 devices of 20 teams are enrolled over HTTP; each
// sync pushes one prepared changeset (a new encounter, or an edit of the
// device's earlier one) with probability -pushfrac and pulls the team's news
// since the device's cursor. Rates climb by 1.25x until p99 reaches 250 ms
// at two rates in a row.
//
// Baselines measured in the same run: an idle server's GET /healthz round
// trip (latency ratios) and one raw SQLite single-row write transaction in
// WAL mode on the same disk (CPU per sync ratio).

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// serve is the child process: the API over the database at dir until stdin
// closes. It prints its URL on the first line of stdout.
func serve(dir string) error {
	api.TuneRuntime() // as server/cmd/joinedup does
	s, err := startServer(dir)
	if err != nil {
		return err
	}
	return untilStdinCloses(s.url, func() error { s.close(); return nil })
}

// untilStdinCloses is a server process's life once it listens: its URL on
// stdout's first line, then serving until the parent closes stdin, then
// stop.
func untilStdinCloses(url string, stop func() error) error {
	fmt.Println(url)
	io.Copy(io.Discard, os.Stdin)
	return stop()
}

// serverProfile and serverMemProfile, if set, are where the server process
// writes its CPU and allocation profiles.
var serverProfile, serverMemProfile string

// child is the server process seen from the generator.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

func startChild(dir string) (*child, error) { return startChildArgs("-serve", dir) }

// startChildArgs runs this program again with args (a -serve flag) as the
// server process.
func startChildArgs(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if serverProfile != "" {
		args = append(args, "-cpuprofile", serverProfile)
	}
	if serverMemProfile != "" {
		args = append(args, "-memprofile", serverMemProfile)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("server process: %w", err)
	}
	return &child{cmd: cmd, stdin: stdin, url: strings.TrimSpace(line)}, nil
}

func (c *child) stop() error {
	c.stdin.Close()
	return c.cmd.Wait()
}

// cpu is the process's user+system CPU time so far (/proc/<pid>/stat).
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based), in clock ticks of 1/100 s on Linux.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// written is the bytes the process has caused to be written to storage
// so far (/proc/<pid>/io write_bytes: WAL, database and checkpoints).
func (c *child) written() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no write_bytes in /proc/%d/io", c.cmd.Process.Pid)
}

type olDevice struct {
	cred   string
	cursor atomic.Value // string
	dir    atomic.Value // string: the service directory version held, as a phone sends it
	roster atomic.Value // string: the team roster version held, as a phone (mobile-sdk/sync.go) sends it
	busy   atomic.Bool
	next   atomic.Int64 // index of the next prepared changeset
	pushes [][]byte     // prepared changesets
}

func openloop(dir string, n, teams int, pushFrac float64, step time.Duration, startRate, maxRate int) error {
	srv, ids, codes, err := seededChild(dir, n, teams)
	if err != nil {
		return err
	}
	defer srv.stop()

	c := (&wire{}).client(4 * n)
	devs := make([]*olDevice, n)
	// Enough prepared pushes per device for the whole ladder.
	const perDev = 96
	err = parallel(n, 32, func(i int) (err error) {
		devs[i], err = prepareDevice(c, srv.url, codes[i], ids[i], perDev)
		return err
	})
	if err != nil {
		return err
	}
	// First (snapshot) pull of every device, not measured.
	for _, d := range devs {
		r, err := doSync(c, nil, srv.url, d.cred, protocol.Request{})
		if err != nil {
			return err
		}
		d.cursor.Store(r.Cursor)
		d.dir.Store("")
		d.roster.Store("")
		if r.Directory != nil {
			d.dir.Store(r.Directory.Version)
		}
		if r.Roster != nil {
			d.roster.Store(r.Roster.Version)
		}
	}

	// Baselines: the idle server's round trip, and one raw SQLite write.
	idle, err := idleRoundTrip(c, srv.url, 200)
	if err != nil {
		return err
	}
	rawWrite, err := rawSQLiteWrite(filepath.Join(dir, "raw.db"), 300)
	if err != nil {
		return err
	}
	form := "binary bodies, as the SDK sends"
	if olJSON {
		form = "JSON bodies (-olform json)"
	}
	fmt.Printf("openloop: %d devices of %d teams, server in its own process (pid %d); each sync pushes one changeset with probability %.2f and pulls the team's news; %s\n",
		n, teams, srv.cmd.Process.Pid, pushFrac, form)
	if g := os.Getenv("SERVERBENCH_GROUP_MAX"); g != "" {
		fmt.Printf("  group commit: at most %s syncs per transaction (SERVERBENCH_GROUP_MAX)\n", g)
	}
	fmt.Printf("  machine: %d CPUs, load average %s (other processes share them: latency tails follow)\n", runtime.NumCPU(), loadavg())
	fmt.Printf("  baselines (same run): idle GET /healthz round trip p50 %s; raw SQLite one-row write transaction (WAL, synchronous=NORMAL) %s\n",
		idle, rawWrite)

	syncOnce := func(d *olDevice, push bool) error {
		req := protocol.Request{Cursor: d.cursor.Load().(string), DirectoryVersion: d.dir.Load().(string),
			RosterVersion: d.roster.Load().(string)}
		var frames [][]byte
		if push {
			k := d.next.Add(1) - 1
			if int(k) < len(d.pushes) {
				frames = [][]byte{d.pushes[k]}
			}
		}
		var r *slimReply
		var err error
		if olJSON {
			for _, f := range frames {
				req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(f))
			}
			r, err = doSyncSlim(c, srv.url, d.cred, req)
		} else {
			r, err = doSyncBinary(c, srv.url, d.cred, req, frames)
		}
		if err != nil {
			return err
		}
		for _, res := range r.Results {
			if res.Status != protocol.StatusAccepted {
				return fmt.Errorf("push: %+v", res)
			}
		}
		d.cursor.Store(r.Cursor)
		d.held(r)
		return nil
	}

	best, misses := 0, 0
	var bestLine string
	pick := 0
	// One rate over the line may be a stall of the shared machine: the
	// ladder stops after two in a row and reports the highest rate that held.
	for rate := startRate; rate <= maxRate && misses < 2; rate = rate * 5 / 4 {
		cpu0, err := srv.cpu()
		if err != nil {
			return err
		}
		gen0 := selfCPU()
		lat, failed, skipped, wall := runRate(rate, step, func(seq int) func() error {
			// The next free device, round robin: a phone never has two
			// syncs in flight.
			for tries := 0; tries < len(devs); tries++ {
				d := devs[pick%len(devs)]
				pick++
				if d.busy.CompareAndSwap(false, true) {
					push := float64(seq%100) < pushFrac*100
					return func() error {
						defer d.busy.Store(false)
						return syncOnce(d, push)
					}
				}
			}
			return nil
		})
		cpu1, err := srv.cpu()
		if err != nil {
			return err
		}
		gen := selfCPU() - gen0
		done := len(lat)
		perSync, genSync := time.Duration(0), time.Duration(0)
		if done > 0 {
			perSync = (cpu1 - cpu0) / time.Duration(done)
			genSync = gen / time.Duration(done)
		}
		p50, p99 := pct(lat, 50), pct(lat, 99)
		ok := failed == 0 && skipped == 0 && p99 < 250*time.Millisecond
		// The generator's own CPU and the machine's load show whether a
		// missed rate is the server's doing or the machine's.
		line := fmt.Sprintf("  %5d syncs/s offered: %5.0f/s served, p50 %s (%.1fx idle), p99 %s (%.1fx idle), server CPU %s/sync (%.1fx a raw SQLite write), generator CPU %s/sync, load %s, errors %d, no free device %d",
			rate, float64(done)/wall.Seconds(), p50, ratio(p50, idle), p99, ratio(p99, idle), perSync.Round(time.Microsecond), ratio(perSync, rawWrite),
			genSync.Round(time.Microsecond), loadavg(), failed, skipped)
		fmt.Println(line)
		if !ok {
			misses++
			continue
		}
		misses = 0
		best, bestLine = rate, line
	}
	if best == 0 {
		fmt.Printf("  highest rate with p99 < 250 ms: none of the rates tried (from %d/s)\n", startRate)
	} else {
		fmt.Printf("  highest rate with p99 < 250 ms: %d syncs/s (goal >= 1500)\n%s\n", best, bestLine)
	}

	// Burst: every device syncs at once (a push each); time until all served.
	var wg sync.WaitGroup
	start := time.Now()
	var fails atomic.Int64
	for _, d := range devs {
		wg.Add(1)
		go func(d *olDevice) {
			defer wg.Done()
			if err := syncOnce(d, true); err != nil {
				fails.Add(1)
			}
		}(d)
	}
	wg.Wait()
	burst := time.Since(start)
	start = time.Now()
	for range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := c.Get(srv.url + "/healthz"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	hburst := time.Since(start)
	fmt.Printf("  burst: %d devices syncing at once all served in %s (%.1fx the same burst of GET /healthz, %s; %.0fx an idle round trip), errors %d\n",
		n, burst.Round(time.Millisecond), ratio(burst, hburst), hburst.Round(time.Millisecond), ratio(burst, idle), fails.Load())
	return nil
}

// runRate issues requests at rate per second for d. next returns the
// request to send (nil: none could be started, counted as skipped). It
// returns the latencies, counted from when each request was due.
func runRate(rate int, d time.Duration, next func(seq int) func() error) (lat []time.Duration, failed, skipped int, wall time.Duration) {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var l latencies
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		fn := next(i)
		if fn == nil {
			skipped++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.done(fn(), due)
		}()
	}
	wg.Wait()
	return l.d, int(l.failed.Load()), skipped, time.Since(start)
}

// latencies collects how long successful requests took; the first error is
// shown, the rest counted.
type latencies struct {
	mu     sync.Mutex
	d      []time.Duration
	failed atomic.Int64
}

func (l *latencies) done(err error, since time.Time) {
	if err != nil {
		if l.failed.Add(1) == 1 {
			fmt.Fprintln(os.Stderr, "serverbench: first error:", err)
		}
		return
	}
	d := time.Since(since)
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// seedTeams writes an area, teams of workers and an admin; it returns the
// workers' ids.
func seedTeams(ctx context.Context, db *sqlite.DB, n, teams int) ([]string, error) {
	if err := db.UpsertArea(ctx, domain.Area{ID: "area", Name: "Area"}); err != nil {
		return nil, err
	}
	for t := 0; t < teams; t++ {
		if err := db.UpsertTeam(ctx, domain.Team{ID: fmt.Sprintf("team%02d", t), AreaID: "area", Name: fmt.Sprintf("Team %d", t)}); err != nil {
			return nil, err
		}
	}
	ps := []domain.Person{{ID: "bench-admin", Name: "Bench Admin", Role: domain.RoleAdmin}}
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("w%04d", i)
		ps = append(ps, domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: fmt.Sprintf("team%02d", i%teams)})
		ids = append(ids, id)
	}
	return ids, db.UpsertPeople(ctx, ps)
}

// prepareDevice enrols a device and prepares its pushes: a new encounter,
// then edits of it (a note added to, a field changed) and now and then
// another new encounter, as a worker's evening goes.
func prepareDevice(c *http.Client, url, code, person string, k int) (*olDevice, error) {
	e, err := enrol(c, url, code)
	if err != nil {
		return nil, err
	}
	rep, err := benchkit.Replica(e.ReplicaID)
	if err != nil {
		return nil, err
	}
	d := &olDevice{cred: e.Credential}
	var cur syncengine.RecordID
	for i := 0; i < k; i++ {
		cs, err := rep.Edit(person, func(tx *syncengine.Txn) error {
			if i%4 == 0 {
				id, err := tx.Create(syncengine.TypeEncounter)
				if err != nil {
					return err
				}
				cur = id
				tx.Set(id, "team_id", e.TeamID)
				tx.Set(id, "area", "bus station")
				tx.Set(id, "started_at", time.Now().Add(-time.Hour))
				return tx.InsertText(id, "note", 0, "Talked about college applications; follow up next week.")
			}
			if i%4 == 2 {
				return tx.Set(cur, "area", "park")
			}
			return tx.InsertText(cur, "note", 0, "Later: ")
		})
		if err != nil {
			return nil, err
		}
		d.pushes = append(d.pushes, syncengine.EncodeChangeset(cs))
	}
	return d, nil
}

func idleRoundTrip(c *http.Client, url string, n int) (time.Duration, error) {
	var lat []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		resp, err := c.Get(url + "/healthz")
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
	}
	return pct(lat, 50), nil
}

// rawSQLiteWrite is the median time of one single-row INSERT transaction in
// a fresh WAL database with the store's durability settings.
func rawSQLiteWrite(path string, n int) (time.Duration, error) {
	raw, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
		return 0, err
	}
	body := bytes.Repeat([]byte("x"), 400)
	var lat []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		tx, err := raw.Begin()
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`INSERT INTO rows (body) VALUES (?)`, body); err != nil {
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	return pct(lat, 50), nil
}

// parallel runs fn(0..n-1) with at most limit at a time; the first error
// is returned.
func parallel(n, limit int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := 0; i < n; i++ {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

// loadavg is /proc/loadavg's 1-minute figure.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// slimReply is the part of a sync answer the generator acts on: it does not
// apply what it pulls, so decoding the changesets would only spend the
// CPU it shares with the server.
type slimReply struct {
	Results   []protocol.PushResult `json:"results"`
	Cursor    string                `json:"cursor"`
	Directory *struct {
		Version string `json:"version"`
	} `json:"directory"`
	Roster *struct {
		Version string `json:"version"`
	} `json:"roster"`
}

// held keeps the directory and roster versions a reply sent, so the next
// sync asks for them again only when they change, as a phone does: a
// generator that never sends them makes the server build and send the
// team's roster on every sync.
func (d *olDevice) held(r *slimReply) {
	if r.Directory != nil {
		d.dir.Store(r.Directory.Version)
	}
	if r.Roster != nil {
		d.roster.Store(r.Roster.Version)
	}
}

// olJSON: the openloop devices sync with JSON bodies (changesets in
// base64) instead of the binary envelope the SDK uses (mobile-sdk/sync.go).
var olJSON bool

// doSyncBinary is one sync in the binary envelope, as a phone makes it:
// the request header, then the pushed changesets as frames.
func doSyncBinary(c *http.Client, url, cred string, req protocol.Request, frames [][]byte) (*slimReply, error) {
	return doSyncBinaryCounted(c, nil, url, cred, req, frames)
}

// doSyncBinaryCounted is doSyncBinary counting the bodies' bytes on w
// (nil: not counted).
func doSyncBinaryCounted(c *http.Client, w *wire, url, cred string, req protocol.Request, frames [][]byte) (*slimReply, error) {
	body, err := protocol.Encode(req, frames)
	if err != nil {
		return nil, err
	}
	if w != nil {
		w.up.Add(int64(len(body)))
	}
	hr, _ := http.NewRequest("POST", url+"/v1/sync", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+cred)
	hr.Header.Set("Content-Type", protocol.ContentType)
	resp, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if w != nil {
		w.down.Add(int64(len(b)))
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("sync: %d %s", resp.StatusCode, b)
	}
	var hdr protocol.Response
	if _, err := protocol.Decode(b, &hdr, 2); err != nil {
		return nil, err
	}
	out := &slimReply{Results: hdr.Results, Cursor: hdr.Cursor}
	if hdr.Directory != nil {
		out.Directory = &struct {
			Version string `json:"version"`
		}{hdr.Directory.Version}
	}
	if hdr.Roster != nil {
		out.Roster = &struct {
			Version string `json:"version"`
		}{hdr.Roster.Version}
	}
	return out, nil
}

func doSyncSlim(c *http.Client, url, cred string, req protocol.Request) (*slimReply, error) {
	_, b, err := postSync(c, url, cred, req)
	if err != nil {
		return nil, err
	}
	var out slimReply
	return &out, json.Unmarshal(b, &out)
}
