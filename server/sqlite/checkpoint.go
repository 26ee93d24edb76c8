package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints run beside the writer, not inside it. SQLite's automatic
// checkpoint runs in whichever commit pushes the log past 1,000 pages: that
// commit then copies the log into the database and waits for the disk
// (fsync) while it still holds the write turn, so every sync queued behind
// it waits too (on a busy disk, hundreds of milliseconds: the p99 of the
// load benchmark). Here a connection of its own checkpoints PASSIVE-ly
// (never blocking writers or readers) soon after each commit, at most every
// checkpointGap, and every CheckpointEvery regardless; the write
// connection's automatic checkpoint stays only as a safety net at
// safetyPages, for a single transaction bigger than that (a log that big
// slows every page read until it is copied back). Durability is unchanged:
// a commit is in the log either way.

// DefaultCheckpointEvery is how often the log is copied into the database
// when no commit asked for it.
const DefaultCheckpointEvery = 500 * time.Millisecond

const (
	checkpointGap = 50 * time.Millisecond
	safetyPages   = 10000
)

// startCheckpointer moves the write connection's automatic checkpoint to
// safetyPages and starts the background one. If it cannot start, the
// automatic one stays as it was.
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
	if _, err := db.write.Exec(fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, safetyPages)); err != nil {
		conn.Close()
		return err
	}
	stop, done, kick := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	db.ckpt = &checkpointer{conn: conn, stop: stop, done: done, kick: kick}
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-kick:
			case <-t.C:
			}
			db.checkpointPassive(context.Background())
			select {
			case <-stop:
				return
			case <-time.After(checkpointGap):
			}
		}
	}()
	return nil
}

type checkpointer struct {
	conn       *sql.DB
	stop, done chan struct{}
	kick       chan struct{} // a commit wrote to the log
	failing    atomic.Bool   // a failure was logged; logged again only after a success (CheckpointNow runs it beside the background)
	stopped    sync.Once
}

// committed asks the background checkpoint to run soon.
func (db *DB) committed() {
	if db.ckpt == nil {
		return
	}
	select {
	case db.ckpt.kick <- struct{}{}:
	default:
	}
}

// checkpointPassive copies what it can of the log into the database.
func (db *DB) checkpointPassive(ctx context.Context) {
	var busy, logFrames, done int
	err := db.ckpt.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
	if err != nil && !db.ckpt.failing.Load() {
		db.logger().Warn("background WAL checkpoint failed", "err", err.Error())
	}
	db.ckpt.failing.Store(err != nil)
}

func (db *DB) stopCheckpointer() error {
	if db.ckpt == nil {
		return nil
	}
	var err error
	db.ckpt.stopped.Do(func() {
		close(db.ckpt.stop)
		<-db.ckpt.done
		err = db.ckpt.conn.Close()
	})
	return err
}
