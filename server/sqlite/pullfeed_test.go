package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// feedPhone is an enrolled device with its own replica and what it made.
type feedPhone struct {
	person     string
	cred       string
	replica    *syncengine.Replica
	cursor     string
	dir        string
	roster     string
	encounters map[string][]syncengine.RecordID // by team
	revoked    bool
}

// TestPullFeedSendsWhatTheLogSays: whatever happens to the log, a phone's
// incremental pull sends exactly what reading the log for that phone alone
// sends (sqlite.ReferencePull, the pull before the team feeds): the same
// changeset bytes in the same order, the same page ends and cursor, the same
// records on the read audit, and never a record of a team outside its
// scope. The workload mixes pushes by phones of two teams, a supervisor of
// both whose changesets touch both teams, small pages, a young person moved
// to the other team, a worker moved to the other team, an erasure, a
// compaction and a revoked phone.
func TestPullFeedSendsWhatTheLogSays(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { feedScenario(t, seed) })
	}
}

func feedScenario(t *testing.T, seed uint64) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	clock := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return clock }
	for _, p := range []domain.Person{
		{ID: "wa2", Name: "Worker A2", Role: domain.RoleWorker, TeamID: "team_a"},
		{ID: "wa3", Name: "Worker A3", Role: domain.RoleWorker, TeamID: "team_a"},
		{ID: "wb1", Name: "Worker B1", Role: domain.RoleWorker, TeamID: "team_b"},
		{ID: "wb2", Name: "Worker B2", Role: domain.RoleWorker, TeamID: "team_b"},
		{ID: "s2", Name: "Sup Two", Email: "s2@example.org", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}},
	} {
		must(t, db.UpsertPerson(ctx, p))
	}
	var phones []*feedPhone
	for _, id := range []string{"w1", "w1", "wa2", "wa3", "wb1", "wb2", "s1"} {
		code, _, err := db.IssueEnrolmentCode(ctx, id, "s1")
		must(t, err)
		e, err := db.Enrol(ctx, code, "android")
		must(t, err)
		rid, err := syncengine.ParseReplicaID(e.ReplicaID)
		must(t, err)
		rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: db.Now, Rand: db.Rand, Store: syncengine.NewMemStore()})
		must(t, err)
		phones = append(phones, &feedPhone{person: id, cred: e.Credential, replica: rep, encounters: map[string][]syncengine.RecordID{}})
	}
	var youngPeople []syncengine.RecordID // created in team_a, moved or erased by the supervisors
	moved := map[syncengine.RecordID]bool{}
	workerMoved := false
	erased := map[syncengine.RecordID]bool{}
	compared, fromFeed := 0, 0

	teamOf := func(id string) string {
		var team string
		db.SQL().QueryRow(`SELECT COALESCE(team_id, '') FROM records WHERE id = ?`, id).Scan(&team)
		return team
	}
	// edit is the phone's next changeset: a new encounter in one of its
	// teams (a supervisor's in both at once), an edit of one it made, or a
	// young person.
	edit := func(p *feedPhone, teams []string) *syncengine.Changeset {
		cs, err := p.replica.Edit(p.person, func(tx *syncengine.Txn) error {
			team := teams[rng.IntN(len(teams))]
			switch k := rng.IntN(10); {
			case k < 4 && len(p.encounters[team]) > 0:
				ids := p.encounters[team]
				id := ids[rng.IntN(len(ids))]
				return tx.InsertText(id, "note", 0, fmt.Sprintf("later %d. ", rng.IntN(1000)))
			case k < 6 && team == "team_a" && p.person != "s1":
				yp, err := tx.Create(syncengine.TypeYoungPerson)
				if err != nil {
					return err
				}
				youngPeople = append(youngPeople, yp)
				if err := tx.Set(yp, "known_as", "Jay"); err != nil {
					return err
				}
				return tx.Set(yp, "team_id", team)
			default:
				for _, tm := range teams {
					if len(teams) > 1 && tm != team && k%2 == 0 {
						continue // a supervisor's changeset in one team or in both
					}
					id, err := tx.Create(syncengine.TypeEncounter)
					if err != nil {
						return err
					}
					p.encounters[tm] = append(p.encounters[tm], id)
					for f, v := range map[string]any{"team_id": tm, "area": "park", "started_at": clock.Add(-time.Hour)} {
						if err := tx.Set(id, f, v); err != nil {
							return err
						}
					}
					if err := tx.InsertText(id, "note", 0, "met at the park"); err != nil {
						return err
					}
				}
				return nil
			}
		})
		must(t, err)
		return cs
	}

	for step := 0; step < 400; step++ {
		clock = clock.Add(time.Second)
		switch k := rng.IntN(100); {
		case k < 3 && len(youngPeople) > 0:
			// A young person moves to team_b: team_a's phones are told to
			// drop it, team_b's receive it whole. The newest, so that
			// phones behind still have its changesets to come.
			yp := youngPeople[len(youngPeople)-1]
			if moved[yp] || erased[yp] || teamOf(string(yp)) != "team_a" {
				continue
			}
			moved[yp] = true
			s1, _ := db.Person(ctx, "s1")
			s2, _ := db.Person(ctx, "s2")
			tr, err := db.StartTransfer(ctx, s1, string(yp), "team_b", "moved to the estate")
			must(t, err)
			_, err = db.DecideTransfer(ctx, s2, tr.ID, domain.DecisionAccept)
			must(t, err)
			continue
		case k == 3 && step > 100 && !workerMoved:
			// A worker moves team: the device's scope changes. (Once:
			// leaving a team a second time fails today, "email already
			// in use", from people_past_teams' trigger: a defect of its
			// own.)
			workerMoved = true
			must(t, db.UpsertPerson(ctx, domain.Person{ID: "wa3", Name: "Worker A3", Role: domain.RoleWorker, TeamID: "team_b"}))
			continue
		case k < 6 && step > 200 && len(youngPeople) > 0:
			yp := youngPeople[len(youngPeople)-1]
			erased[yp] = true
			_, err := db.Erase(ctx, domain.ErasureRequest{By: "s1", YoungPersonID: string(yp), Reason: "erasure request", Erase: []string{string(yp)}})
			must(t, err)
			continue
		case k == 6 && step > 300:
			_, err := db.CompactLog(ctx, 0)
			must(t, err)
			continue
		case k == 7 && step > 150:
			p := phones[rng.IntN(len(phones))]
			var dev domain.Device
			if d, _, err := db.Authenticate(ctx, p.cred); err == nil {
				dev = d
				must(t, db.RevokeDevice(ctx, dev.ID, "s1", "lost"))
				p.revoked = true
			}
			continue
		}
		// Some phones sync often, the others fall behind.
		p := phones[rng.IntN(len(phones))]
		if rng.IntN(2) == 0 {
			p = phones[rng.IntN(3)]
		}
		dev, person, err := db.Authenticate(ctx, p.cred)
		if p.revoked {
			if err == nil && dev.Status == "active" {
				t.Fatalf("step %d: a revoked phone authenticated: %+v", step, dev)
			}
			continue
		}
		must(t, err)
		teams := []string{person.TeamID}
		if person.ID == "s1" {
			teams = []string{"team_a", "team_b"}
		}
		req := domain.SyncRequest{Device: dev, Person: person, Cursor: p.cursor, DirectoryVersion: p.dir, RosterVersion: p.roster}
		if rng.IntN(3) == 0 {
			req.PageBytes = 400 + rng.IntN(800) // a few changesets a page
		}
		if rng.IntN(2) == 0 {
			req.Changesets = []*syncengine.Changeset{edit(p, teams)}
		}
		res, err := db.Sync(ctx, req)
		must(t, err)
		if res.Accepted != len(req.Changesets) {
			t.Fatalf("step %d: push not accepted: %+v", step, res.Results)
		}
		// Never a record of a team outside the phone's scope.
		for _, id := range res.SentRecords {
			if tm := teamOf(id); !slices.Contains(teams, tm) {
				t.Fatalf("step %d: %s of %v was sent record %s of %q", step, person.ID, teams, id, tm)
			}
		}
		in, _, _ := domain.ParseCursor(req.Cursor)
		out, _, _ := domain.ParseCursor(res.Cursor)
		if req.Cursor != "" && !in.Snapshot && !out.Snapshot && !res.Reset && len(res.Snapshots) == 0 {
			budget := req.PageBytes
			if budget <= 0 {
				budget = domain.DefaultPageBytes
			}
			bodies, sent, last, more, err := sqlite.ReferencePull(db, person, dev.ReplicaID, in.Seq, budget)
			must(t, err)
			if len(bodies) != len(res.Changesets) {
				t.Fatalf("step %d: %s sent %d changesets, the log says %d", step, person.ID, len(res.Changesets), len(bodies))
			}
			for i := range bodies {
				if !bytes.Equal(bodies[i], res.Changesets[i]) {
					t.Fatalf("step %d: %s: changeset %d differs from the log's", step, person.ID, i)
				}
			}
			slices.Sort(sent)
			got := slices.Sorted(slices.Values(res.SentRecords))
			if !slices.Equal(sent, got) || more != res.More || last != out.Seq {
				t.Fatalf("step %d: %s: sent records %v more %v cursor %d; the log says %v, %v, %d", step, person.ID, got, res.More, out.Seq, sent, more, last)
			}
			compared++
		}
		if n := sqlite.FeedRows(db); n > 0 {
			fromFeed++
		}
		p.cursor = res.Cursor
		if res.Directory != nil {
			p.dir = res.Directory.Version
		}
		if res.Roster != nil {
			p.roster = res.Roster.Version
		}
	}
	if compared < 100 || fromFeed < 100 {
		t.Fatalf("only %d incremental pulls compared, %d with the feeds holding changesets", compared, fromFeed)
	}
}

