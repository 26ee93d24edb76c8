package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// kept is what a write transaction's syncs learned that the store keeps in
// memory across transactions: the pulls' reads of the log for the team
// feeds (pullfeed.go) and the device rows written (seenDevices). It reaches
// the store only once the transaction has committed (group.go calls
// DB.keep), and a sync rolled back to its savepoint drops its own part, so
// memory never holds what a rolled-back transaction read or wrote.
type kept struct {
	fills []feedFill
	seen  []deviceSeen
}

// keptMark is where a sync's part of kept starts.
type keptMark struct{ fills, seen int }

func (k *kept) mark() keptMark { return keptMark{len(k.fills), len(k.seen)} }

// rollbackTo drops what was added since m.
func (k *kept) rollbackTo(m keptMark) {
	k.fills, k.seen = k.fills[:m.fills], k.seen[:m.seen]
}

// keep takes a committed transaction's kept.
func (db *DB) keep(k *kept) {
	db.feeds.apply(k.fills)
	db.seen.apply(k.seen)
}

// Every sync records when the device was last seen, the cursor it sent
// (compaction keeps what the furthest-behind device still needs) and how
// many changes it holds unsent: one row UPDATE per sync, and one more
// database page in each group commit. Nothing reads them at a finer grain
// than minutes (the portal's "last sync 2 minutes ago", compaction's days),
// so a sync writes them only when the pending count changed or the row
// was last written deviceSeenEvery ago or more. A cursor written late is an
// older one, which only makes compaction keep more.
const deviceSeenEvery = 30 * time.Second

// seenDevices is, per device, when the last committed sync wrote its row
// and, if a later sync did not, what that sync would have written. It is
// bounded: past seenDevicesMax it starts again empty (every device then
// writes its row once more, and the rows keep what they had).
type seenDevices struct {
	mu sync.Mutex
	m  map[string]deviceRow
}

const seenDevicesMax = 100000

// deviceSeen is one sync's bookkeeping; written: it reached the row.
type deviceSeen struct {
	id              string
	at              time.Time
	cursor, pending int64
	written         bool
}

type deviceRow struct {
	written time.Time   // when a sync last wrote the row
	pending int64       // the pending count it wrote
	late    *deviceSeen // the newest sync since, not written
}

// fresh reports whether the row of the device written last (as far as
// this process knows) still stands for a sync at now reporting pending.
func (s *seenDevices) fresh(id string, now time.Time, pending int64) bool {
	s.mu.Lock()
	d, ok := s.m[id]
	s.mu.Unlock()
	return ok && d.pending == pending && !now.Before(d.written) && now.Sub(d.written) < deviceSeenEvery
}

func (s *seenDevices) apply(seen []deviceSeen) {
	if len(seen) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= seenDevicesMax {
		s.m = map[string]deviceRow{}
	}
	for _, d := range seen {
		r := s.m[d.id]
		if d.written {
			r = deviceRow{written: d.at, pending: d.pending}
		} else {
			r.late = &d
		}
		s.m[d.id] = r
	}
}

// takeLate returns the syncs not written to their rows, and forgets them.
func (s *seenDevices) takeLate() []deviceSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []deviceSeen
	for id, r := range s.m {
		if r.late != nil {
			out = append(out, *r.late)
			r.late = nil
			s.m[id] = r
		}
	}
	return out
}

const touchDeviceSQL = `UPDATE devices SET last_seen = ?, last_sync_at = ?, last_cursor = ?, pending_reported = ? WHERE id = ?`

// touchDevice writes the sync's bookkeeping to the device's row, unless
// the row written last still stands (see deviceSeenEvery).
func touchDevice(ctx context.Context, tx *Tx, req domain.SyncRequest) error {
	d := deviceSeen{id: req.Device.ID, at: tx.now, cursor: cursorSeq(req.Cursor), pending: req.Pending}
	if !tx.db.seen.fresh(d.id, d.at, d.pending) {
		if _, err := tx.ExecContext(ctx, touchDeviceSQL, tx.NowText(), tx.NowText(), d.cursor, d.pending, d.id); err != nil {
			return err
		}
		d.written = true
	}
	tx.kept.seen = append(tx.kept.seen, d)
	return nil
}

// writeLateDevices writes the bookkeeping syncs left out to the device
// rows, for what needs them exact: log compaction's horizon is the lowest
// cursor an active device sent, and text compaction waits for every device
// that may write a record to have pulled its last change. Should tx roll
// back, the rows keep their older values, which only makes either keep
// more.
func writeLateDevices(ctx context.Context, tx *Tx) error {
	for _, d := range tx.db.seen.takeLate() {
		at := formatTime(d.at)
		if _, err := tx.ExecContext(ctx, touchDeviceSQL, at, at, d.cursor, d.pending, d.id); err != nil {
			return err
		}
	}
	return nil
}
