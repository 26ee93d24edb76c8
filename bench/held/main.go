// Command held measures what held changesets (refused for a missing
// dependency, kept to be retried) cost an unrelated push: the same 1-op
// push over loopback HTTP against a real SQLite file, first with no held
// changesets (the baseline, measured in the same run), then with -held of
// them present, spread over devices within the per-device bound. It prints
// both medians and their ratio (the target is at most 1.5).
//
// Run it with bench/held/run.sh (make bench); it is not part of make test.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
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

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func main() {
	held := flag.Int("held", 20000, "held changesets present in the second measurement")
	pushes := flag.Int("pushes", 30, "unrelated pushes timed in each measurement")
	flag.Parse()
	dir, err := os.MkdirTemp("", "heldbench")
	check(err)
	defer os.RemoveAll(dir)
	check(run(dir, *held, *pushes))
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

func run(dir string, nHeld, pushes int) error {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	if err := db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}); err != nil {
		return err
	}
	if err := db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}); err != nil {
		return err
	}
	perDevice := db.HeldMaxCount
	devices := (nHeld + perDevice - 1) / perDevice
	newPhone := func(id string) (*phone, error) {
		p := domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: "team_a"}
		if err := db.UpsertPerson(ctx, p); err != nil {
			return nil, err
		}
		code, _, err := db.IssueEnrolmentCode(ctx, id, "bench")
		if err != nil {
			return nil, err
		}
		e, err := db.Enrol(ctx, code, "sim")
		if err != nil {
			return nil, err
		}
		dev, err := db.Device(ctx, e.DeviceID)
		if err != nil {
			return nil, err
		}
		rid, err := syncengine.ParseReplicaID(e.ReplicaID)
		if err != nil {
			return nil, err
		}
		rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
		if err != nil {
			return nil, err
		}
		return &phone{dev: dev, person: p, cred: e.Credential, rep: rep}, nil
	}

	cfg := api.DefaultConfig()
	cfg.RateLimit = 0
	srv := api.New(db, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	srv.NotFound()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: time.Minute}

	u, err := newPhone("unrelated")
	if err != nil {
		return err
	}
	var rec syncengine.RecordID
	first, err := u.rep.Edit(u.person.ID, func(tx *syncengine.Txn) (err error) {
		rec, err = newEncounter(tx)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := push(client, url, u.cred, first); err != nil {
		return err
	}
	i := 0
	measure := func() (time.Duration, error) {
		var ds []time.Duration
		for range pushes {
			i++
			cs, err := u.rep.Edit(u.person.ID, func(tx *syncengine.Txn) error { return tx.Set(rec, "area", fmt.Sprintf("spot %d", i)) })
			if err != nil {
				return 0, err
			}
			d, err := push(client, url, u.cred, cs)
			if err != nil {
				return 0, err
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	if _, err := measure(); err != nil { // warm up
		return err
	}
	base, err := measure()
	if err != nil {
		return err
	}

	start := time.Now()
	made := 0
	for d := 0; d < devices && made < nHeld; d++ {
		p, err := newPhone(fmt.Sprintf("w%03d", d))
		if err != nil {
			return err
		}
		var batch []*syncengine.Changeset
		for k := 0; k < perDevice && made < nHeld; k++ {
			var id syncengine.RecordID
			if _, err := p.rep.Edit(p.person.ID, func(tx *syncengine.Txn) (err error) { id, err = newEncounter(tx); return err }); err != nil {
				return err
			}
			// The second save depends on the first, which is never sent: held.
			cs, err := p.rep.Edit(p.person.ID, func(tx *syncengine.Txn) error { return tx.Set(id, "concern_level", "high") })
			if err != nil {
				return err
			}
			batch = append(batch, cs)
			made++
		}
		for len(batch) > 0 {
			n := min(len(batch), 500)
			res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Changesets: batch[:n], NoPull: true})
			if err != nil {
				return err
			}
			if res.Quarantined != n {
				return fmt.Errorf("expected %d held, got %d", n, res.Quarantined)
			}
			batch = batch[n:]
		}
	}
	setup := time.Since(start)
	open, err := db.QuarantineSize(ctx)
	if err != nil {
		return err
	}
	with, err := measure()
	if err != nil {
		return err
	}
	fmt.Printf("held: %d held changesets on %d devices (made in %s)\n", open, devices, setup.Round(time.Millisecond))
	fmt.Printf("held: unrelated 1-op push, median of %d: %s with none, %s with %d held: ratio %.2f (target <= 1.5)\n",
		pushes, base.Round(time.Microsecond), with.Round(time.Microsecond), open, float64(with)/float64(base))
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

// push sends one changeset (and pulls nothing) and returns how long it took.
func push(c *http.Client, url, cred string, cs *syncengine.Changeset) (time.Duration, error) {
	body, _ := json.Marshal(protocol.Request{NoPull: true, Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
	req, _ := http.NewRequest("POST", url+"/v1/sync", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cred)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
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
