package mobilesdk

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/mobile-sdk/internal/faultproxy"
	"github.com/joinedup/joinedup/syncengine"
	"golang.org/x/sys/unix"
)

// The fault-injection suite: simulated phones (in-process clients, some with
// clocks three days fast or slow, and fieldsim processes that are SIGKILLed
// mid-save and mid-sync) work against the real server binary through the
// fault proxy, which cuts connections mid-request and mid-response, resets
// them after N bytes, adds latency and limits bandwidth, while the server is
// SIGKILLed during pushes and pulls and its disk fills up (a file-size
// limit). At the end every save that returned is on the server exactly once
// and on every phone of its team, and every phone of a team holds
// byte-identical records. Errors without a clear code are counted.
//
// `make test` runs a short version; `make chaos` the soak (20 phones for 20
// minutes; CHAOS_DURATION and CHAOS_PHONES change it), printing the counts
// and the server's memory, goroutines and open files over time.
var (
	chaosPhones   = flag.Int("chaos.phones", 6, "simulated phones in TestChaos (a third of them fieldsim processes, at least one)")
	chaosDuration = flag.Duration("chaos.duration", 20*time.Second, "how long TestChaos injects faults")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "TestChaos seed (0: from the clock; printed)")
)

func TestChaos(t *testing.T) {
	shared := startServer(t) // the binaries and the demo organisation
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos: %d phones for %s, seed %d (rerun with -chaos.seed)", *chaosPhones, *chaosDuration, seed)
	r := newChaosRun(t, shared, seed)
	r.run(*chaosPhones, *chaosDuration)
	r.settle()
	r.verify()
}

// chaosServer is the server binary on a fixed port and data directory,
// which the run SIGKILLs and restarts.
type chaosServer struct {
	bin, dataDir string
	port         int
	args         []string // more flags
	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan struct{}
	logs         *bytes.Buffer
}

func (s *chaosServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, append([]string{"-bcrypt-cost", "4", "-rate", "0", "-log-level", "warn"}, s.args...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", s.port), "DATA_DIR="+s.dataDir, "METRICS_TOKEN="+chaosMetricsToken)
	s.logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, &lockedWriter{w: s.logs}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.port))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not start: %v\n%s", err, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM, as an operator does.
func (s *chaosServer) stop(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	must(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("the server did not stop on SIGTERM\n%s", s.logs)
	}
	s.cmd = nil
}

func (s *chaosServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
		s.cmd = nil
	}
}

func (s *chaosServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// limitFileSize sets the running server's RLIMIT_FSIZE (0: none): writes
// past it fail with EFBIG, as on a full disk.
func (s *chaosServer) limitFileSize(n uint64) error {
	pid := s.pid()
	if pid == 0 {
		return errors.New("server not running")
	}
	lim := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if n > 0 {
		lim.Cur = n
	}
	return unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil)
}

// chaosMetricsToken opens the server's /metrics to the sampler.
const chaosMetricsToken = "chaos-metrics-token"

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// chaosPhone is one simulated phone: in-process (c) or a fieldsim state
// directory (dir) driven as a subprocess.
type chaosPhone struct {
	name   string
	person fixtures.Person
	skew   time.Duration
	c      *Client
	dir    string
	saved  []string // markers of saves that returned (or that fieldsim printed)
}

type chaosRun struct {
	t      *testing.T
	shared *testServer
	rng    *rand.Rand
	rngMu  sync.Mutex
	srv    *chaosServer
	proxy  *faultproxy.Proxy
	phones []*chaosPhone
	tag    string

	inFlight atomic.Int64 // in-process syncs under way

	mu      sync.Mutex
	errs    map[string]int // sync errors by code
	unclear []string       // errors without a clear code (first few)
	nUnclear,
	syncs, serverKills, killsMidSync, phoneKills, diskFull int
	samples []string
}

func newChaosRun(t *testing.T, shared *testServer, seed uint64, serverArgs ...string) *chaosRun {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &chaosRun{t: t, shared: shared, rng: rand.New(rand.NewPCG(seed, 42)), errs: map[string]int{},
		srv: &chaosServer{bin: shared.bin, dataDir: filepath.Join(t.TempDir(), "data"), port: port, args: serverArgs},
		tag: fmt.Sprintf("cx%x", seed&0xffffff)}
	must(t, r.srv.start())
	t.Cleanup(r.srv.kill)
	r.proxy, err = faultproxy.New(fmt.Sprintf("127.0.0.1:%d", port), seed)
	must(t, err)
	t.Cleanup(func() { r.proxy.Close() })
	return r
}

