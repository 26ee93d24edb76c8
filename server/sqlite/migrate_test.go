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
// the one runner without re-running anything and ends with the schema a fresh
// database gets.
func TestOpenDatabaseMigratedByTwoRunners(t *testing.T) {
	old, err := os.ReadFile("testdata/schema_two_runners.sql")
	must(t, err)
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", path)
	must(t, err)
	if _, err := raw.Exec(string(old)); err != nil {
		t.Fatalf("load old schema: %v", err)
	}
	wantSchema, wantNums := schemaOf(t, raw)
	must(t, raw.Close())

	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("open a database migrated by the old runners: %v", err)
	}
	gotSchema, gotNums := schemaOf(t, db.SQL())
	must(t, db.Close())
	fresh, err := sqlite.Open(filepath.Join(t.TempDir(), "fresh.db"))
	must(t, err)
	freshSchema, freshNums := schemaOf(t, fresh.SQL())
	must(t, fresh.Close())

	if !slices.Equal(gotNums, wantNums) || !slices.Equal(freshNums, wantNums) {
		t.Errorf("migration numbers: old db after open %v, fresh %v, old code recorded %v", gotNums, freshNums, wantNums)
	}
	for _, c := range []struct {
		name string
		got  map[string]string
	}{{"old db after open", gotSchema}, {"fresh db", freshSchema}} {
		for name, text := range wantSchema {
			if norm(c.got[name]) != norm(text) {
				t.Errorf("%s: %s is\n%s\nwant\n%s", c.name, name, c.got[name], text)
			}
		}
		for name := range c.got {
			if _, ok := wantSchema[name]; !ok {
				t.Errorf("%s: unexpected %s", c.name, name)
			}
		}
	}
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
