package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit: syncs that arrive while the write connection is busy wait in
// one queue, and whoever gets the write turn next runs every waiting sync
// (in arrival order, up to maxGroup) in one transaction, each inside its own
// SAVEPOINT. One commit (one WAL sync) then serves them all, and every
// caller gets its answer only after that commit, so nothing is acknowledged
// that a crash could still lose.
//
// A sync that fails is rolled back to its savepoint: the others in the batch
// neither see nor lose anything by it. If the whole transaction is lost (a
// storage fault rolls it back, or the commit fails), every sync of the batch
// is run again alone, so one request's fault cannot fail another's work.

// maxGroup bounds a batch: a bigger batch holds the writer (and the answers
// of its first members) longer than one more commit costs.
const maxGroup = 128

// groupJob is one sync waiting for a batch.
type groupJob struct {
	fn    func(ctx context.Context, tx *Tx) error
	done  chan error    // buffered: the job's outcome, sent after commit
	taken chan struct{} // closed when a batch takes the job
}

// group is the queue of syncs waiting for the write turn.
type group struct {
	mu      sync.Mutex
	q       []*groupJob
	batches atomic.Int64 // transactions run (tests look at it)
}

// take removes up to max jobs from the front of the queue.
func (g *group) take(max int) []*groupJob {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.q), max)
	batch := append([]*groupJob(nil), g.q[:n]...)
	g.q = append(g.q[:0], g.q[n:]...)
	for _, j := range batch {
		close(j.taken)
	}
	return batch
}

// remove takes j out of the queue if no batch has taken it yet.
func (g *group) remove(j *groupJob) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.q {
		if q == j {
			g.q = append(g.q[:i], g.q[i+1:]...)
			return true
		}
	}
	return false
}

func (g *group) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.q)
}

// updateGrouped runs fn in a write transaction shared with the other syncs
// waiting at the time, and returns once that transaction has committed (nil)
// or fn's own error. fn may run more than once (see above): it must start
// from nothing each time. Its ctx is never cancelled: once in a batch a job
// runs to the end, because interrupting a statement would roll back the
// whole shared transaction.
func (db *DB) updateGrouped(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	if err := db.refuseWrite(); err != nil {
		return err
	}
	j := &groupJob{fn: fn, done: make(chan error, 1), taken: make(chan struct{})}
	db.group.mu.Lock()
	db.group.q = append(db.group.q, j)
	db.group.mu.Unlock()
	won, err := db.turn.lockOr(ctx, j.taken)
	if err != nil && db.group.remove(j) {
		return err
	}
	if won {
		db.runGroups(context.WithoutCancel(ctx), j)
	}
	return <-j.done
}

// runGroups runs batches while the caller holds the write turn, until the
// caller's own job has been taken, then gives the turn on. Jobs that came
// after it are left to their own callers, who wait in line for the turn
// like any other writer: a stream of syncs cannot keep the turn from a
// portal edit queued behind them.
func (db *DB) runGroups(ctx context.Context, own *groupJob) {
	max := db.GroupMax
	if max <= 0 {
		max = maxGroup
	}
	defer db.turn.unlock()
	for {
		select {
		case <-own.taken:
			return
		default:
		}
		batch := db.group.take(max)
		if len(batch) == 0 {
			return
		}
		db.group.batches.Add(1)
		if !db.runBatch(ctx, batch) {
			for _, j := range batch {
				db.group.batches.Add(1)
				db.runBatch(ctx, []*groupJob{j})
			}
		}
	}
}

// runBatch runs batch in one transaction and answers every job, unless the
// transaction itself is lost (false: nobody answered, nothing kept).
func (db *DB) runBatch(ctx context.Context, batch []*groupJob) bool {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.answerAll(batch, err)
	}
	t := &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(time.Microsecond), writer: true}
	// The write-behind set (behind.go) as the batch found it, and as each
	// sync found it: whatever a sync added to it, or flushed from it, is
	// undone with its savepoint, and the batch's with the batch.
	found := db.behind.mark()
	lost := func() bool {
		tx.Rollback()
		db.behind.restore(found)
		return false
	}
	if err := t.seeOthers(ctx); err != nil {
		lost()
		return db.answerAll(batch, err)
	}
	errs := make([]error, len(batch))
	// The search index is written once for the whole batch, after the last
	// savepoint: FTS5 writes its pending terms out as a new segment at every
	// SAVEPOINT, so indexing each sync inside its own savepoint made one
	// segment (and the merges that follow) per sync. Each sync's records
	// wait in indexed until its savepoint is released; a failed sync's are
	// dropped with its savepoint.
	var indexed searchQueue
	for i, j := range batch {
		t.noPurgesFor = ""
		if len(batch) == 1 {
			if errs[i] = j.fn(ctx, t); errs[i] == nil {
				errs[i] = t.flushSearch(ctx)
			}
			continue
		}
		if _, err := t.ExecContext(ctx, `SAVEPOINT sync`); err != nil {
			return lost()
		}
		before := db.behind.mark()
		if errs[i] = j.fn(ctx, t); errs[i] != nil {
			t.search.reset() // its records are rolled back with it
			db.behind.restore(before)
			if _, err := t.ExecContext(ctx, `ROLLBACK TO sync`); err != nil {
				// The fault took the whole transaction with it.
				return lost()
			}
			t.auditTail = nil // its audit rows are gone
		}
		if _, err := t.ExecContext(ctx, `RELEASE sync`); err != nil {
			return lost()
		}
		indexed.takeFrom(&t.search)
	}
	if len(batch) > 1 {
		// A failure here is the batch's, not one sync's: every sync is run
		// again alone (runGroups).
		t.search = indexed
		if err := t.flushSearch(ctx); err != nil {
			return lost()
		}
	}
	if len(batch) == 1 && errs[0] != nil {
		lost()
		batch[0].done <- db.noteWrite(errs[0])
		return true
	}
	if err := db.commitBatch(tx); err != nil {
		lost()
		if len(batch) == 1 {
			batch[0].done <- db.noteWrite(err)
			return true
		}
		return false
	}
	db.behind.publish()
	db.noteWrite(nil)
	db.committed()
	for i, j := range batch {
		j.done <- db.noteWrite(errs[i])
	}
	return true
}

// commitBatch commits a batch's transaction; tests replace it to fail.
func (db *DB) commitBatch(tx *sql.Tx) error {
	if db.commitFault != nil {
		if err := db.commitFault(); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// answerAll gives every job of batch the same outcome.
func (db *DB) answerAll(batch []*groupJob, err error) bool {
	err = db.noteWrite(err)
	for _, j := range batch {
		j.done <- err
	}
	return true
}