func (r *chaosRun) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

func (r *chaosRun) url() string { return r.proxy.URL() }

// direct is the server without the proxy (for the supervisor's admin calls).
func (r *chaosRun) direct() *testServer {
	return &testServer{url: fmt.Sprintf("http://127.0.0.1:%d", r.srv.port), dataDir: r.srv.dataDir, demo: r.shared.demo}
}

func (r *chaosRun) noteErr(err error) {
	if err == nil {
		return
	}
	code := ErrorCode(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[code]++
	if code == syncengine.EINTERNAL || code == "" {
		r.nUnclear++
		if len(r.unclear) < 5 {
			r.unclear = append(r.unclear, err.Error())
		}
	}
}

// enrol makes the phones: people of the three demo teams in turn; every
// third phone is a fieldsim process, the others alternate between a true
// clock and one three days fast or slow.
func (r *chaosRun) enrol(n int) {
	t := r.t
	d := r.direct()
	for i := 0; i < n; i++ {
		team := i % 3
		sup := d.person(t, team, "supervisor", 0)
		w := d.person(t, team, "worker", (i/3)%4)
		p := &chaosPhone{name: fmt.Sprintf("p%02d", i), person: w}
		if i%3 == 2 {
			p.dir = t.TempDir()
			out, err := exec.Command(r.shared.fieldsim, "-dir", p.dir, "enrol", "-server", r.url(), "-code", d.code(t, sup, w)).CombinedOutput()
			if err != nil {
				t.Fatalf("fieldsim enrol: %v\n%s", err, out)
			}
		} else {
			p.skew = []time.Duration{0, 72 * time.Hour, -72 * time.Hour}[(i/3)%3]
			skew := p.skew
			c, err := open(t.TempDir(), testKey, "sim", options{now: func() time.Time { return time.Now().Add(skew) }})
			must(t, err)
			t.Cleanup(func() { c.Close() })
			c.SetRequestTimeout(10_000)
			if _, err := c.Enrol(r.url(), d.code(t, sup, w)); err != nil {
				t.Fatalf("enrol %s: %v", p.name, err)
			}
			p.c = c
		}
		r.phones = append(r.phones, p)
	}
}

func (r *chaosRun) run(n int, d time.Duration) {
	r.enrol(n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range r.phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.c != nil {
				r.drivePhone(p, stop)
			} else {
				r.driveFieldsim(p, stop)
			}
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); r.faults(stop, d) }()
	go func() { defer wg.Done(); r.sample(stop, max(d/12, 2*time.Second)) }()
	time.Sleep(d)
	close(stop)
	wg.Wait()
}

// drivePhone saves (new encounters and edits to the team's notes, each with
// a unique marker) and syncs, until stop.
func (r *chaosRun) drivePhone(p *chaosPhone, stop chan struct{}) {
	var ids []string
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		marker := fmt.Sprintf("%s-%s-%d", r.tag, p.name, n)
		var err error
		if len(ids) > 0 && r.intn(3) == 0 {
			err = p.c.InsertText(ids[r.intn(len(ids))], "note", 0, "cx "+marker+" end. ")
		} else {
			var id string
			if id, err = p.c.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":"cx %s end."}`, marker)); err == nil {
				ids = append(ids, id)
			}
		}
		if err != nil {
			r.t.Errorf("%s: save failed: %v", p.name, err)
			return
		}
		p.saved = append(p.saved, marker)
		if r.intn(2) == 0 {
			r.inFlight.Add(1)
			_, err := p.c.SyncNow()
			r.inFlight.Add(-1)
			r.noteErr(err)
			r.mu.Lock()
			r.syncs++
			r.mu.Unlock()
		}
		time.Sleep(time.Duration(20+r.intn(200)) * time.Millisecond)
	}
}

var chaosSaved = regexp.MustCompile(`^saved (\S+) \S+$`)

