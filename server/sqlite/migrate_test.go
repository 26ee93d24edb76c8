package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/sqlite"
)

// schemaOf is a database's tables and indexes, as SQLite keeps their text, and
// the migration numbers it recorded.
func schemaOf(tb testing.TB, db *sql.DB) (schema map[string]string, nums []int) {
	tb.Helper()
	schema = map[string]string{}
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'`)
	must(tb, err)
	for rows.Next() {
		var name, text string
		must(tb, rows.Scan(&name, &text))
		schema[name] = text
	}
	must(tb, rows.Close())
	rows, err = db.Query(`SELECT n FROM migrations ORDER BY n`)
	must(tb, err)
	for rows.Next() {
		var n int
		must(tb, rows.Scan(&n))
		nums = append(nums, n)
	}
	must(tb, rows.Close())
	return schema, nums
}

// A database migrated by the old code (two runners: the store's with push's
// schema built in as number 10, then the portal's for number 20) opens under
// the one runner: what the old code applied is not run again (its records
// stand, names included), the migrations added since are applied, and it
// ends with exactly the schema and numbers a fresh database gets.
func TestOpenDatabaseMigratedByTwoRunners(t *testing.T) {
	old, err := os.ReadFile("testdata/schema_two_runners.sql")
	must(t, err)
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", path)
	must(t, err)
	if _, err := raw.Exec(string(old)); err != nil {
		t.Fatalf("load old schema: %v", err)
	}
	oldRecorded := recorded(t, raw)
	must(t, raw.Close())

	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("open a database migrated by the old runners: %v", err)
	}
	gotSchema, gotNums := schemaOf(t, db.SQL())
	gotRecorded := recorded(t, db.SQL())
	must(t, db.Close())
	fresh, err := sqlite.Open(filepath.Join(t.TempDir(), "fresh.db"))
	must(t, err)
	freshSchema, freshNums := schemaOf(t, fresh.SQL())
	must(t, fresh.Close())

	if len(oldRecorded) != 3 {
		t.Fatalf("fixture records %v, want migrations 1, 10 and 20", oldRecorded)
	}
	for n, rec := range oldRecorded {
		if gotRecorded[n] != rec {
			t.Errorf("migration %d was recorded %+v by the old code, now %+v (run again?)", n, rec, gotRecorded[n])
		}
	}
	if !slices.Equal(gotNums, freshNums) {
		t.Errorf("migration numbers: old db after open %v, fresh %v", gotNums, freshNums)
	}
	for name, text := range freshSchema {
		if norm(gotSchema[name]) != norm(text) {
			t.Errorf("old db after open: %s is\n%s\nwant (fresh)\n%s", name, gotSchema[name], text)
		}
	}
	for name := range gotSchema {
		if _, ok := freshSchema[name]; !ok {
			t.Errorf("old db after open has %s, a fresh one does not", name)
		}
	}
}

type record struct{ name, appliedAt string }

func recorded(tb testing.TB, db *sql.DB) map[int]record {
	tb.Helper()
	rows, err := db.Query(`SELECT n, name, applied_at FROM migrations`)
	must(tb, err)
	defer rows.Close()
	out := map[int]record{}
	for rows.Next() {
		var n int
		var r record
		must(tb, rows.Scan(&n, &r.name, &r.appliedAt))
		out[n] = r
	}
	return out
}

// A migration recorded under another name means the numbering changed under
// a live database: Open refuses instead of skipping or re-running it.
func TestOpenRefusesRenumberedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sqlite.Open(path)
	must(t, err)
	_, err = db.SQL().Exec(`UPDATE migrations SET name = '0020_something_else.sql' WHERE n = 20`)
	must(t, err)
	must(t, db.Close())
	if db, err := sqlite.Open(path); err == nil {
		db.Close()
		t.Fatal("Open accepted a database whose migration 20 has another name")
	} else if !strings.Contains(err.Error(), "0020_something_else.sql") {
		t.Fatalf("error does not name the recorded migration: %v", err)
	}
}

func norm(s string) string { return strings.Join(strings.Fields(s), " ") }
