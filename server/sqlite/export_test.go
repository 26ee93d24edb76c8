package sqlite

import (
	"context"
	"database/sql"
	"strings"

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

// ReferencePull is the incremental pull as it was before the team feeds
// (pullfeed.go): every changeset after the cursor read from the log for
// this device alone, own ones left out by the query. Tests compare a sync's
// answer with it.
func ReferencePull(db *DB, person domain.Person, replica string, after int64, budget int) (bodies [][]byte, sent []string, last int64, more bool, err error) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, 0, false, err
	}
	defer tx.Rollback()
	scope, err := scopeOf(ctx, tx, person)
	if err != nil {
		return nil, nil, 0, false, err
	}
	pos, err := readPositions(ctx, tx, after, "")
	if err != nil {
		return nil, nil, 0, false, err
	}
	now := max(pos.now, pos.compacted)
	filter, fargs := scopeFilter(scope)
	rows, err := tx.QueryContext(ctx, incrementalPullSQL(filter), incrementalPullArgs(fargs, after, replica)...)
	if err != nil {
		return nil, nil, 0, false, err
	}
	defer rows.Close()
	size := 0
	last = after
	for rows.Next() {
		var seq int64
		var body []byte
		var crc sql.NullInt64
		var total int
		var mine, author string
		if err := rows.Scan(&seq, &body, &crc, &total, &mine, &author); err != nil {
			return nil, nil, 0, false, err
		}
		if ids := strings.Fields(mine); len(ids) < total {
			if body, err = restrictBody(body, ids); err != nil {
				return nil, nil, 0, false, err
			}
		}
		if len(bodies) > 0 && size+len(body) > budget {
			more = true
			break
		}
		bodies = append(bodies, body)
		size += len(body)
		sent = append(sent, strings.Fields(mine)...)
		last = seq
	}
	if !more {
		last = now
	}
	return bodies, sent, last, more, rows.Err()
}

// FeedRows counts the changesets the team feeds hold (pullfeed.go).
func FeedRows(db *DB) int {
	db.feeds.mu.Lock()
	defer db.feeds.mu.Unlock()
	n := 0
	for _, t := range db.feeds.m {
		n += len(t.rows)
	}
	return n
}

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
