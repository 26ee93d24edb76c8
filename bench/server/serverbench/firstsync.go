package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// firstsync: a fresh phone's snapshot pull of its team (sizes: records of
// 1 KB each, about 1,000 to a page), with as many records in another team.
// Baseline: the smallest team's time per page. Paging that sorts the whole
// team for every page costs more per page as the team grows; index-range
// paging costs the same.
func firstsync(dir string, sizes []int) error {
	s, err := startServerWithArea(dir)
	if err != nil {
		return err
	}
	defer s.close()
	ctx := context.Background()
	fmt.Printf("firstsync: a fresh worker device's snapshot pull of its team (1 KB records, %d KiB pages), another team as large\n", domain.DefaultPageBytes>>10)
	state := make([]byte, 1000)
	rand.Read(state)
	var basePerPage time.Duration
	seq := 0
	for k, n := range sizes {
		mine, other := fmt.Sprintf("mine%d", k), fmt.Sprintf("other%d", k)
		for _, t := range []string{mine, other} {
			if err := s.db.UpsertTeam(ctx, domain.Team{ID: t, AreaID: "area", Name: t}); err != nil {
				return err
			}
		}
		person := fmt.Sprintf("worker%d", k)
		if err := s.db.UpsertPeople(ctx, []domain.Person{{ID: "bench-admin", Name: "Bench Admin", Role: domain.RoleAdmin},
			{ID: person, Name: person, Role: domain.RoleWorker, TeamID: mine}}); err != nil {
			return err
		}
		tx, err := s.db.SQL().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// Ids interleave the two teams, as random record ids do.
		for i := 0; i < 2*n; i++ {
			seq++
			team := mine
			if i%2 == 1 {
				team = other
			}
			if _, err := tx.Exec(`INSERT INTO records (id, type, team_id, state, updated_seq) VALUES (?, 'encounter', ?, ?, ?)`,
				fmt.Sprintf("r%d-%07d", k, (i*7919)%(2*n)), team, state, seq); err != nil {
				tx.Rollback()
				return err
			}
		}
		// The log reaches the records' positions.
		if _, err := tx.Exec(`INSERT INTO changesets (seq, replica_id, start, span, author, received_at, body) VALUES (?, 'filler', ?, 1, 'x', '2026-01-01T00:00:00Z', x'00')`, seq, seq); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		codes, err := s.db.IssueEnrolmentCodes(ctx, []string{person}, "bench-admin")
		if err != nil {
			return err
		}
		c := (&wire{}).client(1)
		e, err := enrol(c, s.url, codes[0])
		if err != nil {
			return err
		}
		var w wire
		t0 := time.Now()
		cursor, pages, got := "", 0, 0
		for {
			r, err := doSync(c, &w, s.url, e.Credential, protocol.Request{Cursor: cursor})
			if err != nil {
				return err
			}
			pages++
			got += len(r.Snapshots)
			cursor = r.Cursor
			if !r.More {
				break
			}
		}
		took := time.Since(t0)
		if got != n {
			return fmt.Errorf("firstsync: got %d records, want %d", got, n)
		}
		perPage := took / time.Duration(pages)
		if basePerPage == 0 {
			basePerPage = perPage
		}
		fmt.Printf("  %6d records in %3d pages: %s, %s a page = %.2fx the smallest team's, down %d KiB\n",
			n, pages, took.Round(time.Millisecond), perPage.Round(time.Microsecond), ratio(perPage, basePerPage), w.down.Load()>>10)
	}
	return nil
}