// TestPullFeedNeverServesARolledBackPush: a sync that pushes, pulls and
// then fails is rolled back, alone or to its savepoint in a batch; what its
// pull read (its own push among it) must not reach the team's feed, or the
// next phone would be sent a changeset the server never kept, in place of
// the one that took its log position.
func TestPullFeedNeverServesARolledBackPush(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "in a batch"}[batched], func(t *testing.T) {
			db := MustOpenDB(t)
			mustOrg(t, db)
			ctx := context.Background()
			phones := groupPhones(t, db, 5)
			a, b, c := phones[0], phones[1], phones[2]
			cursors := make([]string, len(phones))
			for range 2 { // a snapshot, then an incremental pull that fills the feed
				for i, p := range phones {
					res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Cursor: cursors[i]})
					must(t, err)
					cursors[i] = res.Cursor
				}
			}
			sqlite.SetSyncFault(db, false, func(req domain.SyncRequest) error {
				if req.Device.ID == a.dev.ID {
					return fmt.Errorf("injected fault")
				}
				return nil
			})
			pushA := domain.SyncRequest{Device: a.dev, Person: a.person, Cursor: cursors[0], Changesets: []*syncengine.Changeset{a.cs}}
			if !batched {
				if _, err := db.Sync(ctx, pushA); err == nil {
					t.Fatal("the faulty sync succeeded")
				}
			} else {
				hold, err := db.BeginTx(ctx, nil)
				must(t, err)
				reqs := []domain.SyncRequest{pushA}
				for i, p := range phones[3:] {
					reqs = append(reqs, domain.SyncRequest{Device: p.dev, Person: p.person, Cursor: cursors[3+i]})
				}
				errs := make(chan error, len(reqs))
				for _, r := range reqs {
					go func() { _, err := db.Sync(ctx, r); errs <- err }()
				}
				for sqlite.GroupWaiting(db) < len(reqs) {
					time.Sleep(time.Millisecond)
				}
				must(t, hold.Rollback())
				failed := 0
				for range reqs {
					if <-errs != nil {
						failed++
					}
				}
				if failed != 1 {
					t.Fatalf("%d syncs of the batch failed, want the faulty one", failed)
				}
			}
			sqlite.SetSyncFault(db, false, nil)
			b.push(t, db, []*syncengine.Changeset{b.cs}) // takes the rolled-back push's position
			res, err := db.Sync(ctx, domain.SyncRequest{Device: c.dev, Person: c.person, Cursor: cursors[2]})
			must(t, err)
			in, _, _ := domain.ParseCursor(cursors[2])
			bodies, _, _, _, err := sqlite.ReferencePull(db, c.person, c.dev.ReplicaID, in.Seq, domain.DefaultPageBytes)
			must(t, err)
			if len(bodies) != 1 || len(res.Changesets) != 1 || !bytes.Equal(res.Changesets[0], bodies[0]) {
				t.Fatalf("the next phone was sent %d changesets, not the log's %d (b's push) byte for byte", len(res.Changesets), len(bodies))
			}
			cs, err := syncengine.DecodeChangeset(res.Changesets[0])
			must(t, err)
			if cs.Replica != b.cs.Replica {
				t.Fatalf("the next phone was sent %s's changeset, want b's (%s)", cs.Replica, b.cs.Replica)
			}
		})
	}
}

