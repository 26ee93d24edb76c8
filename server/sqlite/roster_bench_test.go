package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// BenchmarkRosterShareOfIdleSync: what the roster adds to every sync, as a
// ratio to an idle sync of the same phone measured in the same run (a
// sync with nothing to push or pull, which now includes the roster check).
// A team as large as the big fixture's: 25 workers, 3 supervisors, among
// 40 teams.
//
//	go test -run '^$' -bench RosterShareOfIdleSync -benchtime 2000x ./server/sqlite/
func BenchmarkRosterShareOfIdleSync(b *testing.B) {
	ctx := context.Background()
	db := NewDB(filepath.Join(b.TempDir(), "db.sqlite"))
	db.Now = func() time.Time { return time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC) }
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	var people []domain.Person
	for tm := range 40 {
		team := fmt.Sprintf("team_%02d", tm)
		must(db.UpsertTeam(ctx, domain.Team{ID: team, AreaID: "north", Name: team}))
		for i := range 28 {
			p := domain.Person{ID: fmt.Sprintf("%s_w%02d", team, i), Name: fmt.Sprintf("Worker %d of %s", i, team), Role: domain.RoleWorker, TeamID: team, TZ: "Europe/London"}
			if i < 3 {
				p.Role, p.Supervises = domain.RoleSupervisor, []string{team}
			}
			people = append(people, p)
		}
	}
	must(db.UpsertPeople(ctx, people))
	code, _, err := db.IssueEnrolmentCode(ctx, "team_07_w10", "team_07_w00")
	must(err)
	en, err := db.Enrol(ctx, code, "android")
	must(err)
	dev, person, err := db.Authenticate(ctx, en.Credential)
	must(err)
	req := domain.SyncRequest{Device: dev, Person: person}
	for range 3 { // to the end of the snapshot, with the roster and directory held
		res, err := db.Sync(ctx, req)
		must(err)
		req.Cursor = res.Cursor
		if res.Directory != nil {
			req.DirectoryVersion = res.Directory.Version
		}
		if res.Roster != nil {
			req.RosterVersion = res.Roster.Version
		}
	}
	scope := domain.Scope{Role: domain.RoleWorker, PersonID: person.ID, Teams: []string{person.TeamID}}
	timed := func(have string) time.Duration {
		t0 := time.Now()
		must(db.view(ctx, func(tx *Tx) error {
			if have == "-" { // the transaction alone
				return nil
			}
			var r domain.SyncResult
			var counter int64 // read with the pull's positions in a sync
			if err := tx.QueryRowContext(ctx, `SELECT version FROM roster_version WHERE one = 1`).Scan(&counter); err != nil {
				return err
			}
			return pullRoster(ctx, tx, scope, counter, have, &r)
		}))
		return time.Since(t0)
	}
	var sync, empty, check, whole time.Duration
	for range b.N {
		t0 := time.Now()
		res, err := db.Sync(ctx, req)
		must(err)
		sync += time.Since(t0)
		if res.Roster != nil || len(res.Changesets)+len(res.Snapshots) > 0 {
			b.Fatalf("an idle sync sent something: %+v", res)
		}
		empty += timed("-")
		check += timed(req.RosterVersion)
		whole += timed("")
	}
	// What the roster adds to an idle sync (its version check) and to a
	// sync that sends it (the query), each without the transaction around it.
	b.ReportMetric(float64(check-empty)/float64(sync), "check/idle-sync")
	b.ReportMetric(float64(whole-empty)/float64(sync), "send/idle-sync")
}