// driveFieldsim runs bursts of saves and syncs in a fieldsim process, and
// SIGKILLs most of them at a random moment: mid-save, with a push in flight,
// while a page is stored or applied.
func (r *chaosRun) driveFieldsim(p *chaosPhone, stop chan struct{}) {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return
		default:
		}
		tag := fmt.Sprintf("%s-%s-r%d", r.tag, p.name, round)
		cmd := exec.Command(r.shared.fieldsim, "-dir", p.dir, "burst", "-n", strconv.Itoa(1+r.intn(6)), "-tag", tag, "-sync", "-timeout", "10s", "-page-bytes", "4096")
		out, err := cmd.StdoutPipe()
		must(r.t, err)
		must(r.t, cmd.Start())
		timer := time.AfterFunc(time.Hour, func() {})
		if r.intn(3) != 0 {
			timer = time.AfterFunc(time.Duration(r.intn(400))*time.Millisecond, func() { cmd.Process.Kill() })
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := chaosSaved.FindStringSubmatch(sc.Text()); m != nil {
				// fieldsim's burst notes read "kill test note <marker> end".
				p.saved = append(p.saved, m[1])
			}
		}
		err = cmd.Wait()
		timer.Stop()
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			r.mu.Lock()
			r.phoneKills++
			r.mu.Unlock()
		}
		time.Sleep(time.Duration(50+r.intn(300)) * time.Millisecond)
	}
}

// faults changes the network's faults every few hundred milliseconds, and
// every few seconds SIGKILLs the server or fills its disk for a moment. The
// server is SIGKILLed only in the first half: in the second one process
// lives on, so its memory, goroutines and open files over time show a leak.
func (r *chaosRun) faults(stop chan struct{}, d time.Duration) {
	t := r.t
	next := time.Now().Add(3 * time.Second)
	noKillsAfter := time.Now().Add(d / 2)
	for {
		select {
		case <-stop:
			r.proxy.Set(faultproxy.Faults{})
			return
		case <-time.After(time.Duration(200+r.intn(600)) * time.Millisecond):
		}
		f := faultproxy.Faults{CutWindow: 16 << 10}
		switch r.intn(6) {
		case 0: // a good moment
		case 1:
			f.CutRequest, f.CutResponse = 0.2, 0.2
		case 2:
			f.Latency = time.Duration(20+r.intn(200)) * time.Millisecond
		case 3:
			f.BytesPerSecond = 20_000 + r.intn(200_000)
		case 4:
			f.ResetAfter = int64(1000 + r.intn(30_000))
		case 5:
			r.proxy.CutAll()
		}
		r.proxy.Set(f)
		if time.Now().Before(next) {
			continue
		}
		next = time.Now().Add(time.Duration(2000+r.intn(4000)) * time.Millisecond)
		if r.intn(4) == 0 || time.Now().After(noKillsAfter) {
			// A full disk: no file of the server's may grow for a while.
			if err := r.srv.limitFileSize(1); err == nil {
				r.mu.Lock()
				r.diskFull++
				r.mu.Unlock()
				time.Sleep(time.Duration(500+r.intn(1500)) * time.Millisecond)
				r.srv.limitFileSize(0)
			}
			continue
		}
		midSync := r.inFlight.Load() > 0
		r.srv.kill()
		r.mu.Lock()
		r.serverKills++
		if midSync {
			r.killsMidSync++
		}
		r.mu.Unlock()
		time.Sleep(time.Duration(r.intn(500)) * time.Millisecond)
		if err := r.srv.start(); err != nil {
			t.Errorf("restart after SIGKILL: %v", err)
			return
		}
	}
}

// sample records the server's resident memory, open files and goroutines.
func (r *chaosRun) sample(stop chan struct{}, every time.Duration) {
	start := time.Now()
	for {
		r.mu.Lock()
		r.samples = append(r.samples, fmt.Sprintf("%6.0fs  %s  syncs %d, server kills %d, phone kills %d, disk full %d, proxy %+v",
			time.Since(start).Seconds(), r.serverResources(), r.syncs, r.serverKills, r.phoneKills, r.diskFull, r.proxy.Stats()))
		r.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

func (r *chaosRun) serverResources() string {
	pid := r.srv.pid()
	if pid == 0 {
		return "server down"
	}
	rss := "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				rss = strings.TrimSpace(v)
			}
		}
	}
	fds := "?"
	if es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		fds = strconv.Itoa(len(es))
	}
	gor := "?"
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", r.srv.port), nil)
	req.Header.Set("Authorization", "Bearer "+chaosMetricsToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := regexp.MustCompile(`(?m)^go_goroutines (\d+)`).FindSubmatch(b); m != nil {
			gor = string(m[1])
		}
	}
	return fmt.Sprintf("pid %d rss %s, open files %s, goroutines %s", pid, rss, fds, gor)
}