// TestPullFeedHostileCursors: a phone of team_a forges its cursor (any log
// position, another team's scope tag, another history) while the team's
// feed is warm. What it receives is what reading the log for it alone
// sends, or the refusal it always got; never a changeset of team_b.
func TestPullFeedHostileCursors(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	must(t, db.UpsertPerson(ctx, domain.Person{ID: "wb", Name: "Worker B", Role: domain.RoleWorker, TeamID: "team_b"}))
	phones := groupPhones(t, db, 3) // team_a
	b := groupPhones(t, db, 1)[0]
	b.person, _ = db.Person(ctx, "wb")
	// Team_a's phones write some history, take their snapshots, then
	// write and pull on, which fills the feed from there: a forged cursor
	// can point before the feed, into it, or past it.
	cursors := make([]string, len(phones))
	reps := make([]*syncengine.Replica, len(phones))
	encs := make([]syncengine.RecordID, len(phones))
	edit := func(i, k int) *syncengine.Changeset {
		if reps[i] == nil {
			reps[i], _ = phones[i].replica(t, db)
		}
		cs, err := reps[i].Edit(phones[i].person.ID, func(tx *syncengine.Txn) (err error) {
			if encs[i] == "" {
				if encs[i], err = tx.Create(syncengine.TypeEncounter); err != nil {
					return err
				}
				if err := tx.Set(encs[i], "team_id", "team_a"); err != nil {
					return err
				}
				if err := tx.Set(encs[i], "started_at", db.Now().Add(-time.Hour)); err != nil {
					return err
				}
			}
			return tx.Set(encs[i], "area", fmt.Sprintf("area %d", k))
		})
		must(t, err)
		return cs
	}
	for k := range 2 {
		for i, p := range phones {
			p.push(t, db, []*syncengine.Changeset{edit(i, k)})
		}
	}
	for i, p := range phones {
		res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person})
		must(t, err)
		cursors[i] = res.Cursor
	}
	for k := 2; k < 5; k++ {
		for i, p := range phones {
			res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Cursor: cursors[i], Changesets: []*syncengine.Changeset{edit(i, k)}})
			must(t, err)
			cursors[i] = res.Cursor
		}
	}
	if sqlite.FeedRows(db) == 0 {
		t.Fatal("team_a's feed is empty after its phones pulled")
	}
	victim := phones[0]
	own, _, _ := domain.ParseCursor(cursors[0])
	var now int64
	must(t, db.SQL().QueryRow(`SELECT MAX(seq) FROM changesets`).Scan(&now))
	forge := func(f func(c *domain.Cursor)) string {
		c := own
		f(&c)
		return c.String()
	}
	rb, _ := b.replica(t, db)
	otherTag := domain.Scope{Role: domain.RoleWorker, PersonID: "wb", Teams: []string{"team_b"}}.Tag()
	for _, tc := range []struct {
		name     string
		cursor   string
		wantCode string
		wantSnap bool // a snapshot of the phone's own scope instead
	}{
		{"from the start of the log", forge(func(c *domain.Cursor) { c.Seq = 0 }), "", false},
		{"from the first changeset", forge(func(c *domain.Cursor) { c.Seq = 1 }), "", false},
		{"from the middle", forge(func(c *domain.Cursor) { c.Seq = now / 2 }), "", false},
		{"at the end", forge(func(c *domain.Cursor) { c.Seq = now }), "", false},
		{"past the end", forge(func(c *domain.Cursor) { c.Seq = now + 1000 }), domain.ECURSORAHEAD, false},
		{"another team's scope tag", forge(func(c *domain.Cursor) { c.Tag = otherTag; c.Seq = 1 }), "", true},
		{"another history", forge(func(c *domain.Cursor) { c.Gen = "0123456789abcdef"; c.Seq = 1 }), domain.ECURSORAHEAD, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Team_b writes between the forged pulls too.
			var enc syncengine.RecordID
			cs, err := rb.Edit("wb", func(tx *syncengine.Txn) (err error) {
				if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
					return err
				}
				for k, v := range map[string]any{"team_id": "team_b", "area": "market", "started_at": db.Now().Add(-time.Hour)} {
					if err := tx.Set(enc, k, v); err != nil {
						return err
					}
				}
				return nil
			})
			must(t, err)
			b.push(t, db, []*syncengine.Changeset{cs})
			for _, page := range []int{0, 300} {
				res, err := db.Sync(ctx, domain.SyncRequest{Device: victim.dev, Person: victim.person, Cursor: tc.cursor, PageBytes: page})
				if tc.wantCode != "" {
					if code := syncengine.ErrorCode(err); code != tc.wantCode {
						t.Fatalf("page %d: err %v, want %s", page, err, tc.wantCode)
					}
					continue
				}
				must(t, err)
				for _, id := range res.SentRecords {
					var team string
					must(t, db.SQL().QueryRow(`SELECT team_id FROM records WHERE id = ?`, id).Scan(&team))
					if team != "team_a" {
						t.Fatalf("page %d: team_a's phone was sent %s of %s", page, id, team)
					}
				}
				if tc.wantSnap {
					if !res.Reset || len(res.Changesets) != 0 {
						t.Fatalf("page %d: reset %v with %d changesets, want a snapshot of its own scope", page, res.Reset, len(res.Changesets))
					}
					continue
				}
				in, _, _ := domain.ParseCursor(tc.cursor)
				budget := page
				if budget == 0 {
					budget = domain.DefaultPageBytes
				}
				bodies, sent, last, more, err := sqlite.ReferencePull(db, victim.person, victim.dev.ReplicaID, in.Seq, budget)
				must(t, err)
				out, _, _ := domain.ParseCursor(res.Cursor)
				if len(bodies) != len(res.Changesets) || more != res.More || last != out.Seq {
					t.Fatalf("page %d: %d changesets, more %v, cursor %d; the log says %d, %v, %d", page, len(res.Changesets), res.More, out.Seq, len(bodies), more, last)
				}
				for i := range bodies {
					if !bytes.Equal(bodies[i], res.Changesets[i]) {
						t.Fatalf("page %d: changeset %d differs from the log's", page, i)
					}
				}
				slices.Sort(sent)
				if got := slices.Sorted(slices.Values(res.SentRecords)); !slices.Equal(got, sent) {
					t.Fatalf("page %d: read audit %v, the log says %v", page, got, sent)
				}
			}
		})
	}
}
