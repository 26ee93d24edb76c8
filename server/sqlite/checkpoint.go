package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints run beside the writer, not inside it. SQLite's automatic
// checkpoint runs in whichever commit pushes the log past 1,000 pages: that
// commit then copies the log into the database and waits for the disk
// (fsync) while it still holds the write turn, so every sync queued behind
// it waits too (on a busy disk, hundreds of milliseconds: the p99 of the
// load benchmark). With the automatic checkpoint off on the write
// connection, a connection of its own checkpoints PASSIVE-ly every
// CheckpointEvery; a passive checkpoint never blocks writers or readers.
// Durability is unchanged: a commit is in the log either way.

// DefaultCheckpointEvery is how often the log is copied into the database.
const DefaultCheckpointEvery = 500 * time.Millisecond

// startCheckpointer turns the write connection's automatic checkpoint off
// and starts the background one. If it cannot start, the automatic one
// stays on.
func (db *DB) startCheckpointer() error {
	every := db.CheckpointEvery
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	conn, err := sql.Open("sqlite3", dsn(db.Path, "deferred", false))
	if err != nil {
		return err
	}
	conn.SetMaxOpenConns(1)
	if _, err := db.write.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		conn.Close()
		return err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	db.ckpt = &checkpointer{conn: conn, stop: stop, done: done}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				db.checkpointPassive(context.Background())
			}
		}
	}()
	return nil
}

type checkpointer struct {
	conn       *sql.DB
	stop, done chan struct{}
	failing    bool // a failure was logged; logged again only after a success
}

// checkpointPassive copies what it can of the log into the database.
func (db *DB) checkpointPassive(ctx context.Context) {
	var busy, logFrames, done int
	err := db.ckpt.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
	if err != nil && !db.ckpt.failing {
		db.logger().Warn("background WAL checkpoint failed", "err", err.Error())
	}
	db.ckpt.failing = err != nil
}

func (db *DB) stopCheckpointer() error {
	if db.ckpt == nil {
		return nil
	}
	close(db.ckpt.stop)
	<-db.ckpt.done
	err := db.ckpt.conn.Close()
	db.ckpt = nil
	return err
}
