// Command nodes is the many-devices load over loopback HTTP against real
// joinedup server processes, in one run: one node on SQLite (the baseline),
// one node on Postgres and three nodes on one Postgres. DEVICES phones of
// one team each save a note and sync (push it, pull what the others saved),
// all at once, ROUNDS times; with three nodes each phone goes to the next
// node at every round, as behind a load balancer without sticky sessions.
// It prints syncs per second, p50 and p99 per configuration and the ratios
// to the SQLite node (2 cores shared by the phones, the nodes and Postgres:
// the ratios, not the absolute figures, are the result).
//
// Run it with bench/nodes/run.sh (make bench); it is not part of make test.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func main() {
	devices := flag.Int("devices", 30, "phones syncing at once")
	rounds := flag.Int("rounds", 20, "rounds: every phone saves and syncs once per round")
	bin := flag.String("bin", "", "joinedup binary (default: go build ./server/cmd/joinedup)")
	conns := flag.Int("db-max-conns", 8, "each Postgres node's pool size")
	which := flag.String("configs", "sqlite-1,postgres-1,postgres-3", "configurations to run (the first is the baseline)")
	flag.Parse()
	if err := run(*devices, *rounds, *bin, *conns, strings.Split(*which, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "nodes:", err)
		pgtest.Stop()
		os.Exit(1)
	}
	pgtest.Stop()
}

type result struct {
	name     string
	rate     float64
	p50, p99 time.Duration
	// Postgres only: the average number of this database's transactions
	// running, and of those waiting on the commit lock (sampled).
	active, waiting float64
}

