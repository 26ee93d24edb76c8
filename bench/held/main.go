// Command held measures what held changesets (refused for a missing
// dependency, kept to be retried) cost an unrelated push. Two servers run
// side by side over loopback HTTP, each on its own SQLite file: the
// baseline with no held changesets, the other with -held of them (spread
// over devices within the per-device bound). The same 1-op push is sent to
// each in turn, alternating, so that load from anything else on the machine
// falls on both alike; it prints both medians and their ratio (the target
// is at most 1.5). Then one device floods the second server with a request
// of 20,000 changesets that all wait for something it does not have.
//
// Run it with bench/held/run.sh (make bench); it is not part of make test.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func main() {
	held := flag.Int("held", 20000, "held changesets present on the second server")
	pushes := flag.Int("pushes", 60, "unrelated pushes timed on each server")
	flood := flag.Int("flood", 20000, "changesets in the flood request (0: no flood)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "heldbench")
	check(err)
	defer os.RemoveAll(dir)
	check(run(dir, *held, *pushes, *flood))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "held:", err)
		os.Exit(1)
	}
}

type phone struct {
	dev    domain.Device
	person domain.Person
	cred   string
	rep    *syncengine.Replica
}

// server is one API over its own database, with the device whose pushes are timed.
type server struct {
	db     *sqlite.DB
	api    *api.Server
	url    string
	client *http.Client
	u      *phone
	rec    syncengine.RecordID
	n      int
}

