package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Several server nodes share one database: each test opens two or more
// stores ("nodes") on the same URL and drives them at once.

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// nodes opens n stores on one fresh database, seeded with one team.
func nodes(t *testing.T, n int) []*postgres.DB {
	t.Helper()
	url := pgtest.URL(t)
	now := time.Now()
	var out []*postgres.DB
	for range n {
		out = append(out, openDB(t, url, &now))
	}
	ctx := context.Background()
	must(t, out[0].UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, out[0].UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, out[0].UpsertPeople(ctx, []domain.Person{
		{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a"},
		{ID: "sup_a", Name: "Alex Supervisor", Role: domain.RoleSupervisor, TeamID: "team_a"},
	}))
	return out
}

type phone struct {
	t      testing.TB
	en     domain.Enrolment
	store  *syncengine.MemStore
	rep    *syncengine.Replica
	outbox []*syncengine.Changeset
	cursor string
}

func enrol(t testing.TB, db *postgres.DB, person string) *phone {
	t.Helper()
	ctx := context.Background()
	code, _, err := db.IssueEnrolmentCode(ctx, person, "sup_a")
	must(t, err)
	en, err := db.Enrol(ctx, code, "android")
	must(t, err)
	return newPhone(t, en)
}

// newPhone is an engine replica for an enrolment.
func newPhone(t testing.TB, en domain.Enrolment) *phone {
	t.Helper()
	id, err := syncengine.ParseReplicaID(en.ReplicaID)
	must(t, err)
	p := &phone{t: t, en: en, store: syncengine.NewMemStore()}
	p.rep, err = syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: rand.Reader, Store: p.store})
	must(t, err)
	return p
}

func (p *phone) edit(fn func(tx *syncengine.Txn) error) *syncengine.Changeset {
	p.t.Helper()
	cs, err := p.tryEdit(fn)
	must(p.t, err)
	return cs
}

// tryEdit is edit for goroutines other than the test's.
func (p *phone) tryEdit(fn func(tx *syncengine.Txn) error) (*syncengine.Changeset, error) {
	cs, err := p.rep.Edit(p.en.PersonID, fn)
	if err != nil {
		return nil, err
	}
	p.outbox = append(p.outbox, cs)
	return cs, nil
}

// encounter creates a valid encounter of team_a with a note.
func encounter(tx *syncengine.Txn, note string) (syncengine.RecordID, error) {
	id, err := tx.Create(syncengine.TypeEncounter)
	if err != nil {
		return id, err
	}
	for k, v := range map[string]any{"team_id": "team_a", "area": "by the skate ramp", "started_at": time.Now().Add(-time.Hour)} {
		if err := tx.Set(id, k, v); err != nil {
			return id, err
		}
	}
	return id, tx.InsertText(id, "note", 0, note)
}

// sync pushes the outbox through node db and pulls one page (unless noPull).
func (p *phone) sync(db *postgres.DB, noPull bool) (*domain.SyncResult, error) {
	ctx := context.Background()
	dev, person, err := db.Authenticate(ctx, p.en.Credential)
	if err != nil {
		return nil, err
	}
	res, err := db.Sync(ctx, domain.SyncRequest{Device: dev, Person: person, Changesets: p.outbox, Cursor: p.cursor, NoPull: noPull})
	if err != nil {
		return nil, err
	}
	p.outbox = nil
	if noPull {
		return res, nil
	}
	if res.Reset {
		return nil, fmt.Errorf("unexpected reset")
	}
	for _, b := range res.Snapshots {
		recs, err := syncengine.DecodeSnapshot(b)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			p.store.Put(r)
		}
	}
	for _, b := range res.Changesets {
		cs, err := syncengine.DecodeChangeset(b)
		if err != nil {
			return nil, err
		}
		if _, err := p.rep.Apply(cs); err != nil {
			return nil, err
		}
	}
	p.cursor = res.Cursor
	return res, nil
}

func (p *phone) syncAll(db *postgres.DB) {
	p.t.Helper()
	for range 1000 {
		r, err := p.sync(db, false)
		must(p.t, err)
		if !r.More {
			return
		}
	}
	p.t.Fatal("pull never finished")
}