func run(devices, rounds int, bin string, conns int, configs []string) error {
	dir, err := os.MkdirTemp("", "nodesbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "joinedup")
		cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", bin, "./server/cmd/joinedup")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	var cs []*config
	defer func() {
		for _, c := range cs {
			c.stop()
		}
	}()
	for i, name := range configs {
		c, err := setup(filepath.Join(dir, fmt.Sprint(i)), name, bin, devices, conns)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cs = append(cs, c)
	}
	// Rounds alternate between the configurations, so that whatever else
	// the machine is doing weighs on each alike; one warm-up round each
	// (connections, caches) is not measured.
	for round := -1; round < rounds; round++ {
		for _, c := range cs {
			if err := c.round(round); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	var results []result
	for _, c := range cs {
		slices.Sort(c.lat)
		r := result{name: c.name, rate: float64(len(c.lat)) / c.busy.Seconds(), p50: c.lat[len(c.lat)/2], p99: c.lat[len(c.lat)*99/100]}
		if c.samples > 0 {
			r.active, r.waiting = float64(c.active)/float64(c.samples), float64(c.waiting)/float64(c.samples)
		}
		results = append(results, r)
	}
	base := results[0]
	fmt.Printf("many devices over HTTP: %d phones of one team, %d rounds (save one note + sync each), real joinedup processes\n", devices, rounds)
	fmt.Printf("%-12s %10s %9s %9s %14s %22s\n", "config", "syncs/s", "p50", "p99", "vs "+base.name, "pg conns: busy/queued")
	var why []string
	for _, r := range results {
		locks := ""
		if r.active > 0 {
			locks = fmt.Sprintf("%.1f / %.1f", r.active, r.waiting)
			why = append(why, fmt.Sprintf("%s: %.0f%% of the busy connections queued on the commit lock", r.name, 100*r.waiting/r.active))
		}
		fmt.Printf("%-12s %10.1f %9s %9s %13.2fx %22s\n", r.name, r.rate, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.rate/base.rate, locks)
	}
	fmt.Printf("why: SQLite runs in the node's process; on Postgres each sync is some 30 statements, each a round trip to another process, "+
		"and every push takes its turn on one commit lock from its first append to its commit (it keeps pull cursors from passing a late commit: "+
		"docs/postgres.md) (%s); more nodes add concurrency, not CPU, on these shared cores, and the queue on that lock grows with them.\n",
		strings.Join(why, "; "))
	return nil
}

// config is one configuration under load: its nodes and phones.
type config struct {
	name                     string
	urls                     []string
	client                   *http.Client
	phones                   []*phone
	stops                    []func()
	lat                      []time.Duration
	busy                     time.Duration // time spent in measured rounds
	dbURL                    string        // Postgres: sampled for lock waits during rounds
	samples, active, waiting int
}

func (c *config) stop() {
	for _, s := range c.stops {
		s()
	}
}

// setup starts the configuration's nodes on a fresh store and enrols the phones.
func setup(dir, name, bin string, devices, conns int) (*config, error) {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var store interface {
		domain.Directory
		domain.DeviceStore
		Close() error
	}
	var nodeArgs []string
	var dbURL string
	nodes := 1
	switch name {
	case "sqlite-1":
		db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
		if err := db.Open(); err != nil {
			return nil, err
		}
		store = db
	case "postgres-1", "postgres-3":
		url, err := pgtest.Database(ctx)
		if err != nil {
			return nil, err
		}
		db := postgres.NewDB(url)
		if err := db.Open(ctx); err != nil {
			return nil, err
		}
		store = db
		nodeArgs = []string{"-store", "postgres", "-database-url", url, "-db-max-conns", fmt.Sprint(conns)}
		dbURL = url
		if name == "postgres-3" {
			nodes = 3
		}
	default:
		return nil, fmt.Errorf("unknown configuration (sqlite-1, postgres-1, postgres-3)")
	}
	// The team, and the phones' enrolment codes, before any node starts.
	var people []domain.Person
	var ids []string
	people = append(people, domain.Person{ID: "sup_a", Name: "S", Role: domain.RoleSupervisor, TeamID: "team_a", TZ: "Europe/London", Supervises: []string{"team_a"}})
	for i := range devices {
		id := fmt.Sprintf("w_%d", i)
		ids = append(ids, id)
		people = append(people, domain.Person{ID: id, Name: "W", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"})
	}
	err := store.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"})
	if err == nil {
		err = store.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"})
	}
	if err == nil {
		err = store.UpsertPeople(ctx, people)
	}
	var codes []string
	if err == nil {
		codes, err = store.IssueEnrolmentCodes(ctx, ids, "sup_a")
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	c := &config{name: name, dbURL: dbURL, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: devices, MaxConnsPerHost: devices}, Timeout: 2 * time.Minute}}
	for k := range nodes {
		data := dir // the SQLite node's file is the one seeded above
		if nodeArgs != nil {
			data = filepath.Join(dir, fmt.Sprintf("node%d", k))
		}
		stop, url, err := startNode(bin, data, nodeArgs)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.stops = append(c.stops, stop)
		c.urls = append(c.urls, url)
	}
	for i := range devices {
		p, err := enrolPhone(c.client, c.urls[i%len(c.urls)], codes[i])
		if err != nil {
			c.stop()
			return nil, err
		}
		c.phones = append(c.phones, p)
	}
	return c, nil
}

// round has every phone save and sync at once, each through the next node;
// rounds below 0 are not measured.
func (c *config) round(round int) error {
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	stopSampling := func() {}
	if c.dbURL != "" && round >= 0 {
		stopSampling = c.sample()
	}
	start := time.Now()
	for i, p := range c.phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := p.sync(c.client, c.urls[(i+round+1)%len(c.urls)], fmt.Sprintf("round %d", round))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if round >= 0 {
				c.lat = append(c.lat, d)
			}
		}()
	}
	wg.Wait()
	if round >= 0 {
		c.busy += time.Since(start)
	}
	stopSampling()
	return firstErr
}

// sample counts, every few milliseconds until stopped, the database's
// transactions running and those waiting on an advisory lock (the commit
// lock; the audit sealer's is taken by one backend at a time, off the sync
// path).
func (c *config) sample() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := pgx.Connect(ctx, c.dbURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			var active, waiting int
			if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state <> 'idle'),
				count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')
				FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&active, &waiting); err == nil {
				c.samples++
				c.active += active
				c.waiting += waiting
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

// startNode runs one joinedup process and waits until it is ready.
func startNode(bin, dataDir string, args []string) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-data", dataDir, "-demo=false", "-rate", "0", "-log-level", "warn", "-bcrypt-cost", "4"}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	url = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, url, nil
			}
		}
		select {
		case <-exited:
			return nil, "", fmt.Errorf("node exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", fmt.Errorf("node not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// phone is a device: its replica in memory, its credential and cursor.
type phone struct {
	cred   string
	rep    *syncengine.Replica
	cursor string
	id     syncengine.RecordID
	author string
}

func enrolPhone(c *http.Client, url, code string) (*phone, error) {
	resp, err := c.Post(url+"/v1/enrol", "application/json", strings.NewReader(`{"code":"`+code+`","platform":"sim"}`))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("enrol: %d %s", resp.StatusCode, b)
	}
	var e domain.Enrolment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	rep, err := benchkit.Replica(e.ReplicaID)
	if err != nil {
		return nil, err
	}
	return &phone{cred: e.Credential, rep: rep, author: e.PersonID}, nil
}

// sync saves one note (a new encounter, then edits to it) and syncs once:
// the push and one pull page, timed.
func (p *phone) sync(c *http.Client, url, note string) (time.Duration, error) {
	cs, err := p.rep.Edit(p.author, func(tx *syncengine.Txn) (err error) {
		if p.id == "" {
			if p.id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			for k, v := range map[string]any{"team_id": "team_a", "area": "by the skate ramp", "started_at": time.Now().Add(-time.Hour)} {
				if err := tx.Set(p.id, k, v); err != nil {
					return err
				}
			}
		}
		return tx.InsertText(p.id, "note", 0, note+" ")
	})
	if err != nil {
		return 0, err
	}
	body, _ := json.Marshal(protocol.Request{Cursor: p.cursor, PageBytes: 64 << 10,
		Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/sync", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.cred)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("sync: %d %s", resp.StatusCode, b)
	}
	var res protocol.Response
	if err := json.Unmarshal(b, &res); err != nil {
		return d, err
	}
	if len(res.Results) != 1 || res.Results[0].Status != protocol.StatusAccepted {
		return d, fmt.Errorf("push not accepted: %+v", res.Results)
	}
	p.cursor = res.Cursor
	return d, nil
}

func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