// settle brings the server back for good and syncs every phone until its
// queue is empty, twice round so that everyone has everyone's saves.
func (r *chaosRun) settle() {
	t := r.t
	r.srv.limitFileSize(0)
	r.proxy.Set(faultproxy.Faults{})
	if r.srv.pid() == 0 {
		must(t, r.srv.start())
	}
	for pass := 0; pass < 3; pass++ {
		for _, p := range r.phones {
			deadline := time.Now().Add(90 * time.Second)
			for {
				err := r.syncPhone(p)
				if err == nil {
					break
				}
				r.noteErr(err)
				if time.Now().After(deadline) {
					t.Fatalf("%s does not sync after the faults stopped: %v\n%s", p.name, err, r.srv.logs)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}

func (r *chaosRun) syncPhone(p *chaosPhone) error {
	if p.c != nil {
		_, err := p.c.SyncNow()
		return err
	}
	out, err := exec.Command(r.shared.fieldsim, "-dir", p.dir, "sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("fieldsim sync: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// records returns a phone's record states (a fieldsim phone's, read from its
// directory with its key).
func (r *chaosRun) records(p *chaosPhone) (map[string][]byte, statusT) {
	t := r.t
	c := p.c
	if c == nil {
		key, err := os.ReadFile(filepath.Join(p.dir, "keystore.key"))
		must(t, err)
		c, err = open(p.dir, key, "sim", options{})
		must(t, err)
		defer c.Close()
	}
	return phoneRecords(t, c), status(t, c)
}

var chaosMarker = regexp.MustCompile(`(?:cx|kill test note) (cx[0-9a-f]+-p\d+-\S+?) end`)

func (r *chaosRun) verify() {
	t := r.t
	d := r.direct()
	var tally saveTally
	notConverged := 0
	teams := map[string][]*chaosPhone{}
	for _, p := range r.phones {
		teams[p.person.TeamID] = append(teams[p.person.TeamID], p)
	}
	var problems []string
	for team, phones := range teams {
		server := d.serverRecords(t, team)
		count := markerCounts(t, server, chaosMarker)
		for _, p := range phones {
			problems = append(problems, tally.check(p.name, p.saved, count)...)
			recs, st := r.records(p)
			if st.PendingChangesets != 0 || len(st.Quarantined) != 0 || !sameMaps(recs, server) {
				notConverged++
				problems = append(problems, fmt.Sprintf("%s: not converged with the server (%d vs %d records, pending %d, quarantined %d)",
					p.name, len(recs), len(server), st.PendingChangesets, len(st.Quarantined)))
			}
		}
	}
	report := []string{"chaos: resources over time (server process):"}
	report = append(report, r.samples...)
	report = append(report,
		fmt.Sprintf("chaos: saves %d, lost %d, doubled %d, phones not converged %d of %d", tally.saved, tally.lost, tally.doubled, notConverged, len(r.phones)),
		fmt.Sprintf("chaos: syncs %d, server SIGKILLs %d (%d with a sync under way), phone SIGKILLs %d, disk-full spells %d, proxy %+v",
			r.syncs, r.serverKills, r.killsMidSync, r.phoneKills, r.diskFull, r.proxy.Stats()),
		fmt.Sprintf("chaos: sync errors by code: %s; unclear (no clear code) %d %q", errorCodes(r.errs), r.nUnclear, r.unclear))
	for _, l := range report {
		t.Log(l)
	}
	tally.verdict(t, "chaos", problems)
	if r.nUnclear > 0 {
		t.Errorf("%d errors had no clear code (a worker sees \"internal error\"), e.g. %q", r.nUnclear, r.unclear)
	}
}

// markerCounts counts, in a team's server records, each save's marker (re's
// first group) in the note.
func markerCounts(tb testing.TB, server map[string][]byte, re *regexp.Regexp) map[string]int {
	tb.Helper()
	count := map[string]int{}
	for _, b := range server {
		rec, err := syncengine.DecodeRecord(b)
		must(tb, err)
		for _, m := range re.FindAllStringSubmatch(rec.String("note"), -1) {
			count[m[1]]++
		}
	}
	return count
}

// saveTally adds up saves checked against the server: each must be there
// exactly once.
type saveTally struct{ saved, lost, doubled int }

// verdict fails the run named run on its problems (the first 20 of them),
// or when it made no save and so proves nothing.
func (s *saveTally) verdict(t testing.TB, run string, problems []string) {
	t.Helper()
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... %d more", len(problems)-20))
		}
		t.Fatalf("%s found:\n  %s", run, strings.Join(problems, "\n  "))
	}
	if s.saved == 0 {
		t.Fatal("no save was made: the run proves nothing")
	}
}

// errorCodes lists sync errors by code, "code n", sorted by code.
func errorCodes(errs map[string]int) string {
	var codes []string
	for c, n := range errs {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	return strings.Join(codes, ", ")
}

// check returns a problem for each of phone's saves not on the server
// exactly once.
func (s *saveTally) check(phone string, saved []string, count map[string]int) []string {
	var problems []string
	for _, m := range saved {
		s.saved++
		switch n := count[m]; {
		case n == 0:
			s.lost++
			problems = append(problems, fmt.Sprintf("%s: save %s is not on the server", phone, m))
		case n > 1:
			s.doubled++
			problems = append(problems, fmt.Sprintf("%s: save %s is on the server %d times", phone, m, n))
		}
	}
	return problems
}

func sameMaps(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// A damaged b-tree page of the changeset log: the server starts, but says it
// is not ready (503 with a clear code, for the load balancer and the
// container's health check), and a phone's save is refused with a clear
// error, never taken into a damaged database nor answered "internal". The
// documented recovery, `joinedup restore` from the last backup, then loses
// nothing: the phones re-send what the backup lacks, every save is on the
// server exactly once and every phone of a team matches it.
func TestChaosCorruptPageMakesServerUnready(t *testing.T) {
	shared := startServer(t)
	r := newChaosRun(t, shared, 1)
	r.enrol(4) // p00 and p03 share a team; p02 is a fieldsim phone
	saveAll := func(n int) {
		t.Helper()
		for _, p := range r.phones {
			if p.c == nil {
				continue
			}
			for i := 0; i < n; i++ {
				marker := fmt.Sprintf("%s-%s-%d", r.tag, p.name, len(p.saved))
				mustS(t)(p.c.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":"cx %s end, with enough words to fill the page"}`, marker)))
				p.saved = append(p.saved, marker)
			}
			syncOK(t, p.c)
		}
	}
	saveAll(100) // enough history for the log to span pages
	backup := filepath.Join(t.TempDir(), "backup.db")
	if out, err := exec.Command(r.srv.bin, "-data", r.srv.dataDir, "-backup", backup).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	saveAll(50) // acknowledged, then lost with the damaged database

	// Stop cleanly (the WAL is checkpointed into the file), then zero the
	// changeset log's root page.
	r.srv.stop(t)
	path := filepath.Join(r.srv.dataDir, "joinedup.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	must(t, err)
	var pageSize, root int64
	must(t, db.QueryRow(`PRAGMA page_size`).Scan(&pageSize))
	must(t, db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'changesets'`).Scan(&root))
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(make([]byte, pageSize), (root-1)*pageSize)
	must(t, err)
	must(t, f.Close())

	must(t, r.srv.start())
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", r.srv.port))
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb apiError
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &eb) != nil || eb.Code == "" || eb.Code == syncengine.EINTERNAL {
		t.Fatalf("/readyz on a damaged database: %d %s; want 503 with a clear code", resp.StatusCode, body)
	}
	p := r.phones[0]
	marker := fmt.Sprintf("%s-%s-%d", r.tag, p.name, len(p.saved))
	mustS(t)(p.c.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":"cx %s end, after the damage"}`, marker)))
	p.saved = append(p.saved, marker)
	_, err = p.c.SyncNow()
	if err == nil || ErrorCode(err) == syncengine.EINTERNAL || ErrorCode(err) == ENETWORK {
		t.Fatalf("sync against a damaged database: %v; want a clear refusal", err)
	}
	if st := status(t, p.c); st.PendingChangesets != 1 {
		t.Fatalf("the save after the damage: pending %d, want 1 (kept on the phone)", st.PendingChangesets)
	}
	t.Logf("damaged: readyz %d %s; sync %s", resp.StatusCode, eb.Code, ErrorCode(err))

	// Recovery: restore the last backup with the one command.
	r.srv.stop(t)
	if out, err := exec.Command(r.srv.bin, "restore", "-data", r.srv.dataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("joinedup restore: %v\n%s", err, out)
	}
	must(t, r.srv.start())
	r.settle()
	r.verify()
}
