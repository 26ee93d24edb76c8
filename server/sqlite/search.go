package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
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
// state, instead of once per changeset.
type searchQueue struct {
	recs domain.LastStates[*syncengine.Record]
	// scrub: something was erased, so the index must lose every deleted
	// entry before the transaction commits (see flushSearch).
	scrub bool
}

func (q *searchQueue) add(rec *syncengine.Record) {
	if domain.SearchFields(rec.Type) == nil {
		return
	}
	q.recs.Put(rec.ID, rec)
}

func (q *searchQueue) reset() { *q = searchQueue{} }

// erased marks the transaction as one that erased or redacted something:
// its flush cleans the index (flushSearch), and the WAL is truncated after
// its commit (erasedSince, checkpointAfterErasure). Every erasure path
// calls it.
func (tx *Tx) erased() {
	tx.search.scrub = true
	tx.db.erasedSince.Store(true)
}

// takeFrom moves what from holds to q (records after q's, each in its
// latest state) and empties from: group commit gathers each sync's queue
// into the batch's (group.go). Everything the queue carries must move.
func (q *searchQueue) takeFrom(from *searchQueue) {
	for _, rec := range from.recs.Values() {
		q.add(rec)
	}
	// An erasure in one grouped sync obliges the batch's flush to clean
	// the index, or its words would outlive it in the segments.
	q.scrub = q.scrub || from.scrub
	from.reset()
}

// flushSearch indexes the queued records. It runs before the transaction
// (or a grouped sync's savepoint) ends, so the index never disagrees with
// the records a commit makes visible.
//
// The index runs without FTS5's secure-delete (migration 0180): a changed
// record's old words stay in the index's segments, marked deleted, until
// FTS5 merges them away. After an erasure that is not good enough: the
// erased words must leave the file. 'optimize' rewrites the index as one
// segment without any deleted entry, and the connection's secure_delete
// pragma zeroes the pages the old segments free (the WAL frames holding
// them are truncated after the commit, checkpointAfterErasure). Its cost
// grows with the index, and erasures are rare.
func (tx *Tx) flushSearch(ctx context.Context) error {
	q := tx.search
	tx.search.reset()
	if err := indexRecords(ctx, tx, q.recs.Values()); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	if q.scrub {
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_search (record_search) VALUES ('optimize')`); err != nil {
			return fmt.Errorf("search index: clean after erasure: %w", err)
		}
	}
	return nil
}

// indexRecords brings the index up to date with recs, in the transaction
// that stores them: a record that must not be found (deleted, erased,
// merged, a type not searched, no text) leaves the index. What each row
// indexes is known by its digest, in one read for all of recs, so the
// index itself is only written, never read: a read of an FTS5 table
// flushes its pending terms into a segment of their own.
func indexRecords(ctx context.Context, tx *Tx, recs []*syncengine.Record) error {
	type row struct {
		id     string
		rowid  int64
		digest []byte
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		if domain.SearchFields(r.Type) != nil {
			ids = append(ids, string(r.ID))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT record_id, rowid, digest FROM search_rows WHERE record_id IN (SELECT value FROM json_each(?))`, string(list))
	found, err := collect(rows, err, func(r *sql.Rows) (x row, err error) { return x, r.Scan(&x.id, &x.rowid, &x.digest) })
	if err != nil {
		return err
	}
	have := make(map[string]row, len(found))
	for _, r := range found {
		have[r.id] = r
	}
	for _, rec := range recs {
		if domain.SearchFields(rec.Type) == nil {
			continue
		}
		text := domain.SearchText(rec)
		sum := sha256.Sum256([]byte(text))
		old, ok := have[string(rec.ID)]
		switch {
		case !ok && text == "":
			continue
		case !ok:
			// Exec, not RETURNING: a query costs the driver a cursor and its
			// column names, twice this insert's own work.
			r, err := tx.ExecContext(ctx, `INSERT INTO search_rows (record_id, digest) VALUES (?, ?)`, string(rec.ID), sum[:])
			if err != nil {
				return fmt.Errorf("%s: %w", rec.ID, err)
			}
			if old.rowid, err = r.LastInsertId(); err != nil {
				return err
			}
		case bytes.Equal(old.digest, sum[:]):
			continue
		default:
			// A row indexed before digests existed may not be in the index
			// at all (an empty text): deleting what is not there is a no-op.
			if _, err := tx.ExecContext(ctx, `DELETE FROM record_search WHERE rowid = ?`, old.rowid); err != nil {
				return fmt.Errorf("%s: %w", rec.ID, err)
			}
			if text == "" {
				if _, err := tx.ExecContext(ctx, `DELETE FROM search_rows WHERE rowid = ?`, old.rowid); err != nil {
					return fmt.Errorf("%s: %w", rec.ID, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE search_rows SET digest = ? WHERE rowid = ?`, sum[:], old.rowid); err != nil {
				return fmt.Errorf("%s: %w", rec.ID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_search (rowid, body) VALUES (?, ?)`, old.rowid, text); err != nil {
			return fmt.Errorf("%s: %w", rec.ID, err)
		}
	}
	return nil
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
		if err := indexRecords(ctx, tx, recs); err != nil {
			return err
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
