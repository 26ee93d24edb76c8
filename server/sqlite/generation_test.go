package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// syncAs enrols a phone for w1 and returns a function that pulls with a cursor.
func pullAs(t *testing.T, db *sqlite.DB, cred string) func(cursor string) (*domain.SyncResult, error) {
	return func(cursor string) (*domain.SyncResult, error) {
		ctx := context.Background()
		d, p, err := db.Authenticate(ctx, cred)
		must(t, err)
		return db.Sync(ctx, domain.SyncRequest{Device: d, Person: p, Cursor: cursor})
	}
}

// TestCursorFromAnotherHistoryIsRefused: a cursor names positions in one
// history of the log. After the database is put back from a backup it must be
// answered cursor_ahead even when the restored log is longer than the cursor,
// and a cursor from before generations existed is treated the same way,
// while a restart of the same database keeps every cursor valid.
func TestCursorFromAnotherHistoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := sqlite.NewDB(live)
	db.Now = func() time.Time { return time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC) }
	must(t, db.Open())
	mustOrg(t, db)
	ctx := context.Background()
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	e, err := db.Enrol(ctx, code, "sim")
	must(t, err)
	res, err := pullAs(t, db, e.Credential)("")
	must(t, err)
	before := res.Cursor
	backup := filepath.Join(dir, "backup.db")
	must(t, db.Backup(ctx, backup))
	must(t, db.Close())

	// Restarting the live database keeps its history: the cursor still holds.
	db = sqlite.NewDB(live)
	must(t, db.Open())
	if db.Restored() {
		t.Fatal("a restarted live database was taken for a restored backup")
	}
	if _, err := pullAs(t, db, e.Credential)(before); err != nil {
		t.Fatalf("cursor refused after a plain restart: %v", err)
	}
	must(t, db.Close())

	// The backup put back in place starts a new history.
	db = sqlite.NewDB(backup)
	must(t, db.Open())
	defer db.Close()
	if !db.Restored() {
		t.Fatal("a backup put back in place was not noticed")
	}
	pull := pullAs(t, db, e.Credential)
	oldFormat := before[strings.Index(before, ".")+1:]
	for _, tc := range []struct{ name, cursor, want string }{
		{"cursor from before the restore", before, domain.ECURSORAHEAD},
		{"cursor without a generation", oldFormat, domain.ECURSORAHEAD},
		{"no cursor", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pull(tc.cursor)
			if got := syncengine.ErrorCode(err); err != nil && got != tc.want || err == nil && tc.want != "" {
				t.Fatalf("pull with %q: got %v, want %q", tc.cursor, err, tc.want)
			}
		})
	}
	res, err = pull("")
	must(t, err)
	if _, err := pull(res.Cursor); err != nil {
		t.Fatalf("a cursor of the new history is refused: %v", err)
	}
	if res.Cursor[:strings.Index(res.Cursor, ".")] == before[:strings.Index(before, ".")] {
		t.Fatalf("restored database kept the old generation: %s vs %s", res.Cursor, before)
	}
}
