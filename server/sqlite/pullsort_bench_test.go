package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// BenchmarkIncrementalPullSort runs a worker's incremental pull query (about
// 25 changesets of 600 bytes from the team's 200 records, among 20 teams'
// changes) as it is and as it was before the second sort was removed
// (ORDER BY c.seq), alternately in the same run, and reports the ratio.
func BenchmarkIncrementalPullSort(b *testing.B) {
	db := openPlanDB(b)
	ctx := context.Background()
	const teams, perTeam, records = 20, 500, 200
	body := []byte(strings.Repeat("x", 600))
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	must(err)
	seq := 0
	for i := 0; i < perTeam; i++ {
		for t := 0; t < teams; t++ {
			seq++
			rec := fmt.Sprintf("t%d-r%d", t, i%records)
			_, err := tx.Exec(`INSERT INTO changesets (seq, replica_id, start, span, received_at, body) VALUES (?, ?, ?, 1, '', ?)`, seq, fmt.Sprintf("rep%d", t), seq, body)
			must(err)
			_, err = tx.Exec(`INSERT INTO changeset_records (seq, record_id) VALUES (?, ?)`, seq, rec)
			must(err)
			_, err = tx.Exec(`INSERT INTO records (id, type, team_id, state, updated_seq) VALUES (?, 'encounter', ?, x'00', ?)
				ON CONFLICT (id) DO UPDATE SET updated_seq = excluded.updated_seq`, rec, fmt.Sprintf("t%d", t), seq)
			must(err)
		}
	}
	must(tx.Commit())
	_, err = db.SQL().Exec(`ANALYZE`)
	must(err)
	filter, fargs := scopeFilter(domain.Scope{PersonID: "w", Teams: []string{"t3"}})
	args := incrementalPullArgs(fargs, int64(seq-25*teams), "phone")
	now := incrementalPullSQL(filter)
	before := strings.Replace(strings.Replace(now, "GROUP BY cr.seq ORDER BY cr.seq) m", "GROUP BY cr.seq) m", 1), "ORDER BY m.seq", "ORDER BY c.seq", 1)
	if before == now {
		b.Fatal("the earlier query could not be rebuilt")
	}
	run := func(q string) time.Duration {
		t0 := time.Now()
		rows, err := db.SQL().QueryContext(ctx, q, args...)
		must(err)
		n := 0
		for rows.Next() {
			var s int64
			var bd []byte
			var crc any
			var total int
			var mine string
			must(rows.Scan(&s, &bd, &crc, &total, &mine))
			n++
		}
		must(rows.Err())
		rows.Close()
		if n != 25 {
			b.Fatalf("%d changesets, want 25", n)
		}
		return time.Since(t0)
	}
	var dNow, dBefore time.Duration
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			dBefore += run(before)
			dNow += run(now)
		} else {
			dNow += run(now)
			dBefore += run(before)
		}
	}
	b.ReportMetric(float64(dNow)/float64(dBefore), "now/before")
}
