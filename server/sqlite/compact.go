package sqlite

import (
	"context"
	"strconv"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// metaCompactedThrough records the highest log position compacted away.
const metaCompactedThrough = "compacted_through"

// CompactLog folds acknowledged history away. The records table already holds
// every change applied (it is the engine's snapshot), so the changeset log is
// only needed by devices that have not pulled it yet. Everything at or below
// the lowest cursor acknowledged by an active device seen within keep is
// deleted, with its record index and scope events. A device that comes back
// from further behind is sent a reset and a snapshot of its scope on its next
// sync (its own pushes go first in that round trip, so nothing it wrote is
// lost); a new device starts from a snapshot anyway. Retried pushes of
// deleted changesets are still recognised as duplicates, by the engine's
// per-record version vectors.
func (db *DB) CompactLog(ctx context.Context, keep time.Duration) (domain.CompactResult, error) {
	var res domain.CompactResult
	err := db.update(ctx, func(tx *Tx) error {
		since := formatTime(tx.now.Add(-keep))
		var horizon, max int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&max); err != nil {
			return err
		}
		// The lowest position an active, recently seen device still needs.
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(MIN(last_cursor), ?) FROM devices
			WHERE status = 'active' AND last_seen IS NOT NULL AND last_seen >= ?`, max, since).Scan(&horizon)
		if err != nil {
			return err
		}
		done, err := compactedThrough(ctx, tx)
		if err != nil {
			return err
		}
		res.Through = done
		if horizon <= done {
			return nil
		}
		// Rows that refer to the log go first (foreign keys).
		for _, q := range []string{`DELETE FROM changeset_records WHERE seq <= ?`, `DELETE FROM scope_events WHERE seq <= ?`, `DELETE FROM text_rebases WHERE seq <= ?`} {
			if _, err := tx.ExecContext(ctx, q, horizon); err != nil {
				return err
			}
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM changesets WHERE seq <= ?`, horizon)
		if err != nil {
			return err
		}
		res.Changesets, _ = r.RowsAffected()
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			metaCompactedThrough, strconv.FormatInt(horizon, 10)); err != nil {
			return err
		}
		res.Through = horizon
		return appendAudit(ctx, tx, domain.AuditEntry{Action: "compact", Detail: map[string]any{"through": horizon, "changesets": res.Changesets}})
	})
	return res, err
}

func compactedThrough(ctx context.Context, tx *Tx) (int64, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = ?), '0')`, metaCompactedThrough).Scan(&v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
