package sqlite

import (
	"context"

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

// StoreRuleEditsOneByOne makes the rules' edits be stored each as a
// changeset of its own, as before they were stored a round at a time: the
// reference the batched store is compared with.
func StoreRuleEditsOneByOne(db *DB, each bool) { db.editEach = each }
