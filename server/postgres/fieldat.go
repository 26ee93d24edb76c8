package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// fillFieldAt files the records stored before migration 0120 with
// domain.FieldAt, a batch per transaction (see server/sqlite's).
func (db *DB) fillFieldAt(ctx context.Context) error {
	rows, err := db.pool.Query(ctx, `SELECT id FROM records WHERE field_at IS NULL`)
	ids, err := collect(rows, err, func(r pgx.Rows) (s string, err error) { return s, r.Scan(&s) })
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		batch := ids[:min(500, len(ids))]
		ids = ids[len(batch):]
		err := db.update(ctx, func(tx *Tx) error {
			for _, id := range batch {
				var state []byte
				if err := tx.QueryRow(ctx, `SELECT state FROM records WHERE id = $1`, id).Scan(&state); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE records SET field_at = $1 WHERE id = $2 AND field_at IS NULL`, domain.FieldAtOf(state), id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("file records for first syncs: %w", err)
		}
	}
	return nil
}

// RefreshLinks brings young_person_links up to date (domain.Operations);
// the store also runs it when it opens (see server/sqlite's).
func (db *DB) RefreshLinks(ctx context.Context) error {
	if err := db.update(ctx, func(tx *Tx) error { return refreshLinks(ctx, tx) }); err != nil {
		return fmt.Errorf("young person links: %w", err)
	}
	return nil
}
