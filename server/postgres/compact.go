package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

const metaCompactedThrough = "compacted_through"

// CompactLog drops history every phone seen within keep has pulled. It holds
// the commit lock, so no changeset commits below the horizon meanwhile, and
// it is safe while other nodes write: a phone behind the horizon is reset
// and sent a snapshot (pull.go).
func (db *DB) CompactLog(ctx context.Context, keep time.Duration) (domain.CompactResult, error) {
	var res domain.CompactResult
	err := db.update(ctx, func(tx *Tx) error {
		res = domain.CompactResult{}
		if err := tx.seqLock(ctx); err != nil {
			return err
		}
		var horizon, maxSeq int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&maxSeq); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MIN(last_cursor), $1) FROM devices
			WHERE status = 'active' AND last_seen IS NOT NULL AND last_seen >= $2`, maxSeq, tx.now.Add(-keep)).Scan(&horizon); err != nil {
			return err
		}
		done, err := metaInt(ctx, tx, metaCompactedThrough)
		if err != nil {
			return err
		}
		res.Through = done
		if horizon <= done {
			return nil
		}
		for _, q := range []string{`DELETE FROM scope_events WHERE seq <= $1`, `DELETE FROM text_rebases WHERE seq <= $1`} {
			if _, err := tx.Exec(ctx, q, horizon); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM changesets WHERE seq <= $1`, horizon) // changeset_records cascade
		if err != nil {
			return err
		}
		res.Changesets = tag.RowsAffected()
		if err := setMeta(ctx, tx, metaCompactedThrough, strconv.FormatInt(horizon, 10)); err != nil {
			return err
		}
		res.Through = horizon
		return appendAudit(ctx, tx, domain.AuditEntry{Action: "compact", Detail: map[string]any{"through": horizon, "changesets": res.Changesets}})
	})
	return res, err
}
