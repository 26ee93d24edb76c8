package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// orgsize: one device's incremental pull of 10 changes from its own team,
// with 0, 1k, 10k (and more) changesets from other teams written since its
// cursor. Baseline: the same pull with no other-team changesets. The
// other teams' changesets are written straight into the log (the pull only
// has to step over them, never read them), so the curve is of the pull and
// not of how fast the filler could be pushed.
func orgsize(dir string, sizes []int, reps int) error {
	s, err := startServerWithArea(dir)
	if err != nil {
		return err
	}
	defer s.close()
	ctx := context.Background()
	for _, t := range []string{"mine", "other"} {
		if err := s.db.UpsertTeam(ctx, domain.Team{ID: t, AreaID: "area", Name: t}); err != nil {
			return err
		}
	}
	if err := s.db.UpsertPeople(ctx, []domain.Person{
		{ID: "bench-admin", Name: "Bench Admin", Role: domain.RoleAdmin},
		{ID: "reader", Name: "reader", Role: domain.RoleWorker, TeamID: "mine"},
		{ID: "writer", Name: "writer", Role: domain.RoleWorker, TeamID: "mine"},
	}); err != nil {
		return err
	}
	codes, err := s.db.IssueEnrolmentCodes(ctx, []string{"reader", "writer"}, "bench-admin")
	if err != nil {
		return err
	}
	c := (&wire{}).client(2)
	reader, err := enrol(c, s.url, codes[0])
	if err != nil {
		return err
	}
	writer, err := enrol(c, s.url, codes[1])
	if err != nil {
		return err
	}
	rep, err := benchkit.Replica(writer.ReplicaID)
	if err != nil {
		return err
	}
	r, err := doSync(c, nil, s.url, reader.Credential, protocol.Request{})
	if err != nil {
		return err
	}
	cursor := r.Cursor

	filled, fillerSeq := 0, 0
	var base time.Duration
	fmt.Printf("orgsize: one device's incremental pull of 10 own-team changesets, median of %d pulls, vs other-team changesets since its cursor\n", reps)
	for _, n := range sizes {
		// Other teams' changesets since the device's cursor, over 500
		// records of another team.
		tx, err := s.db.SQL().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			fillerSeq++
			body := []byte(fmt.Sprintf("filler changeset %d", fillerSeq))
			res, err := tx.Exec(`INSERT INTO changesets (replica_id, start, span, author, received_at, body) VALUES ('filler', ?, 1, 'someone', '2026-01-01T00:00:00Z', ?)`, fillerSeq, body)
			if err != nil {
				tx.Rollback()
				return err
			}
			seq, _ := res.LastInsertId()
			id := fmt.Sprintf("other-%03d", fillerSeq%500)
			if _, err := tx.Exec(`INSERT INTO changeset_records (seq, record_id) VALUES (?, ?)`, seq, id); err != nil {
				tx.Rollback()
				return err
			}
			if _, err := tx.Exec(`INSERT INTO records (id, type, team_id, state, updated_seq) VALUES (?, 'encounter', 'other', x'00', ?)
				ON CONFLICT (id) DO UPDATE SET updated_seq = excluded.updated_seq`, id, seq); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		filled += n
		// Ten changes from the device's own team.
		req := protocol.Request{NoPull: true}
		for i := 0; i < 10; i++ {
			cs, err := rep.Edit("writer", func(tx *syncengine.Txn) error {
				id, err := tx.Create(syncengine.TypeEncounter)
				if err != nil {
					return err
				}
				tx.Set(id, "team_id", "mine")
				tx.Set(id, "area", "bus station")
				tx.Set(id, "started_at", time.Now().Add(-time.Hour))
				return tx.InsertText(id, "note", 0, "Talked about college applications; follow up next week.")
			})
			if err != nil {
				return err
			}
			req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
		}
		if _, err := doSync(c, nil, s.url, writer.Credential, req); err != nil {
			return err
		}
		var times []time.Duration
		var next string
		for i := 0; i <= reps; i++ { // the first pull warms caches and is not counted
			t0 := time.Now()
			r, err := doSync(c, nil, s.url, reader.Credential, protocol.Request{Cursor: cursor})
			if err != nil {
				return err
			}
			if i > 0 {
				times = append(times, time.Since(t0))
			}
			if len(r.Changesets) != 10 || len(r.Snapshots) != 0 || r.More {
				return fmt.Errorf("pull: %d changesets, %d snapshots, more %v; want 10 changesets", len(r.Changesets), len(r.Snapshots), r.More)
			}
			next = r.Cursor
		}
		cursor = next
		slices.Sort(times)
		med := times[len(times)/2]
		if base == 0 {
			base = med
		}
		fmt.Printf("  %7d other-team changesets since the cursor (%d in the log): pull %s = %.2fx the 0 case\n", n, filled, med.Round(time.Microsecond), ratio(med, base))
	}
	return nil
}

// startServerWithArea starts a server whose organisation has one area, "area".
func startServerWithArea(dir string) (*server, error) {
	s, err := startServer(dir)
	if err != nil {
		return nil, err
	}
	if err := s.db.UpsertArea(context.Background(), domain.Area{ID: "area", Name: "Area"}); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}
