package sqlite

import "github.com/joinedup/joinedup/server/domain"

// SetSyncFault makes every sync that f fails roll back after all its writes.
func SetSyncFault(db *DB, f func(domain.SyncRequest) error) { db.syncFault = f }

// GroupBatches counts the write transactions group commit has run.
func GroupBatches(db *DB) int64 { return db.group.batches.Load() }

// GroupWaiting counts the syncs waiting for a batch.
func GroupWaiting(db *DB) int { return db.group.waiting() }
