package sqlite

import (
	"context"
	"database/sql"

	"github.com/joinedup/joinedup/server/domain"
)

// SetSyncFault makes every sync that f fails roll back after all its
// writes; with lose set, the fault also takes the whole transaction with it
// (as a storage fault does).
func SetSyncFault(db *DB, lose bool, f func(domain.SyncRequest) error) {
	if f == nil {
		db.syncFault = nil
		return
	}
	db.syncFault = func(tx *Tx, req domain.SyncRequest) error {
		err := f(req)
		if err != nil && lose {
			tx.ExecContext(context.Background(), `ROLLBACK`)
		}
		return err
	}
}

// GroupBatches counts the write transactions group commit has run.
func GroupBatches(db *DB) int64 { return db.group.batches.Load() }

// GroupWaiting counts the syncs waiting for a batch.
func GroupWaiting(db *DB) int { return db.group.waiting() }

// CheckpointNow runs one background checkpoint.
func CheckpointNow(db *DB) { db.checkpointPassive(context.Background()) }

// AuthCacheHits counts authentications answered from the cache.
func AuthCacheHits(db *DB) int64 { return db.auth.hits.Load() }

// Crash stops db as a killed process would: the write-behind set is not
// written, the WAL is not checkpointed; what was committed stays.
func Crash(db *DB) {
	w := &db.behind
	if w.stop != nil {
		w.stopOnce.Do(func() { close(w.stop) })
		<-w.done
	}
	db.stopCheckpointer()
	db.read.Close()
	db.write.Close()
}

// BehindPending reports whether committed pushes wait in the write-behind set.
func BehindPending(db *DB) bool { return db.behind.pending() }

// BehindReplays counts the times a write transaction found another
// process had written the file (seeOthers).
func BehindReplays(db *DB) int64 { return db.behind.replays.Load() }

// BehindFlushes counts the write-behind set's flushes.
func BehindFlushes(db *DB) int64 { return db.behind.flushes.Load() }

// RawSQL is the write handle without writing the set first: the rows as
// stored, for tests that look behind the write-behind set.
func RawSQL(db *DB) interface {
	QueryRow(query string, args ...any) *sql.Row
} {
	return db.write
}

// SetCommitFault makes group commit's batch commits fail while f does.
func SetCommitFault(db *DB, f func() error) { db.commitFault = f }

// StoreRuleEditsOneByOne makes the rules' edits be stored each as a
// changeset of its own, as before they were stored a round at a time: the
// reference the batched store is compared with.
func StoreRuleEditsOneByOne(db *DB, each bool) { db.editEach = each }
