package sqlite

import (
	"context"

	"github.com/joinedup/joinedup/server/domain"
)

var _ domain.SavedFilters = (*DB)(nil)

// SaveFilter keeps a person's named filter of a list (migration 0131).
func (db *DB) SaveFilter(ctx context.Context, f domain.SavedFilter) (domain.SavedFilter, error) {
	f, err := domain.CleanSavedFilter(f)
	if err != nil {
		return f, err
	}
	err = db.update(ctx, func(tx *Tx) error {
		var n int
		var same bool
		if err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(max(name = ?), 0) FROM saved_filters WHERE person_id = ? AND list = ?`,
			f.Name, f.PersonID, f.List).Scan(&n, &same); err != nil {
			return err
		}
		if n >= domain.MaxSavedFilters && !same {
			return domain.Errorf(domain.ECONFLICT, "save filter", "you have %d saved filters on this list: delete one first", n)
		}
		f.Created = tx.now
		return tx.QueryRowContext(ctx, `INSERT INTO saved_filters (person_id, list, name, query, created) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (person_id, list, name) DO UPDATE SET query = excluded.query, created = excluded.created RETURNING id`,
			f.PersonID, f.List, f.Name, f.Query, tx.NowText()).Scan(&f.ID)
	})
	return f, err
}

// SavedFilters lists a person's filters of a list, by name.
func (db *DB) SavedFilters(ctx context.Context, personID, list string) ([]domain.SavedFilter, error) {
	var out []domain.SavedFilter
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, name, query, created FROM saved_filters WHERE person_id = ? AND list = ? ORDER BY name, id`, personID, list)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			f := domain.SavedFilter{PersonID: personID, List: list}
			var created string
			if err := rows.Scan(&f.ID, &f.Name, &f.Query, &created); err != nil {
				return err
			}
			f.Created = parseTime(created)
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteSavedFilter removes one of the person's own saved filters.
func (db *DB) DeleteSavedFilter(ctx context.Context, personID string, id int64) error {
	return db.update(ctx, func(tx *Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM saved_filters WHERE id = ? AND person_id = ?`, id, personID)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return domain.Errorf(domain.ENOTFOUND, "delete saved filter", "no such saved filter")
		}
		return nil
	})
}
