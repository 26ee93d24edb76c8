package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// The full-text index (migration 0130): record_search holds each live
// record's domain.SearchText and its tsvector, under a GIN index.

var (
	_ domain.Searcher     = (*DB)(nil)
	_ domain.SavedFilters = (*DB)(nil)
)

// indexRecord brings the index up to date with rec in the transaction that
// stores it; a record that must not be found leaves the index.
func indexRecord(ctx context.Context, tx *Tx, rec *syncengine.Record) error {
	if domain.SearchFields(rec.Type) == nil {
		return nil
	}
	text := domain.SearchText(rec)
	if text == "" {
		_, err := tx.Exec(ctx, `DELETE FROM record_search WHERE record_id = $1`, string(rec.ID))
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO record_search (record_id, body) VALUES ($1, $2)
		ON CONFLICT (record_id) DO UPDATE SET body = excluded.body WHERE record_search.body <> excluded.body`, string(rec.ID), text)
	return err
}

// backfillSearch indexes the records stored before the index existed, once.
func (db *DB) backfillSearch(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		// Two nodes starting at once: one does it, the other waits and finds
		// nothing pending.
		var pending int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM search_backfill FOR UPDATE) p`).Scan(&pending); err != nil || pending == 0 {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT state FROM records WHERE NOT erased AND NOT deleted AND type = ANY($1)`,
			[]string{syncengine.TypeYoungPerson, syncengine.TypeEncounter, syncengine.TypeReferral, syncengine.TypeFollowUp})
		recs, err := collect(rows, err, func(r pgx.Rows) (*syncengine.Record, error) {
			var state []byte
			if err := r.Scan(&state); err != nil {
				return nil, err
			}
			return syncengine.DecodeRecord(state)
		})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := indexRecord(ctx, tx, r); err != nil {
				return fmt.Errorf("index %s: %w", r.ID, err)
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM search_backfill`)
		return err
	})
}

// tsQuery is terms as a tsquery: every term, each as a prefix. Terms are
// letters and digits only (domain.SearchTerms): nothing to escape.
func tsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t + ":*"
	}
	return strings.Join(parts, " & ")
}

// searchFrom is the body of a search: $1 the tsquery, $2 the whole
// organisation, $3 the teams. The GIN index serves the match
// (TestSearchUsesIndex).
const searchFrom = `FROM record_search s JOIN records r ON r.id = s.record_id, to_tsquery('simple', $1) q
		WHERE s.doc @@ q AND NOT r.deleted AND NOT r.erased AND ($2 OR r.team_id = ANY($3))`

// Search finds live records in q's teams whose text holds every term.
func (db *DB) Search(ctx context.Context, q domain.SearchQuery) ([]domain.SearchHit, int, error) {
	q, terms, ok := q.Prepare()
	if !ok {
		return nil, 0, nil
	}
	from := searchFrom
	args := []any{tsQuery(terms), q.All, q.TeamIDs}
	var hits []domain.SearchHit
	var total int
	err := db.view(ctx, func(tx *Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) `+from, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT r.id, r.type `+from+` ORDER BY ts_rank(s.doc, q) DESC, r.id LIMIT $4 OFFSET $5`,
			append(args, q.Limit, q.Offset)...)
		hits, err = collect(rows, err, func(r pgx.Rows) (domain.SearchHit, error) {
			var h domain.SearchHit
			return h, r.Scan(&h.RecordID, &h.Type)
		})
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	return hits, total, nil
}

// SaveFilter keeps a person's named filter of a list (migration 0131).
func (db *DB) SaveFilter(ctx context.Context, f domain.SavedFilter) (domain.SavedFilter, error) {
	f, err := domain.CleanSavedFilter(f)
	if err != nil {
		return f, err
	}
	err = db.update(ctx, func(tx *Tx) error {
		// The person's row is the lock that keeps two saves from both
		// passing the count.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM people WHERE id = $1 FOR UPDATE`, f.PersonID); err != nil {
			return err
		}
		var n int
		var same bool
		if err := tx.QueryRow(ctx, `SELECT count(*), COALESCE(bool_or(name = $1), false) FROM saved_filters WHERE person_id = $2 AND list = $3`,
			f.Name, f.PersonID, f.List).Scan(&n, &same); err != nil {
			return err
		}
		if n >= domain.MaxSavedFilters && !same {
			return domain.Errorf(domain.ECONFLICT, "save filter", "you have %d saved filters on this list: delete one first", n)
		}
		f.Created = tx.now
		return tx.QueryRow(ctx, `INSERT INTO saved_filters (person_id, list, name, query, created) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (person_id, list, name) DO UPDATE SET query = excluded.query, created = excluded.created RETURNING id`,
			f.PersonID, f.List, f.Name, f.Query, tx.now).Scan(&f.ID)
	})
	return f, err
}

// SavedFilters lists a person's filters of a list, by name.
func (db *DB) SavedFilters(ctx context.Context, personID, list string) ([]domain.SavedFilter, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, query, created FROM saved_filters WHERE person_id = $1 AND list = $2 ORDER BY name, id`, personID, list)
	return collect(rows, err, func(r pgx.Rows) (domain.SavedFilter, error) {
		f := domain.SavedFilter{PersonID: personID, List: list}
		err := r.Scan(&f.ID, &f.Name, &f.Query, &f.Created)
		f.Created = f.Created.UTC()
		return f, err
	})
}

// DeleteSavedFilter removes one of the person's own saved filters.
func (db *DB) DeleteSavedFilter(ctx context.Context, personID string, id int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM saved_filters WHERE id = $1 AND person_id = $2`, id, personID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "delete saved filter", "no such saved filter")
	}
	return nil
}
