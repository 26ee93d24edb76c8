// Command serverbench measures the sync server end to end over loopback
// HTTP (a real listener, a real SQLite file), each figure as a ratio to a
// baseline measured in the same run:
//
//   - week: a week of field work (fixtures.Week: ~2,000 encounters, 500
//     referrals, edits) pushed through POST /v1/sync in pages, then pulled
//     by a fresh device; baseline: the resulting rows bulk-inserted into
//     SQLite in one transaction. The push runs twice: once against a server
//     in a process of its own, whose CPU (/proc) is the server's alone, and
//     once in this process, counting client and server together.
//     With -store postgres, the push alone against a server process on a
//     throw-away Postgres cluster; baseline: the final rows COPYed into
//     Postgres, CPU counted in the cluster's processes too (pgweek.go).
//   - orgsize: one device's incremental pull with 0, 1k, 10k, 100k other-team
//     changesets since its cursor; baseline: the 0 case.
//   - firstsync: a fresh worker device's snapshot of teams of 2k, 20k, 60k
//     records; baseline: the smallest team's time per page. Then fieldsync
//     (also alone, -run fieldsync): a fresh phone's first sync after 1 week,
//     10 weeks and a year of a busy team's history, whole and as the field
//     subset: bytes and CPU; baseline: the 1-week figures.
//   - load: N devices (default 1,000) syncing at once, each doing a few
//     push+pull round trips with a small changeset; baseline: the same
//     number of GET /healthz requests through the same client pool.
//   - notecurve: one pushed keystroke to a note after 0, 100, 1k, 10k prior
//     edits typed from a real editing trace; baseline: the fresh note
//     (notecurve.go).
//   - openloop: syncs offered at fixed, rising rates by 1,000 devices of 20
//     teams to a server in its own process, until p99 reaches 250 ms; then
//     a burst of every device at once (openloop.go).
//
// Run it with bench/server/run.sh (make bench); it is not part of make test.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func main() {
	devices := flag.Int("devices", 1000, "simulated devices for the load benchmark")
	syncs := flag.Int("syncs", 3, "push+pull syncs per device")
	page := flag.Int("page", 200, "changesets per push request in the week benchmark")
	which := flag.String("run", "week,load,openloop,orgsize,firstsync,notecurve", "benchmarks to run")
	serveDir := flag.String("serve", "", "internal: serve the API over the database in this directory (the openloop server process)")
	servePG := flag.String("serve-pg", "", "internal: serve the API over the Postgres database at this URL (the week server process with -store postgres)")
	store := flag.String("store", "sqlite", "the store under the week benchmark: sqlite, or postgres (a throw-away cluster; only -run week)")
	olDevices := flag.Int("oldevices", 1000, "enrolled devices for the openloop benchmark")
	olTeams := flag.Int("olteams", 20, "teams of the openloop devices")
	pushFrac := flag.Float64("pushfrac", 0.5, "share of openloop syncs that push a changeset")
	olStep := flag.Duration("olstep", 5*time.Second, "time at each offered rate of the openloop ladder")
	olStart := flag.Int("olstart", 200, "first offered rate (syncs/s) of the openloop ladder; each next is 1.25x")
	olMax := flag.Int("olmax", 6000, "highest offered rate of the openloop ladder")
	weekForm := flag.String("weekform", "binary", "body form of the week push: binary (the SDK's envelope) or json (changesets in base64)")
	olForm := flag.String("olform", "binary", "body form of the openloop syncs: binary (the SDK's envelope) or json (changesets in base64)")
	teamSizes := flag.String("teamsizes", "2000,20000,60000", "team records for the firstsync curve (the first is the baseline)")
	orgSizes := flag.String("orgsizes", "0,1000,10000,100000", "other-team changesets for the orgsize curve (the first is the baseline)")
	histories := flag.String("histories", "1,10,52", "weeks of team history for the fieldsync curve (the first is the baseline)")
	fieldWeeks := flag.Int("fieldweeks", domain.DefaultFieldWeeks, "weeks of encounters a phone's first sync asks for in the fieldsync curve")
	fieldReps := flag.Int("fieldreps", 3, "fresh devices per point of the fieldsync curve (the median is reported)")
	orgReps := flag.Int("orgreps", 15, "pulls per point of the orgsize curve (the median is reported)")
	noteSizes := flag.String("notesizes", "0,100,1000,10000", "prior edits of the notes of the notecurve (the first is the baseline)")
	notePer := flag.Int("notepushes", 200, "pushes per note per run of the notecurve")
	noteRuns := flag.Int("noteruns", 3, "runs of the notecurve")
	noteCompact := flag.String("notecompact", "off", "whether the notecurve's server compacts the notes' text tombstones once set up (CompactText): off, on, or both (one curve each, same run)")
	noteTrace := flag.String("notetrace", "paper,churn", "what the notecurve types, comma-separated, one curve each: paper (the automerge-paper trace from ../shared/traces or syncengine/testdata), churn (random edits keeping the note near 200 characters), or a sequential trace file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	srvProf := flag.String("servercpuprofile", "", "write a CPU profile of the server process (openloop, notecurve, week) to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the run to this file at its end")
	srvMem := flag.String("servermemprofile", "", "write an allocation profile of the server process (openloop, notecurve, week) to this file")
	flag.Parse()
	serverProfile, serverMemProfile = *srvProf, *srvMem
	if *olForm != "binary" && *olForm != "json" {
		check(fmt.Errorf("-olform %q: want binary or json", *olForm))
	}
	olJSON = *olForm == "json"
	if *weekForm != "binary" && *weekForm != "json" {
		check(fmt.Errorf("-weekform %q: want binary or json", *weekForm))
	}
	weekJSON = *weekForm == "json"
	if *memprofile != "" {
		defer func() {
			f, err := os.Create(*memprofile)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *serveDir != "" {
		check(serve(*serveDir))
		return
	}
	if *servePG != "" {
		check(servePostgres(*servePG))
		return
	}
	if *store != "sqlite" && *store != "postgres" {
		check(fmt.Errorf("-store %q: sqlite or postgres", *store))
	}
	if *store == "postgres" {
		if *which != "week" {
			check(fmt.Errorf("-store postgres runs only the week benchmark (-run week)"))
		}
		check(pgWeek(*page))
		return
	}
	dir, err := os.MkdirTemp("", "serverbench")
	check(err)
	defer os.RemoveAll(dir)
	if bytes.Contains([]byte(*which), []byte("week")) {
		check(week(filepath.Join(dir, "week"), *page))
	}
	if bytes.Contains([]byte(*which), []byte("load")) {
		check(load(filepath.Join(dir, "load"), *devices, *syncs))
	}
	if bytes.Contains([]byte(*which), []byte("openloop")) {
		check(openloop(filepath.Join(dir, "openloop"), *olDevices, *olTeams, *pushFrac, *olStep, *olStart, *olMax))
	}
	if bytes.Contains([]byte(*which), []byte("orgsize")) {
		check(orgsize(filepath.Join(dir, "orgsize"), ints(*orgSizes), *orgReps))
	}
	if bytes.Contains([]byte(*which), []byte("notecurve")) {
		modes := map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}[*noteCompact]
		if modes == nil {
			check(fmt.Errorf("-notecompact %q: want off, on or both", *noteCompact))
		}
		for i, tr := range strings.Split(*noteTrace, ",") {
			for _, compact := range modes {
				check(notecurve(filepath.Join(dir, fmt.Sprintf("notecurve%d-%v", i, compact)), ints(*noteSizes), *notePer, *noteRuns, traceFile(tr), compact))
			}
		}
	}
	if bytes.Contains([]byte(*which), []byte("firstsync")) {
		check(firstsync(filepath.Join(dir, "firstsync"), ints(*teamSizes)))
		check(fieldsync(filepath.Join(dir, "fieldsync"), ints(*histories), *fieldWeeks, *fieldReps))
	} else if bytes.Contains([]byte(*which), []byte("fieldsync")) {
		check(fieldsync(filepath.Join(dir, "fieldsync"), ints(*histories), *fieldWeeks, *fieldReps))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "serverbench:", err)
		os.Exit(1)
	}
}

