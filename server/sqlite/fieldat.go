package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
)

// fillFieldAt files the records stored before migration 0120 with
// domain.FieldAt, a batch per transaction, so a first sync's field subset
// holds for old data too. Until a record is filled it counts as always in
// the subset (sent, never left off). The NULLs are found from
// records_team_field alone, so a database with none costs an index scan.
func (db *DB) fillFieldAt(ctx context.Context) error {
	var ids []string
	// The write connection: Open calls this before the read pool exists.
	err := db.update(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM records INDEXED BY records_team_field WHERE field_at IS NULL`)
		ids, err = collect(rows, err, func(r *sql.Rows) (s string, err error) { return s, r.Scan(&s) })
		return err
	})
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		batch := ids[:min(500, len(ids))]
		ids = ids[len(batch):]
		err := db.update(ctx, func(tx *Tx) error {
			for _, id := range batch {
				var state []byte
				if err := tx.QueryRowContext(ctx, `SELECT state FROM records WHERE id = ?`, id).Scan(&state); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE records SET field_at = ? WHERE id = ? AND field_at IS NULL`, domain.FieldAtOf(state), id); err != nil {
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
// the store also runs it when it opens, so the first history fetched after
// an upgrade does not decode a backlog of encounters inside a request.
func (db *DB) RefreshLinks(ctx context.Context) error {
	if err := db.update(ctx, func(tx *Tx) error { return refreshLinks(ctx, tx) }); err != nil {
		return fmt.Errorf("young person links: %w", err)
	}
	return nil
}
