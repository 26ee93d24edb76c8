package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// The full-text index (migration 0130): record_search holds each live
// record's domain.SearchText under the rowid search_rows gives it.

var _ domain.Searcher = (*DB)(nil)

// errNoFTS5 is Open's answer on a build without FTS5: search would not work,
// and must never quietly fall back to something else.
var errNoFTS5 = errors.New("sqlite: this binary's SQLite has no FTS5: build with -tags sqlite_fts5 (make, .ci/run and the Dockerfile set it in GOFLAGS)")

// checkFTS5 refuses a SQLite built without FTS5.
func checkFTS5(ctx context.Context, db *sql.DB) error {
	var on bool
	if err := db.QueryRowContext(ctx, `SELECT sqlite_compileoption_used('ENABLE_FTS5')`).Scan(&on); err != nil {
		return fmt.Errorf("read compile options: %w", err)
	}
	if !on {
		return errNoFTS5
	}
	return nil
}

// searchQueue is the records a transaction stored, for the index: a record
// edited by several changesets of one sync (a page of 200 from one author
// often edits the same encounter again) is indexed once, in its last
// state, instead of once per changeset; an FTS5 delete (secure-delete is on)
// costs more than the rest of storing a record.
type searchQueue struct {
	recs  map[syncengine.RecordID]*syncengine.Record
	order []syncengine.RecordID // first-stored order, so flushes are deterministic
}

func (q *searchQueue) add(rec *syncengine.Record) {
	if domain.SearchFields(rec.Type) == nil {
		return
	}
	if q.recs == nil {
		q.recs = map[syncengine.RecordID]*syncengine.Record{}
	}
	if _, ok := q.recs[rec.ID]; !ok {
		q.order = append(q.order, rec.ID)
	}
	q.recs[rec.ID] = rec
}

func (q *searchQueue) reset() { q.recs, q.order = nil, nil }

// takeFrom moves what from holds to q (records after q's, each in its
// latest state) and empties from: group commit gathers each sync's queue
// into the batch's (group.go). Everything the queue carries must move.
func (q *searchQueue) takeFrom(from *searchQueue) {
	for _, id := range from.order {
		q.add(from.recs[id])
	}
	from.reset()
}

// flushSearch indexes the queued records. It runs before the transaction
// (or a grouped sync's savepoint) ends, so the index never disagrees with
// the records a commit makes visible.
func (tx *Tx) flushSearch(ctx context.Context) error {
	q := tx.search
	tx.search.reset()
	for _, id := range q.order {
		if err := indexRecord(ctx, tx, q.recs[id]); err != nil {
			return fmt.Errorf("search index %s: %w", id, err)
		}
	}
	return nil
}

// indexRecord brings the index up to date with rec, in the transaction that
// stores it: a record that must not be found (deleted, erased, merged, a
// type not searched, no text) leaves the index.
func indexRecord(ctx context.Context, tx *Tx, rec *syncengine.Record) error {
	if domain.SearchFields(rec.Type) == nil {
		return nil
	}
	text := domain.SearchText(rec)
	var rowid int64
	var old string
	err := tx.QueryRowContext(ctx, `SELECT sr.rowid, COALESCE(s.body, '') FROM search_rows sr LEFT JOIN record_search s ON s.rowid = sr.rowid
		WHERE sr.record_id = ?`, string(rec.ID)).Scan(&rowid, &old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if text == "" {
			return nil
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO search_rows (record_id) VALUES (?)`, string(rec.ID))
		if err != nil {
			return err
		}
		if rowid, err = r.LastInsertId(); err != nil {
			return err
		}
	case err != nil:
		return err
	case old == text:
		return nil
	default:
		if _, err := tx.ExecContext(ctx, `DELETE FROM record_search WHERE rowid = ?`, rowid); err != nil {
			return err
		}
		if text == "" {
			_, err := tx.ExecContext(ctx, `DELETE FROM search_rows WHERE rowid = ?`, rowid)
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO record_search (rowid, body) VALUES (?, ?)`, rowid, text)
	return err
}

// backfillSearch indexes the records stored before the index existed, once
// (migration 0130 leaves a marker until it is done).
func (db *DB) backfillSearch(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM search_backfill`).Scan(&pending); err != nil || pending == 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, state, crc FROM records WHERE erased = 0 AND deleted = 0 AND type IN (?, ?, ?, ?)`,
			syncengine.TypeYoungPerson, syncengine.TypeEncounter, syncengine.TypeReferral, syncengine.TypeFollowUp)
		if err != nil {
			return err
		}
		var recs []*syncengine.Record
		for rows.Next() {
			var id string
			var state []byte
			var crc sql.NullInt64
			if err := rows.Scan(&id, &state, &crc); err != nil {
				rows.Close()
				return err
			}
			r, err := syncengine.DecodeRecord(state)
			if err != nil || !sound(state, crc) {
				db.markDamaged("record", id)
				continue
			}
			recs = append(recs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range recs {
			if err := indexRecord(ctx, tx, r); err != nil {
				return fmt.Errorf("index %s: %w", r.ID, err)
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM search_backfill`)
		return err
	})
}

// ftsQuery is terms as an FTS5 query: every term, each as a prefix. Terms
// are letters and digits only (domain.SearchTerms), so quoting is enough.
func ftsQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + t + `"*`
	}
	return strings.Join(parts, " AND ")
}

// Search finds live records in q's teams whose text holds every term.
func (db *DB) Search(ctx context.Context, q domain.SearchQuery) ([]domain.SearchHit, int, error) {
	q, terms, ok := q.Prepare()
	if !ok {
		return nil, 0, nil
	}
	frag, args := scopeFilter(domain.Scope{All: q.All, Teams: q.TeamIDs})
	from := `FROM record_search s JOIN search_rows sr ON sr.rowid = s.rowid JOIN records r ON r.id = sr.record_id
		WHERE record_search MATCH ? AND r.deleted = 0 AND r.erased = 0 AND ` + frag
	args = append([]any{ftsQuery(terms)}, args...)
	var hits []domain.SearchHit
	var total int
	err := db.view(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) `+from, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.type `+from+` ORDER BY s.rank, r.id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h domain.SearchHit
			if err := rows.Scan(&h.RecordID, &h.Type); err != nil {
				return err
			}
			hits = append(hits, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	return hits, total, nil
}
