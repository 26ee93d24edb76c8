package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/sqlite"
)

// TestCommitsLeaveCheckpointsToTheBackground: a commit does not copy the WAL
// into the database itself (SQLite's automatic checkpoint would, every
// 1,000 pages, holding the write turn while it waits for the disk); the
// background checkpoint does, without blocking anyone. (Commits here bypass
// the store's transactions, so nothing asks the background one to run.)
func TestCommitsLeaveCheckpointsToTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := sqlite.NewDB(path)
	db.CheckpointEvery = time.Hour // only CheckpointNow below
	must(t, db.Open())
	defer db.Close()
	w := db.SQL()
	var auto, pageSize int64
	must(t, w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto))
	must(t, w.QueryRow(`PRAGMA page_size`).Scan(&pageSize))
	if auto < 10000 {
		t.Fatalf("write connection checkpoints every %d pages itself, want only past 10,000 (a safety net)", auto)
	}
	_, err := w.Exec(`CREATE TABLE filler (b BLOB)`)
	must(t, err)
	const commits = 3000 // a page each: three times the automatic checkpoint's 1,000
	for i := 0; i < commits; i++ {
		_, err := w.Exec(`INSERT INTO filler VALUES (randomblob(?))`, pageSize-200)
		must(t, err)
	}
	st, err := os.Stat(path + "-wal")
	must(t, err)
	if st.Size() < 2*1000*pageSize {
		t.Fatalf("WAL is %d pages after %d one-page commits: a commit checkpointed", st.Size()/pageSize, commits)
	}
	main, err := os.Stat(path)
	must(t, err)
	if main.Size() >= commits*pageSize {
		t.Fatalf("database file already holds the commits (%d pages) before any checkpoint", main.Size()/pageSize)
	}
	sqlite.CheckpointNow(db)
	if main, err = os.Stat(path); err != nil || main.Size() < commits*pageSize {
		t.Fatalf("after the background checkpoint the database file is %d pages, want >= %d (%v)", main.Size()/pageSize, commits, err)
	}
}