// Two nodes apply changesets to the same record at the same instant, many
// times: every operation of every changeset is in the stored record, and in
// a third phone's copy, in the end.
func TestTwoNodesSameRecordLoseNothing(t *testing.T) {
	ns := nodes(t, 2)
	a, b := enrol(t, ns[0], "w_a"), enrol(t, ns[1], "w_a")
	var id syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) { id, err = encounter(tx, "start."); return err })
	a.syncAll(ns[0])
	b.syncAll(ns[1])

	const rounds = 40
	var want []string
	for i := range rounds {
		for _, p := range []*phone{a, b} {
			word := fmt.Sprintf("<%s%d>", p.en.DeviceID[4:10], i)
			want = append(want, word)
			p.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, word) })
			// A field both write: the register keeps both values or one
			// winner, never loses the op from history.
			p.edit(func(tx *syncengine.Txn) error { return tx.Set(id, "area", word) })
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for k, p := range []*phone{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := p.sync(ns[k], true)
				if err == nil {
					for _, r := range res.Results {
						if r.Status != protocol.StatusAccepted {
							err = fmt.Errorf("push answered %+v", r)
						}
					}
				}
				errs[k] = err
			}()
		}
		close(start)
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("round %d, node %d: %v", i, k, err)
			}
		}
	}
	rec, err := ns[0].RecordState(context.Background(), string(id))
	must(t, err)
	note := rec.String("note")
	for _, w := range want {
		if strings.Count(note, w) != 1 {
			t.Fatalf("stored note has %q %d times, want once (a concurrent merge lost or repeated an op)", w, strings.Count(note, w))
		}
	}
	var logged int
	must(t, ns[1].Pool().QueryRow(context.Background(), `SELECT COUNT(*) FROM changesets`).Scan(&logged))
	if want := 1 + 2*2*rounds; logged != want {
		t.Fatalf("log holds %d changesets, want %d", logged, want)
	}
	// A third phone, pulling through either node, converges on the store.
	c := enrol(t, ns[1], "w_a")
	c.syncAll(ns[1])
	if got := c.store; got == nil {
		t.Fatal("no store")
	}
	got, err := c.store.Record(id)
	must(t, err)
	if got.String("note") != note {
		t.Fatal("a new phone's copy differs from the stored record")
	}
	a.syncAll(ns[1])
	b.syncAll(ns[0])
	for _, p := range []*phone{a, b} {
		r, err := p.store.Record(id)
		must(t, err)
		if r.String("note") != note || r.String("area") != rec.String("area") {
			t.Fatalf("phone %s did not converge: %q vs %q", p.en.DeviceID, r.String("note"), note)
		}
	}
}

// The same changeset reaching two nodes at the same instant (a phone's
// retry through the load balancer while the first request still runs) is
// stored once: one node accepts it, the other answers duplicate.
func TestSameChangesetOnTwoNodesStoredOnce(t *testing.T) {
	ns := nodes(t, 2)
	p := enrol(t, ns[0], "w_a")
	ctx := context.Background()
	dev, person, err := ns[0].Authenticate(ctx, p.en.Credential)
	must(t, err)
	for i := range 25 {
		p.edit(func(tx *syncengine.Txn) error { _, err := encounter(tx, fmt.Sprintf("note %d", i)); return err })
		css := p.outbox
		p.outbox = nil
		start := make(chan struct{})
		var wg sync.WaitGroup
		results := make([]*domain.SyncResult, 2)
		errs := make([]error, 2)
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[k], errs[k] = ns[k].Sync(ctx, domain.SyncRequest{Device: dev, Person: person, Changesets: css, NoPull: true})
			}()
		}
		close(start)
		wg.Wait()
		must(t, errs[0])
		must(t, errs[1])
		if acc := results[0].Accepted + results[1].Accepted; acc != 1 || results[0].Duplicates+results[1].Duplicates != 1 {
			t.Fatalf("round %d: accepted %d+%d, duplicates %d+%d; want one of each", i,
				results[0].Accepted, results[1].Accepted, results[0].Duplicates, results[1].Duplicates)
		}
	}
	// Stats reports the log position, which a losing insert may skip; count rows.
	var logged, records int
	must(t, ns[0].Pool().QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM changesets), (SELECT COUNT(*) FROM records)`).Scan(&logged, &records))
	if logged != 25 || records != 25 {
		t.Fatalf("log %d changesets, %d records; want 25 of each", logged, records)
	}
}

// A phone pulling while writers on two nodes commit in no particular order
// never passes a changeset that commits late: once the writers stop and it
// has caught up, it holds every record that was written.
func TestPullNeverSkipsLateCommit(t *testing.T) {
	ns := nodes(t, 2)
	writers := []*phone{enrol(t, ns[0], "w_a"), enrol(t, ns[1], "w_a"), enrol(t, ns[0], "w_a"), enrol(t, ns[1], "w_a")}
	reader := enrol(t, ns[0], "w_a")
	const each = 30
	var ids sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, len(writers)+1)
	done := make(chan struct{})
	doneWriting := make(chan struct{})
	for k, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := w.tryEdit(func(tx *syncengine.Txn) error {
					id, err := encounter(tx, fmt.Sprintf("writer %d note %d", k, i))
					ids.Store(id, true)
					return err
				}); err != nil {
					errs <- err
					return
				}
				if _, err := w.sync(ns[(k+i)%2], true); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-errs:
				return
			default:
			}
			if _, err := reader.sync(ns[i%2], false); err != nil {
				errs <- err
				return
			}
			if finished := func() bool {
				select {
				case <-doneWriting:
					return true
				default:
					return false
				}
			}(); finished {
				return
			}
		}
	}()
	wg.Wait()
	close(doneWriting)
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// The reader goes on from its cursor, which was advanced while the
	// writers wrote: anything it passed then is never sent again.
	reader.syncAll(ns[1])
	missing := 0
	ids.Range(func(k, _ any) bool {
		if r, _ := reader.store.Record(k.(syncengine.RecordID)); r == nil {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("the reader's cursor passed %d changesets that committed late", missing)
	}
}