func start(ctx context.Context, path string) (*server, error) {
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		return nil, err
	}
	if err := db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}); err != nil {
		return nil, err
	}
	if err := db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}); err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	cfg.RateLimit = 0
	s := &server{db: db, api: api.New(db, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))), client: &http.Client{Timeout: time.Minute}}
	s.api.NotFound()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go s.api.Serve(ln)
	s.url = "http://" + ln.Addr().String()
	if s.u, err = s.newPhone(ctx, "unrelated"); err != nil {
		return nil, err
	}
	first, err := s.u.rep.Edit(s.u.person.ID, func(tx *syncengine.Txn) (err error) {
		s.rec, err = newEncounter(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	_, err = s.push(s.u, first)
	return s, err
}

func (s *server) close() {
	s.api.Shutdown(context.Background())
	s.db.Close()
}

func (s *server) newPhone(ctx context.Context, id string) (*phone, error) {
	p := domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: "team_a"}
	if err := s.db.UpsertPerson(ctx, p); err != nil {
		return nil, err
	}
	code, _, err := s.db.IssueEnrolmentCode(ctx, id, "bench")
	if err != nil {
		return nil, err
	}
	e, err := s.db.Enrol(ctx, code, "sim")
	if err != nil {
		return nil, err
	}
	dev, err := s.db.Device(ctx, e.DeviceID)
	if err != nil {
		return nil, err
	}
	rep, err := benchkit.Replica(e.ReplicaID)
	if err != nil {
		return nil, err
	}
	return &phone{dev: dev, person: p, cred: e.Credential, rep: rep}, nil
}

// heldChangesets makes n saves of p that each depend on an earlier save
// never sent: pushed, every one is held.
func heldChangesets(p *phone, n int) ([]*syncengine.Changeset, error) {
	var out []*syncengine.Changeset
	for range n {
		var id syncengine.RecordID
		if _, err := p.rep.Edit(p.person.ID, func(tx *syncengine.Txn) (err error) { id, err = newEncounter(tx); return err }); err != nil {
			return nil, err
		}
		cs, err := p.rep.Edit(p.person.ID, func(tx *syncengine.Txn) error { return tx.Set(id, "concern_level", "high") })
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

// hold fills the server with n held changesets, per device up to its bound.
func (s *server) hold(ctx context.Context, n int) error {
	for d := 0; n > 0; d++ {
		p, err := s.newPhone(ctx, fmt.Sprintf("w%03d", d))
		if err != nil {
			return err
		}
		batch, err := heldChangesets(p, min(n, s.db.HeldMaxCount))
		if err != nil {
			return err
		}
		n -= len(batch)
		for len(batch) > 0 {
			k := min(len(batch), 500)
			res, err := s.db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: batch[:k], NoPull: true})
			if err != nil {
				return err
			}
			if res.Quarantined != k {
				return fmt.Errorf("expected %d held, got %d", k, res.Quarantined)
			}
			batch = batch[k:]
		}
	}
	return nil
}

// unrelated times one 1-op push by the unrelated device.
func (s *server) unrelated() (time.Duration, error) {
	s.n++
	cs, err := s.u.rep.Edit(s.u.person.ID, func(tx *syncengine.Txn) error { return tx.Set(s.rec, "area", fmt.Sprintf("spot %d", s.n)) })
	if err != nil {
		return 0, err
	}
	return s.push(s.u, cs)
}

// push sends one changeset (and pulls nothing) and returns how long it took.
func (s *server) push(p *phone, cs *syncengine.Changeset) (time.Duration, error) {
	body, _ := json.Marshal(protocol.Request{NoPull: true, Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
	req, _ := http.NewRequest("POST", s.url+"/v1/sync", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.cred)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	var out protocol.Response
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || len(out.Results) != 1 || out.Results[0].Status != protocol.StatusAccepted {
		return 0, fmt.Errorf("push: %d %s", resp.StatusCode, b)
	}
	return d, nil
}

// compare pushes to a and b in turn and returns both medians.
func compare(a, b *server, n int) (ma, mb time.Duration, err error) {
	var da, db []time.Duration
	for range n {
		x, err := a.unrelated()
		if err != nil {
			return 0, 0, err
		}
		y, err := b.unrelated()
		if err != nil {
			return 0, 0, err
		}
		da, db = append(da, x), append(db, y)
	}
	slices.Sort(da)
	slices.Sort(db)
	return da[n/2], db[n/2], nil
}

func run(dir string, nHeld, pushes, nFlood int) error {
	ctx := context.Background()
	base, err := start(ctx, filepath.Join(dir, "base.db"))
	if err != nil {
		return err
	}
	defer base.close()
	heavy, err := start(ctx, filepath.Join(dir, "held.db"))
	if err != nil {
		return err
	}
	defer heavy.close()
	t0 := time.Now()
	if err := heavy.hold(ctx, nHeld); err != nil {
		return err
	}
	setup := time.Since(t0)
	open, err := heavy.db.QuarantineSize(ctx)
	if err != nil {
		return err
	}
	// Fold the bulk load's WAL into both files first: its checkpoint is
	// the setup's cost, not the held changesets'.
	for _, s := range []*server{base, heavy} {
		if _, err := s.db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return err
		}
	}
	if _, _, err := compare(base, heavy, 10); err != nil { // warm up
		return err
	}
	mb, mh, err := compare(base, heavy, pushes)
	if err != nil {
		return err
	}
	fmt.Printf("held: %d held changesets on the second server (made in %s)\n", open, setup.Round(time.Millisecond))
	fmt.Printf("held: unrelated 1-op push, median of %d alternating: %s with none, %s with %d held: ratio %.2f (target <= 1.5)\n",
		pushes, mb.Round(time.Microsecond), mh.Round(time.Microsecond), open, float64(mh)/float64(mb))
	if nFlood == 0 {
		return nil
	}
	p, err := heavy.newPhone(ctx, "flood")
	if err != nil {
		return err
	}
	flood, err := heldChangesets(p, nFlood)
	if err != nil {
		return err
	}
	t0 = time.Now()
	res, err := heavy.db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: flood, NoPull: true})
	if err != nil {
		return err
	}
	took := time.Since(t0)
	refused := 0
	for _, r := range res.Results {
		if r.Status == protocol.StatusRefused {
			refused++
		}
	}
	mb, mh, err = compare(base, heavy, pushes)
	if err != nil {
		return err
	}
	fmt.Printf("held: a flood of %d held changesets in one request took %s: %d kept, %d refused (%s); then an unrelated push: ratio %.2f\n",
		nFlood, took.Round(time.Millisecond), res.Quarantined, refused, domain.EHELDLIMIT, float64(mh)/float64(mb))
	return nil
}

func newEncounter(tx *syncengine.Txn) (syncengine.RecordID, error) {
	id, err := tx.Create(syncengine.TypeEncounter)
	if err != nil {
		return id, err
	}
	for k, v := range map[string]any{"team_id": "team_a", "area": "by the ramp", "started_at": time.Now().Add(-time.Hour)} {
		if err := tx.Set(id, k, v); err != nil {
			return id, err
		}
	}
	return id, nil
}