// server is the API on a loopback listener over a fresh SQLite file.
type server struct {
	db     *sqlite.DB
	api    *api.Server
	url    string
	served chan error
}

func startServer(dir string) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return nil, err
	}
	if n, err := strconv.Atoi(os.Getenv("SERVERBENCH_GROUP_MAX")); err == nil {
		db.GroupMax = n // 1: one transaction per sync, to measure group commit against
	}
	db.Rules = benchRules()
	s := &server{db: db, served: make(chan error, 1)}
	var err error
	if s.api, s.url, err = listenAPI(db, s.served); err != nil {
		return nil, err
	}
	return s, nil
}

// benchRules are the notification rules as production runs them
// (server/cmd/joinedup mountPush); nothing delivers what they enqueue.
func benchRules() domain.Rules {
	return notify.New(notify.Config{Planner: push.DefaultPlanner(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
}

// listenAPI serves the API over st on a loopback port until Shutdown,
// then sends Serve's error to served.
func listenAPI(st api.Store, served chan<- error) (*api.Server, string, error) {
	cfg := api.DefaultConfig()
	cfg.RateLimit = 0 // unlimited: the benchmark is the only client
	cfg.BodyLimit = 64 << 20
	a := api.New(st, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	a.NotFound()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go func() { served <- a.Serve(ln) }()
	return a, "http://" + ln.Addr().String(), nil
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.api.Shutdown(ctx)
	<-s.served
	s.db.Close()
}

// counting wraps a transport to count bytes on the wire (request and
// response bodies plus headers as HTTP/1.1 writes them, approximately).
type wire struct{ up, down atomic.Int64 }

func (w *wire) client(conns int) *http.Client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

type syncReply struct {
	protocol.Response
	bytesDown int
}

func doSync(c *http.Client, w *wire, url, cred string, req protocol.Request) (*syncReply, error) {
	up, down, err := postSync(c, url, cred, req)
	if w != nil {
		w.up.Add(int64(len(up)))
		w.down.Add(int64(len(down)))
	}
	if err != nil {
		return nil, err
	}
	var out syncReply
	if err := json.Unmarshal(down, &out.Response); err != nil {
		return nil, err
	}
	out.bytesDown = len(down)
	return &out, nil
}

// postSync is one POST /v1/sync as a phone sends it: the request's and the
// answer's bytes, and an error for anything but 200.
func postSync(c *http.Client, url, cred string, req protocol.Request) (up, down []byte, err error) {
	up, _ = json.Marshal(req)
	hr, _ := http.NewRequest("POST", url+"/v1/sync", bytes.NewReader(up))
	hr.Header.Set("Authorization", "Bearer "+cred)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(hr)
	if err != nil {
		return up, nil, err
	}
	defer resp.Body.Close()
	if down, err = io.ReadAll(resp.Body); err != nil {
		return up, down, err
	}
	if resp.StatusCode != 200 {
		return up, down, fmt.Errorf("sync: %d %s", resp.StatusCode, down)
	}
	return up, down, nil
}

func enrol(c *http.Client, url, code string) (domain.Enrolment, error) {
	var e domain.Enrolment
	resp, err := c.Post(url+"/v1/enrol", "application/json", bytes.NewReader([]byte(`{"code":"`+code+`","platform":"sim"}`)))
	if err != nil {
		return e, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		return e, fmt.Errorf("enrol: %d %s", resp.StatusCode, b)
	}
	return e, json.NewDecoder(resp.Body).Decode(&e)
}

// week: the fixtures' week, pushed over HTTP, pulled by a fresh device.
//
// The fixture history is written by the week's ~30 people, each through
// their own replica, and the server accepts a changeset only from the
// device holding its replica. So each person gets an enrolled device whose
// replica is the fixture's (set directly in the store), and the history is
// pushed in causal rounds: each request carries up to `page` changesets of
// one author.
func week(dir string, page int) error {
	ds := fixtures.Generate(fixtures.Week())
	h, err := ds.Changesets(1)
	if err != nil {
		return err
	}
	order, pages := weekPages(h.Changesets)

	// The server's own CPU first, in a process of its own (as production
	// runs it, with api.TuneRuntime), so the client's encoding and
	// decoding do not count; then the whole push in this one process.
	alone, err := weekInChild(filepath.Join(dir, "child"), ds.Org, order, pages, page, false)
	if err != nil {
		return err
	}
	// The same push with each round's pages sent at once, as the team's
	// phones would: concurrent syncs share transactions (group commit).
	team, err := weekInChild(filepath.Join(dir, "child-together"), ds.Org, order, pages, page, true)
	if err != nil {
		return err
	}

	s, err := startServer(dir)
	if err != nil {
		return err
	}
	defer s.close()
	c := (&wire{}).client(4)
	creds, err := weekDevices(context.Background(), s.db, sqliteReplica(s.db), ds.Org, func(code string) (domain.Enrolment, error) { return enrol(c, s.url, code) })
	if err != nil {
		return err
	}
	frameBytes := 0
	for _, cs := range h.Changesets {
		frameBytes += len(syncengine.EncodeChangeset(cs))
	}

	var w wire
	cpu0 := selfCPU()
	start := time.Now()
	requests, rounds, err := pushWeek(c, &w, s.url, creds, order, pages, page, false)
	if err != nil {
		return err
	}
	pushTime := time.Since(start)
	time.Sleep(settleWait)
	pushCPU := selfCPU() - cpu0
	pushUp, pushDown := w.up.Load(), w.down.Load()

	w = wire{}
	start = time.Now()
	cursor, pulls, items := "", 0, 0
	for {
		r, err := doSync(c, &w, s.url, creds["bench-admin"], protocol.Request{Cursor: cursor})
		if err != nil {
			return err
		}
		pulls++
		items += len(r.Changesets) + len(r.Snapshots)
		cursor = r.Cursor
		if !r.More {
			break
		}
	}
	pullTime := time.Since(start)
	pullDown := w.down.Load()

	// Baseline: the resulting rows, bulk-inserted in one transaction, the
	// median of bulkRuns inserts, each into a table of its own.
	recs := h.Store.Records()
	raw, err := sql.Open("sqlite3", filepath.Join(dir, "bulk.db")+"?_journal_mode=WAL&_foreign_keys=on")
	if err != nil {
		return err
	}
	defer raw.Close()
	var bulkTimes, bulkCPUs []time.Duration
	bulkBytes := 0
	for run := range bulkRuns {
		table := fmt.Sprintf("rows%d", run)
		if _, err := raw.Exec(`CREATE TABLE ` + table + ` (id TEXT PRIMARY KEY, type TEXT NOT NULL, body BLOB NOT NULL)`); err != nil {
			return err
		}
		cpu0 = selfCPU()
		start = time.Now()
		tx, err := raw.Begin()
		if err != nil {
			return err
		}
		bulkBytes = 0
		for _, r := range recs {
			v, _ := json.Marshal(r.Values())
			bulkBytes += len(v)
			if _, err := tx.Exec(`INSERT INTO `+table+` VALUES (?, ?, ?)`, string(r.ID), r.Type, v); err != nil {
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		bulkTimes = append(bulkTimes, time.Since(start))
		bulkCPUs = append(bulkCPUs, selfCPU()-cpu0)
	}
	bulkTime, bulkCPU := median(bulkTimes), median(bulkCPUs)
	floorCPU, err := floorInsert(raw, h.Changesets, recs)
	if err != nil {
		return err
	}
	reqs := weekRequests(order, pages, page)
	leanCPU, err := leanFloorInsert(raw, reqs, recs)
	if err != nil {
		return err
	}
	mergeCPU, err := mergeInMemory(reqs)
	if err != nil {
		return err
	}

	fmt.Printf("week: %d changesets (%d records: %s), %d KiB of JUC frames\n", len(h.Changesets), len(recs), countTypes(recs), frameBytes>>10)
	fmt.Printf("  push (%s bodies, push-only): %d requests in %d causal rounds (one page of <= %d changesets per author per round), %s, up %d KiB, down %d KiB\n",
		map[bool]string{false: "binary", true: "JSON"}[weekJSON], requests, rounds, page, pushTime.Round(time.Millisecond), pushUp>>10, pushDown>>10)
	fmt.Printf("  pull (fresh device, snapshots): %d requests, %d items, %s, down %d KiB\n", pulls, items, pullTime.Round(time.Millisecond), pullDown>>10)
	fmt.Printf("  baseline bulk insert of the %d final rows in one transaction: %s (%d KiB of JSON; median of %d)\n", len(recs), bulkTime.Round(time.Millisecond), bulkBytes>>10, bulkRuns)
	fmt.Printf("  CPU of this process (client and server): push %s = %.1fx the bulk insert's %s\n", pushCPU.Round(time.Millisecond), ratio(pushCPU, bulkCPU), bulkCPU.Round(time.Millisecond))
	fmt.Printf("  server process alone: push %s of server CPU = %.1fx the bulk insert (client process %s; wall %s)\n",
		alone.server.Round(time.Millisecond), ratio(alone.server, bulkCPU), alone.client.Round(time.Millisecond), alone.wall.Round(time.Millisecond))
	fmt.Printf("  floor: the same run's bulk insert of what an append-only log keeps (the %d frames, their record index, the %d final states): %s of CPU = %.1fx the bulk insert; the push is %.1fx this floor\n",
		len(h.Changesets), len(recs), floorCPU.Round(time.Millisecond), ratio(floorCPU, bulkCPU), ratio(alone.server, floorCPU))
	fmt.Printf("  lean floor: the same with one log row per request (its frames together) and each record indexed once per request: %s of CPU = %.1fx the bulk insert\n",
		leanCPU.Round(time.Millisecond), ratio(leanCPU, bulkCPU))
	fmt.Printf("  merge alone, in memory: the requests' frames decoded, each changeset applied to the records (syncengine.Apply, no policy, no storage), the final states encoded: %s of CPU = %.1fx the bulk insert; lean floor + merge = %.1fx, the least a push that merges and keeps a log can cost; the push is %.1fx this bound\n",
		mergeCPU.Round(time.Millisecond), ratio(mergeCPU, bulkCPU), ratio(leanCPU+mergeCPU, bulkCPU), ratio(alone.server, leanCPU+mergeCPU))
	fmt.Printf("  server process alone, each round's pages sent at once (the team's phones together): push %s of server CPU = %.1fx the bulk insert (wall %s)\n",
		team.server.Round(time.Millisecond), ratio(team.server, bulkCPU), team.wall.Round(time.Millisecond))
	fmt.Printf("  server process alone wrote %d KiB to storage (%d KiB with each round's pages at once); outbox rows by state: %v\n",
		alone.written>>10, team.written>>10, alone.outbox)
	fmt.Printf("  ratio: push %.1fx, pull %.1fx, push+pull %.1fx the bulk insert; wire bytes up %.2fx, down (pull) %.2fx the bulk JSON\n",
		ratio(pushTime, bulkTime), ratio(pullTime, bulkTime), ratio(pushTime+pullTime, bulkTime),
		float64(pushUp)/float64(bulkBytes), float64(pullDown)/float64(bulkBytes))
	return nil
}

// floorInsert bulk-inserts, in one transaction, the least a server keeping
// an append-only log must write for the week: each changeset's frame keyed
// by its log position and id, the index from records to the changesets
// that touched them (what an incremental pull reads), and each record's
// final state. It returns the median CPU of bulkRuns, each into tables of
// its own: the floor the push's ratio to the bulk insert cannot go below
// without giving up the log.
func floorInsert(raw *sql.DB, log []*syncengine.Changeset, recs []*syncengine.Record) (time.Duration, error) {
	return insertMedian(raw, []string{
		`CREATE TABLE floor_log%d (seq INTEGER PRIMARY KEY, replica TEXT NOT NULL, start INTEGER NOT NULL, frame BLOB NOT NULL, UNIQUE (replica, start))`,
		`CREATE TABLE floor_touched%d (record_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (record_id, seq)) WITHOUT ROWID`,
		`CREATE TABLE floor_records%d (id TEXT PRIMARY KEY, type TEXT NOT NULL, state BLOB NOT NULL)`,
	}, func(ins func(q string, args ...any)) {
		for i, cs := range log {
			ins(`INSERT INTO floor_log%d VALUES (?, ?, ?, ?)`, i+1, cs.Replica.String(), cs.Start, syncengine.EncodeChangeset(cs))
			for _, id := range cs.Records() {
				ins(`INSERT INTO floor_touched%d VALUES (?, ?)`, string(id), i+1)
			}
		}
		for _, r := range recs {
			ins(`INSERT INTO floor_records%d VALUES (?, ?, ?)`, string(r.ID), r.Type, syncengine.EncodeRecord(r))
		}
	})
}

// insertMedian creates the tables of ddls (each with a %d for the run) for
// each of bulkRuns runs, and returns the median CPU of fill's inserts in
// one transaction.
func insertMedian(raw *sql.DB, ddls []string, fill func(ins func(q string, args ...any))) (time.Duration, error) {
	var cpus []time.Duration
	for run := range bulkRuns {
		for _, ddl := range ddls {
			if _, err := raw.Exec(fmt.Sprintf(ddl, run)); err != nil {
				return 0, err
			}
		}
		cpu0 := selfCPU()
		tx, err := raw.Begin()
		if err != nil {
			return 0, err
		}
		fill(func(q string, args ...any) {
			if err == nil {
				_, err = tx.Exec(fmt.Sprintf(q, run), args...)
			}
		})
		if err != nil {
			tx.Rollback()
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		cpus = append(cpus, selfCPU()-cpu0)
	}
	return median(cpus), nil
}

// weekRequests is the week push's requests as pushWeek sends them: each
// author's page of a round, in at most page changesets.
func weekRequests(order []key, pages map[key][]*syncengine.Changeset, page int) [][]*syncengine.Changeset {
	var reqs [][]*syncengine.Changeset
	for _, k := range order {
		for css := pages[k]; len(css) > 0; css = css[min(page, len(css)):] {
			reqs = append(reqs, css[:min(page, len(css))])
		}
	}
	return reqs
}

// leanFloorInsert is floorInsert for a log that keeps each request's frames
// in one row, and indexes a record once per request that touched it: what
// "append the request's changesets to the log in one write" would store.
func leanFloorInsert(raw *sql.DB, reqs [][]*syncengine.Changeset, recs []*syncengine.Record) (time.Duration, error) {
	return insertMedian(raw, []string{
		`CREATE TABLE lean_log%d (seq INTEGER PRIMARY KEY, frames BLOB NOT NULL)`,
		`CREATE TABLE lean_touched%d (record_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (record_id, seq)) WITHOUT ROWID`,
		`CREATE TABLE lean_records%d (id TEXT PRIMARY KEY, type TEXT NOT NULL, state BLOB NOT NULL)`,
	}, func(ins func(q string, args ...any)) {
		for i, req := range reqs {
			ins(`INSERT INTO lean_log%d VALUES (?, ?)`, i+1, syncengine.EncodeChangesets(req))
			seen := map[syncengine.RecordID]bool{}
			for _, cs := range req {
				for _, id := range cs.Records() {
					if !seen[id] {
						seen[id] = true
						ins(`INSERT INTO lean_touched%d VALUES (?, ?)`, string(id), i+1)
					}
				}
			}
		}
		for _, r := range recs {
			ins(`INSERT INTO lean_records%d VALUES (?, ?, ?)`, string(r.ID), r.Type, syncengine.EncodeRecord(r))
		}
	})
}

// mergeInMemory is the CRDT work of the week push with nothing else: each
// request's frames decoded as the server receives them, every changeset
// applied in push order to records held in a map, and each final state
// encoded once for storage. No HTTP, authentication, policy, rules, audit
// or SQL. Added to a floor, it bounds from below what a push can cost if it
// merges what it accepts and keeps the log phones pull. It returns the
// median CPU of bulkRuns.
func mergeInMemory(reqs [][]*syncengine.Changeset) (time.Duration, error) {
	bodies := make([][]byte, len(reqs))
	for i, req := range reqs {
		bodies[i] = syncengine.EncodeChangesets(req)
	}
	var cpus []time.Duration
	for range bulkRuns {
		cpu0 := selfCPU()
		st := syncengine.NewMemStore()
		for _, b := range bodies {
			css, err := syncengine.DecodeChangesets(b)
			if err != nil {
				return 0, err
			}
			for _, cs := range css {
				res, err := syncengine.Apply(cs, st.Record)
				if err != nil {
					return 0, err
				}
				if res.Status != syncengine.Applied {
					return 0, fmt.Errorf("merge: changeset %s/%d: status %v", cs.Replica, cs.Start, res.Status)
				}
				st.Commit(cs, res.Records)
			}
		}
		for _, r := range st.Records() {
			_ = syncengine.EncodeRecord(r)
		}
		cpus = append(cpus, selfCPU()-cpu0)
	}
	return median(cpus), nil
}

// key names one request of the week push: one author's page of a
// causal round.
type key struct {
	round  int
	author string
}

// weekPages groups the history into rounds: a changeset joins the earliest
// round after every other author's earlier changeset on its records (and
// not before its author's previous one), so each round is one page per
// author and every page's causal context is on the server when it lands.
func weekPages(history []*syncengine.Changeset) ([]key, map[key][]*syncengine.Changeset) {
	pages := map[key][]*syncengine.Changeset{}
	var order []key
	lastRound, lastAuthor, authorRound := map[syncengine.RecordID]int{}, map[syncengine.RecordID]string{}, map[string]int{}
	for _, cs := range history {
		r := authorRound[cs.Author]
		for _, d := range cs.Deps {
			if lr, ok := lastRound[d.Record]; ok {
				need := lr
				if lastAuthor[d.Record] != cs.Author {
					need++
				}
				r = max(r, need)
			}
		}
		for _, d := range cs.Deps {
			lastRound[d.Record], lastAuthor[d.Record] = r, cs.Author
		}
		authorRound[cs.Author] = r
		k := key{r, cs.Author}
		if _, ok := pages[k]; !ok {
			order = append(order, k)
		}
		pages[k] = append(pages[k], cs)
	}
	slices.SortStableFunc(order, func(a, b key) int { return a.round - b.round })
	return order, pages
}

// benchStore is what seeding a benchmark's organisation needs of a store.
type benchStore interface {
	domain.Directory
	domain.DeviceStore
}

// weekDevices enrols one device per person of the organisation (and the
// bench admin) and gives each person's device the fixture replica that
// wrote their history (setReplica: the store's own SQL). It returns the
// credentials by person.
func weekDevices(ctx context.Context, db benchStore, setReplica func(deviceID, replica string) error, org fixtures.Org, enrolFn func(code string) (domain.Enrolment, error)) (map[string]string, error) {
	if err := loadOrg(ctx, db, org); err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range org.People {
		ids = append(ids, p.ID)
	}
	ids = append(ids, "bench-admin")
	codes, err := db.IssueEnrolmentCodes(ctx, ids, "bench-admin")
	if err != nil {
		return nil, err
	}
	creds := map[string]string{}
	for i, id := range ids {
		e, err := enrolFn(codes[i])
		if err != nil {
			return nil, err
		}
		if id != "bench-admin" {
			if err := setReplica(e.DeviceID, fixtures.ReplicaFor(id).String()); err != nil {
				return nil, err
			}
		}
		creds[id] = e.Credential
	}
	return creds, nil
}

// sqliteReplica sets a device's replica id in a SQLite store.
func sqliteReplica(db *sqlite.DB) func(deviceID, replica string) error {
	return func(deviceID, replica string) error {
		_, err := db.SQL().Exec(`UPDATE devices SET replica_id = ? WHERE id = ?`, replica, deviceID)
		return err
	}
}

// weekJSON: the week is pushed in JSON bodies (changesets in base64)
// instead of the binary envelope the SDK uses.
var weekJSON bool

// pushWeek sends the pages in round order, each request up to page
// changesets, and fails unless every changeset is accepted. together sends
// each round's pages the way the team's phones would, all at once (one
// goroutine per author, rounds still in order, since a round's pages
// depend only on earlier rounds); otherwise one request at a time.
func pushWeek(c *http.Client, w *wire, url string, creds map[string]string, order []key, pages map[key][]*syncengine.Changeset, page int, together bool) (requests, rounds int, err error) {
	var n atomic.Int64
	send := func(k key) error {
		css := pages[k]
		for len(css) > 0 {
			m := min(page, len(css))
			// Push-only, as a phone sends all but the last batch of a
			// backlog (mobile-sdk roundTrip).
			req := protocol.Request{NoPull: true}
			frames := make([][]byte, 0, m)
			for _, cs := range css[:m] {
				frames = append(frames, syncengine.EncodeChangeset(cs))
			}
			css = css[m:]
			var results []protocol.PushResult
			if weekJSON {
				for _, f := range frames {
					req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(f))
				}
				r, err := doSync(c, w, url, creds[k.author], req)
				if err != nil {
					return err
				}
				results = r.Results
			} else {
				r, err := doSyncBinaryCounted(c, w, url, creds[k.author], req, frames)
				if err != nil {
					return err
				}
				results = r.Results
			}
			for _, res := range results {
				if res.Status != protocol.StatusAccepted {
					return fmt.Errorf("push: %+v", res)
				}
			}
			n.Add(1)
		}
		return nil
	}
	for i := 0; i < len(order); {
		round := order[i].round
		rounds = max(rounds, round+1)
		j := i
		for j < len(order) && order[j].round == round {
			j++
		}
		if !together {
			for _, k := range order[i:j] {
				if err := send(k); err != nil {
					return int(n.Load()), rounds, err
				}
			}
			i = j
			continue
		}
		errs := make([]error, j-i)
		var wg sync.WaitGroup
		for x, k := range order[i:j] {
			wg.Add(1)
			go func() { defer wg.Done(); errs[x] = send(k) }()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return int(n.Load()), rounds, err
		}
		i = j
	}
	return int(n.Load()), rounds, nil
}

type childPush struct {
	server, client, wall time.Duration
	written              int64          // bytes the server process wrote to storage (/proc/<pid>/io write_bytes)
	outbox               map[string]int // push_outbox rows by state once the push is done
}

// settleWait is how long the week's push waits before its CPU is read: a
// server may write the last push-only syncs' records in the background, up
// to a second later (server/sqlite/behind.go), and that work is the
// push's. The wall time is read before it.
const settleWait = 1500 * time.Millisecond

// weekInChild seeds a database at dir with the organisation and its devices,
// starts the server over it as its own process and pushes the week to it,
// reading the server's CPU from /proc.
func weekInChild(dir string, org fixtures.Org, order []key, pages map[key][]*syncengine.Changeset, page int, together bool) (childPush, error) {
	var out childPush
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, err
	}
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return out, err
	}
	ctx := context.Background()
	creds, err := weekDevices(ctx, db, sqliteReplica(db), org, func(code string) (domain.Enrolment, error) { return db.Enrol(ctx, code, "sim") })
	if err != nil {
		db.Close()
		return out, err
	}
	if err := db.Close(); err != nil {
		return out, err
	}
	srv, err := startChild(dir)
	if err != nil {
		return out, err
	}
	defer srv.stop()
	c := (&wire{}).client(len(creds))
	s0, err := srv.cpu()
	if err != nil {
		return out, err
	}
	w0, err := srv.written()
	if err != nil {
		return out, err
	}
	c0, start := selfCPU(), time.Now()
	if _, _, err := pushWeek(c, nil, srv.url, creds, order, pages, page, together); err != nil {
		return out, err
	}
	out.wall = time.Since(start)
	time.Sleep(settleWait)
	out.client = selfCPU() - c0
	s1, err := srv.cpu()
	if err != nil {
		return out, err
	}
	out.server = s1 - s0
	w1, err := srv.written()
	if err != nil {
		return out, err
	}
	out.written = w1 - w0
	if err := srv.stop(); err != nil {
		return out, err
	}
	out.outbox, err = outboxStates(filepath.Join(dir, "joinedup.db"))
	return out, err
}

// outboxStates counts the outbox rows of the database at path by state.
func outboxStates(path string) (map[string]int, error) {
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		return nil, err
	}
	n, err := db.Outbox().Counts(context.Background())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// ints parses a comma-separated list of numbers.
func ints(list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		out = append(out, n)
	}
	return out
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func countTypes(recs []*syncengine.Record) string {
	n := map[string]int{}
	for _, r := range recs {
		n[r.Type]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d %s", n[k], k)
	}
	return out
}

// loadOrg writes the fixture organisation (and an admin) into the store.
func loadOrg(ctx context.Context, db domain.Directory, o fixtures.Org) error {
	for _, a := range o.Areas {
		if err := db.UpsertArea(ctx, domain.Area{ID: a.ID, Name: a.Name}); err != nil {
			return err
		}
	}
	for _, t := range o.Teams {
		if err := db.UpsertTeam(ctx, domain.Team{ID: t.ID, AreaID: t.AreaID, Name: t.Name}); err != nil {
			return err
		}
	}
	for _, s := range o.Services {
		hours, _ := json.Marshal(s.Hours)
		if err := db.UpsertService(ctx, domain.Service{ID: s.ID, Name: s.Name, Kind: s.Kind, Contact: s.Contact, Pathway: s.Pathway,
			Hours: hours, SharedFields: s.SharedFields}); err != nil {
			return err
		}
	}
	ps := []domain.Person{{ID: "bench-admin", Name: "Bench Admin", Role: domain.RoleAdmin}}
	for _, p := range o.People {
		person := domain.Person{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role, TeamID: p.TeamID, ServiceID: p.ServiceID}
		if p.Role == domain.RoleSupervisor && p.TeamID != "" {
			person.Supervises = []string{p.TeamID}
		}
		ps = append(ps, person)
	}
	return db.UpsertPeople(ctx, ps)
}

// load: n devices of 50 teams, all syncing at once.
func load(dir string, n, syncsEach int) error {
	s, err := startServer(dir)
	if err != nil {
		return err
	}
	defer s.close()
	ctx := context.Background()
	const teams = 50
	start := time.Now()
	ids, err := seedTeams(ctx, s.db, n, teams)
	if err != nil {
		return err
	}
	codes, err := s.db.IssueEnrolmentCodes(ctx, ids, "bench-admin")
	if err != nil {
		return err
	}
	c := (&wire{}).client(n)
	type device struct {
		person, team string
		e            domain.Enrolment
		rep          *syncengine.Replica
		cursor       string
	}
	devs := make([]*device, n)
	err = parallel(n, 64, func(i int) error {
		e, err := enrol(c, s.url, codes[i])
		if err != nil {
			return err
		}
		rep, err := benchkit.Replica(e.ReplicaID)
		if err != nil {
			return err
		}
		devs[i] = &device{person: ids[i], team: e.TeamID, e: e, rep: rep}
		return nil
	})
	if err != nil {
		return err
	}
	enrolTime := time.Since(start)

	// Warm-up: every device's first (snapshot) pull, not measured.
	run := func(fn func(d *device) error) (time.Duration, []time.Duration, int) {
		var lat latencies
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for _, d := range devs {
			wg.Add(1)
			go func(d *device) {
				defer wg.Done()
				<-gate
				for k := 0; k < syncsEach; k++ {
					t0 := time.Now()
					lat.done(fn(d), t0)
				}
			}(d)
		}
		t0 := time.Now()
		close(gate)
		wg.Wait()
		return time.Since(t0), lat.d, int(lat.failed.Load())
	}
	for _, d := range devs {
		r, err := doSync(c, nil, s.url, d.e.Credential, protocol.Request{})
		if err != nil {
			return err
		}
		d.cursor = r.Cursor
	}

	var w wire
	syncOnce := func(d *device) error {
		cs, err := d.rep.Edit(d.person, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			tx.Set(id, "team_id", d.team)
			tx.Set(id, "area", "bus station")
			tx.Set(id, "started_at", time.Now().Add(-time.Hour))
			return tx.InsertText(id, "note", 0, "Talked about college applications; follow up next week.")
		})
		if err != nil {
			return err
		}
		r, err := doSync(c, &w, s.url, d.e.Credential, protocol.Request{Cursor: d.cursor,
			Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
		if err != nil {
			return err
		}
		if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
			return fmt.Errorf("push: %+v", r.Results)
		}
		d.cursor = r.Cursor // pulled changesets are not applied: the phone side is not measured
		return nil
	}
	syncWall, syncLat, syncErrs := run(syncOnce)
	health := func(d *device) error {
		resp, err := c.Get(s.url + "/healthz")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz: %d", resp.StatusCode)
		}
		return nil
	}
	hWall, hLat, hErrs := run(health)

	total := n * syncsEach
	sp50, sp99 := pct(syncLat, 50), pct(syncLat, 99)
	hp50, hp99 := pct(hLat, 50), pct(hLat, 99)
	fmt.Printf("load: %d devices in %d teams enrolled over HTTP in %s (codes issued in one transaction)\n", n, teams, enrolTime.Round(time.Millisecond))
	fmt.Printf("  sync (push 1 new encounter + pull the team's news), %d at once x %d each: %d syncs in %s = %.0f syncs/s, p50 %s, p99 %s, errors %d; avg up %d B, down %d B\n",
		n, syncsEach, total, syncWall.Round(time.Millisecond), float64(total-syncErrs)/syncWall.Seconds(), sp50, sp99, syncErrs,
		w.up.Load()/int64(total), w.down.Load()/int64(total))
	fmt.Printf("  baseline GET /healthz, same pool and concurrency: %d requests in %s = %.0f req/s, p50 %s, p99 %s, errors %d\n",
		total, hWall.Round(time.Millisecond), float64(total-hErrs)/hWall.Seconds(), hp50, hp99, hErrs)
	fmt.Printf("  ratio: throughput %.3fx healthz, p50 %.1fx, p99 %.1fx\n",
		(float64(total-syncErrs)/syncWall.Seconds())/(float64(total-hErrs)/hWall.Seconds()), ratio(sp50, hp50), ratio(sp99, hp99))
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(10 * time.Microsecond)
}

// selfCPU is this process's user+system CPU time so far: on a shared
// machine it moves less than wall time does with other processes' load.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
