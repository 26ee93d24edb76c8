package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
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

// fetchSource reads a fetch's records (domain.FetchSource).
type fetchSource struct {
	ctx context.Context
	tx  *Tx
}

const fetchCols = `SELECT r.id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, ''), r.erased, r.state FROM records r `

func (s *fetchSource) query(q string, args ...any) ([]domain.FetchedRecord, error) {
	rows, err := s.tx.Query(s.ctx, q, args...)
	return collect(rows, err, func(rows pgx.Rows) (r domain.FetchedRecord, err error) {
		return r, rows.Scan(&r.ID, &r.Type, &r.Team, &r.Service, &r.Erased, &r.State)
	})
}

func (s *fetchSource) Scope(p domain.Person) (domain.Scope, error) { return scopeOf(s.ctx, s.tx, p) }

func (s *fetchSource) Audit(e domain.AuditEntry) error { return appendAudit(s.ctx, s.tx, e) }

func (s *fetchSource) Record(id string) (domain.FetchedRecord, bool, error) {
	rs, err := s.query(fetchCols+`WHERE r.id = $1`, id)
	if err != nil || len(rs) == 0 {
		return domain.FetchedRecord{}, false, err
	}
	return rs[0], true, nil
}

func (s *fetchSource) History(yp, team string) ([]domain.FetchedRecord, error) {
	filed, err := s.query(fetchCols+`WHERE r.young_person_id = $1 AND r.id <> $1 ORDER BY r.id`, yp)
	if err != nil {
		return nil, err
	}
	if err := refreshLinks(s.ctx, s.tx); err != nil {
		return nil, err
	}
	met, err := s.query(fetchCols+`JOIN young_person_links l ON l.record_id = r.id
		WHERE l.young_person_id = $1 AND r.team_id = $2 ORDER BY r.id`, yp, team)
	return append(filed, met...), err
}

func (s *fetchSource) Rest(teams []string, since, seq int64, after string, budget int) ([]domain.FetchedRecord, bool, error) {
	rows, err := s.tx.Query(s.ctx, fetchCols+`WHERE r.team_id = ANY($1::text[]) AND r.id > $2 AND (r.field_at < $3 OR r.updated_seq > $4)
		AND NOT r.erased ORDER BY r.id`, teams, after, since, seq)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []domain.FetchedRecord
	size := 0
	for rows.Next() {
		var r domain.FetchedRecord
		if err := rows.Scan(&r.ID, &r.Type, &r.Team, &r.Service, &r.Erased, &r.State); err != nil {
			return nil, false, err
		}
		if len(out) > 0 && size+len(r.State) > budget {
			return out, true, nil
		}
		out = append(out, r)
		size += len(r.State)
	}
	return out, false, rows.Err()
}

func (s *fetchSource) RestCount(teams []string, since, seq int64, after string) (done, total int64, err error) {
	err = s.tx.QueryRow(s.ctx, `SELECT COUNT(*) FILTER (WHERE r.id <= $1), COUNT(*) FROM records r
		WHERE r.team_id = ANY($2::text[]) AND (r.field_at < $3 OR r.updated_seq > $4)`, after, teams, since, seq).Scan(&done, &total)
	return done, total, err
}

// refreshLinks brings young_person_links up to date with the encounters
// changed since it was last (see server/sqlite's). It reads only up to the
// highest committed log position, as a pull does, so a late commit below
// it is never stepped over; the row lock on links_through makes two nodes'
// refreshes take turns (the second finds little or nothing to do).
func refreshLinks(ctx context.Context, tx *Tx) error {
	var through int64
	if err := tx.QueryRow(ctx, `SELECT seq FROM young_person_links_through WHERE one = 1 FOR UPDATE`).Scan(&through); err != nil {
		return err
	}
	now, _, err := logHead(ctx, tx)
	if err != nil {
		return err
	}
	if now <= through {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, state FROM records WHERE updated_seq > $1 AND updated_seq <= $2 AND type = $3`, through, now, syncengine.TypeEncounter)
	encs, err := collect(rows, err, func(r pgx.Rows) (e domain.FetchedRecord, err error) { return e, r.Scan(&e.ID, &e.State) })
	if err != nil {
		return err
	}
	for _, e := range encs {
		if _, err := tx.Exec(ctx, `DELETE FROM young_person_links WHERE record_id = $1`, e.ID); err != nil {
			return err
		}
		for _, yp := range domain.LinksOf(e.State) {
			if _, err := tx.Exec(ctx, `INSERT INTO young_person_links (young_person_id, record_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, yp, e.ID); err != nil {
				return err
			}
		}
	}
	_, err = tx.Exec(ctx, `UPDATE young_person_links_through SET seq = GREATEST(seq, $1) WHERE one = 1`, now)
	return err
}
