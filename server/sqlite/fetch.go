package sqlite

import (
	"context"
	"database/sql"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Fetch sends records a phone's field-subset first sync left out
// (domain.RunFetch: what, under the pull's policy, and its audit).
func (db *DB) Fetch(ctx context.Context, req domain.FetchRequest) (*domain.FetchResult, error) {
	return domain.RunFetch(req, func(fn func(domain.FetchTx) error) error {
		return db.update(ctx, func(tx *Tx) error { return fn(&fetchSource{ctx, tx}) })
	}, func(e domain.AuditEntry) error { return db.AppendAudit(ctx, e) })
}

// fetchSource reads a fetch's records (domain.FetchSource). A damaged
// stored state is rebuilt from the log where it can be, else left out, as
// a pull leaves it out.
type fetchSource struct {
	ctx context.Context
	tx  *Tx
}

const fetchCols = `SELECT r.id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, ''), r.erased, r.state, r.crc FROM records r `

func (s *fetchSource) scan(rows *sql.Rows) (domain.FetchedRecord, error) {
	var r domain.FetchedRecord
	var crc sql.NullInt64
	if err := rows.Scan(&r.ID, &r.Type, &r.Team, &r.Service, &r.Erased, &r.State, &crc); err != nil {
		return r, err
	}
	if !sound(r.State, crc) {
		rec, err := loadRecord(s.ctx, s.tx, syncengine.RecordID(r.ID), r.State, crc)
		if err != nil {
			r.State = nil // left out
			return r, nil
		}
		r.State = syncengine.EncodeRecord(rec)
	}
	return r, nil
}

func (s *fetchSource) query(q string, args ...any) ([]domain.FetchedRecord, error) {
	rows, err := s.tx.QueryContext(s.ctx, q, args...)
	return collect(rows, err, s.scan)
}

func (s *fetchSource) Scope(p domain.Person) (domain.Scope, error) { return scopeOf(s.ctx, s.tx, p) }

func (s *fetchSource) Audit(e domain.AuditEntry) error { return appendAudit(s.ctx, s.tx, e) }

func (s *fetchSource) Record(id string) (domain.FetchedRecord, bool, error) {
	rs, err := s.query(fetchCols+`WHERE r.id = ?`, id)
	if err != nil || len(rs) == 0 {
		return domain.FetchedRecord{}, false, err
	}
	return rs[0], true, nil
}

func (s *fetchSource) History(yp, team string) ([]domain.FetchedRecord, error) {
	filed, err := s.query(fetchCols+`WHERE r.young_person_id = ? AND r.id <> ? ORDER BY r.id`, yp, yp)
	if err != nil {
		return nil, err
	}
	if err := refreshLinks(s.ctx, s.tx); err != nil {
		return nil, err
	}
	met, err := s.query(fetchCols+`JOIN young_person_links l ON l.record_id = r.id
		WHERE l.young_person_id = ? AND r.team_id = ? ORDER BY r.id`, yp, team)
	return append(filed, met...), err
}

// Rest merges the teams' id-ordered ranges of records_team_field, as a
// snapshot page does, so a page reads about what it sends.
func (s *fetchSource) Rest(teams []string, since, seq int64, after string, budget int) ([]domain.FetchedRecord, bool, error) {
	type source struct {
		rows *sql.Rows
		head domain.FetchedRecord
		ok   bool
	}
	var srcs []*source
	defer func() {
		for _, src := range srcs {
			src.rows.Close()
		}
	}()
	next := func(src *source) (err error) {
		if src.ok = src.rows.Next(); src.ok {
			src.head, err = s.scan(src.rows)
			return err
		}
		return src.rows.Err()
	}
	for _, t := range teams {
		rows, err := s.tx.QueryContext(s.ctx, restPageSQL, t, after, since, seq)
		if err != nil {
			return nil, false, err
		}
		src := &source{rows: rows}
		srcs = append(srcs, src)
		if err := next(src); err != nil {
			return nil, false, err
		}
	}
	var out []domain.FetchedRecord
	size := 0
	for {
		var src *source
		for _, x := range srcs {
			if x.ok && (src == nil || x.head.ID < src.head.ID) {
				src = x
			}
		}
		if src == nil {
			return out, false, nil
		}
		if len(out) > 0 && size+len(src.head.State) > budget {
			return out, true, nil
		}
		out = append(out, src.head)
		size += len(src.head.State)
		if err := next(src); err != nil {
			return nil, false, err
		}
	}
}

func (s *fetchSource) RestCount(teams []string, since, seq int64, after string) (done, total int64, err error) {
	for _, t := range teams {
		var d, n int64
		if err := s.tx.QueryRowContext(s.ctx, restCountSQL, after, t, since, seq).Scan(&d, &n); err != nil {
			return 0, 0, err
		}
		done, total = done+d, total+n
	}
	return done, total, nil
}

// restPageSQL reads a team's records filed before a cutoff or changed
// after a position, after an id, in id order, filtered on
// records_team_field before a row is read; restCountSQL counts them (sent,
// and in all) from the index alone (pull_plan_test.go).
const (
	restPageSQL = fetchCols + `INDEXED BY records_team_field
		WHERE r.team_id = ? AND r.id > ? AND (r.field_at < ? OR r.updated_seq > ?) AND r.erased = 0 ORDER BY r.id`
	restCountSQL = `SELECT COUNT(*) FILTER (WHERE r.id <= ?), COUNT(*) FROM records r INDEXED BY records_team_field
		WHERE r.team_id = ? AND (r.field_at < ? OR r.updated_seq > ?)`
)

// refreshLinks brings young_person_links up to date with the encounters
// changed since it was last brought up to date (migration 0121): each is
// decoded once per change, here, rather than every encounter of a team
// on every history.
func refreshLinks(ctx context.Context, tx *Tx) error {
	var through, now int64
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM young_person_links_through WHERE one = 1`).Scan(&through); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(updated_seq), 0) FROM records`).Scan(&now); err != nil {
		return err
	}
	if now <= through {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, state FROM records WHERE updated_seq > ? AND updated_seq <= ? AND type = ?`, through, now, syncengine.TypeEncounter)
	type enc struct {
		id    string
		state []byte
	}
	encs, err := collect(rows, err, func(r *sql.Rows) (e enc, err error) { return e, r.Scan(&e.id, &e.state) })
	if err != nil {
		return err
	}
	for _, e := range encs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM young_person_links WHERE record_id = ?`, e.id); err != nil {
			return err
		}
		for _, yp := range domain.LinksOf(e.state) {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO young_person_links (young_person_id, record_id) VALUES (?, ?)`, yp, e.id); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE young_person_links_through SET seq = ? WHERE one = 1`, now)
	return err
}
