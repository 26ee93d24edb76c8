package sqlite_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// BenchmarkSmallSync is the store's side of the open-loop load test
// (bench/server/serverbench -run openloop): devices of several teams
// authenticate and sync in turn, every other sync pushing one small
// changeset (a new encounter, then edits of it) and every sync pulling the
// team's news. One op is one device's authentication plus sync.
func BenchmarkSmallSync(b *testing.B) {
	const devices, teams, perDev = 400, 8, 32
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "db.sqlite"))
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	must(b, db.UpsertArea(ctx, domain.Area{ID: "area", Name: "Area"}))
	type phone struct {
		cred   string
		cursor string
		// The directory and roster versions held, sent back as a phone
		// does (mobile-sdk/sync.go): otherwise every sync is sent both.
		dir, roster string
		pushes      []*syncengine.Changeset
		next        int
	}
	phones := make([]*phone, devices)
	for t := 0; t < teams; t++ {
		must(b, db.UpsertTeam(ctx, domain.Team{ID: fmt.Sprintf("team%d", t), AreaID: "area", Name: fmt.Sprintf("Team %d", t)}))
	}
	must(b, db.UpsertPerson(ctx, domain.Person{ID: "admin", Name: "Admin", Role: domain.RoleAdmin}))
	for i := range phones {
		id, team := fmt.Sprintf("w%d", i), fmt.Sprintf("team%d", i%teams)
		must(b, db.UpsertPerson(ctx, domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: team}))
		code, _, err := db.IssueEnrolmentCode(ctx, id, "admin")
		must(b, err)
		e, err := db.Enrol(ctx, code, "android")
		must(b, err)
		rid, _ := syncengine.ParseReplicaID(e.ReplicaID)
		rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
		must(b, err)
		p := &phone{cred: e.Credential}
		var cur syncengine.RecordID
		for k := 0; k < perDev; k++ {
			cs, err := rep.Edit(id, func(tx *syncengine.Txn) error {
				switch k % 4 {
				case 0:
					rec, err := tx.Create(syncengine.TypeEncounter)
					if err != nil {
						return err
					}
					cur = rec
					tx.Set(rec, "team_id", team)
					tx.Set(rec, "area", "bus station")
					tx.Set(rec, "started_at", time.Now().Add(-time.Hour))
					return tx.InsertText(rec, "note", 0, "Talked about college applications; follow up next week.")
				case 2:
					return tx.Set(cur, "area", "park")
				default:
					return tx.InsertText(cur, "note", 0, "Later: ")
				}
			})
			must(b, err)
			p.pushes = append(p.pushes, cs)
		}
		phones[i] = p
	}
	syncOnce := func(p *phone, push bool) {
		d, person, err := db.Authenticate(ctx, p.cred)
		must(b, err)
		req := domain.SyncRequest{Device: d, Person: person, Cursor: p.cursor, DirectoryVersion: p.dir, RosterVersion: p.roster}
		if push && p.next < len(p.pushes) {
			req.Changesets = []*syncengine.Changeset{p.pushes[p.next]}
			p.next++
		}
		res, err := db.Sync(ctx, req)
		must(b, err)
		if res.Accepted != len(req.Changesets) {
			b.Fatalf("push: %+v", res.Results)
		}
		p.cursor = res.Cursor
		if res.Directory != nil {
			p.dir = res.Directory.Version
		}
		if res.Roster != nil {
			p.roster = res.Roster.Version
		}
	}
	for _, p := range phones {
		syncOnce(p, false) // first sync: the snapshot
	}
	// CPU time, not only wall time: the machine is shared.
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		syncOnce(phones[i%devices], i%2 == 0)
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
