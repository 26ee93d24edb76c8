package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Fetch sends records a phone's field-subset first sync left out: named
// ones, a young person's history, or the next page of the rest. Each record
// is read under the same policy as a pull (Scope.Contains), and what is
// sent is audited as a pull is ("sync", with the record ids). A record the
// device may not read is answered exactly as one that does not exist, and
// the refusal is audited.
func (db *DB) Fetch(ctx context.Context, req domain.FetchRequest) (*domain.FetchResult, error) {
	res := &domain.FetchResult{}
	var refused string
	err := db.update(ctx, func(tx *Tx) error {
		scope, err := scopeOf(ctx, tx, req.Person)
		if err != nil {
			return err
		}
		if err := domain.CheckFetch(scope, req); err != nil {
			return err
		}
		var rows []fetchRow
		switch {
		case req.Rest:
			rows, err = fetchRest(ctx, tx, scope, req, res)
		case req.YoungPerson != "":
			rows, err = fetchYoungPerson(ctx, tx, scope, req.YoungPerson)
		default:
			rows, err = fetchIDs(ctx, tx, scope, req.IDs)
		}
		var nf *notReadable
		if errors.As(err, &nf) {
			refused = nf.id
			return domain.Errorf(domain.ENOTFOUND, "fetch", "record not found")
		} else if err != nil {
			return err
		}
		for _, r := range rows {
			if !sound(r.state, r.crc) {
				rec, err := loadRecord(ctx, tx, syncengine.RecordID(r.id), r.state, r.crc)
				if err != nil {
					// Left out, as a pull leaves a damaged record out.
					continue
				}
				r.state = syncengine.EncodeRecord(rec)
			}
			res.Snapshots = append(res.Snapshots, r.state)
			res.SentRecords = append(res.SentRecords, r.id)
		}
		if len(res.SentRecords) == 0 {
			return nil
		}
		return appendAudit(ctx, tx, domain.FetchAudit(req, res))
	})
	if refused != "" {
		if aerr := db.AppendAudit(ctx, domain.FetchRefusedAudit(req, refused)); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

type fetchRow struct {
	id    string
	state []byte
	crc   sql.NullInt64
}

// notReadable names the first requested record the device may not read (or
// that does not exist: the two are answered alike).
type notReadable struct{ id string }

func (e *notReadable) Error() string { return "record not readable: " + e.id }

const fetchCols = `SELECT r.id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, ''), r.erased, r.state, r.crc FROM records r `

func scanFetch(rows *sql.Rows, scope domain.Scope) (fetchRow, bool, error) {
	var r fetchRow
	var typ, team, svc string
	var erased bool
	if err := rows.Scan(&r.id, &typ, &team, &svc, &erased, &r.state, &r.crc); err != nil {
		return r, false, err
	}
	return r, !erased && scope.Contains(typ, team, svc), nil
}

func fetchIDs(ctx context.Context, tx *Tx, scope domain.Scope, ids []string) ([]fetchRow, error) {
	var out []fetchRow
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, fetchCols+`WHERE r.id = ?`, id)
		if err != nil {
			return nil, err
		}
		ok := false
		for rows.Next() {
			r, readable, err := scanFetch(rows, scope)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if readable {
				out, ok = append(out, r), true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if !ok {
			return nil, &notReadable{id}
		}
	}
	return out, nil
}

// fetchYoungPerson reads a young person's history as the scope sees it:
// the profile, the referrals and follow-ups filed under them, and their
// team's encounters that name them (decoded: no column says who an
// encounter met).
func fetchYoungPerson(ctx context.Context, tx *Tx, scope domain.Scope, ypID string) ([]fetchRow, error) {
	out, err := fetchIDs(ctx, tx, scope, []string{ypID})
	if err != nil {
		return nil, err
	}
	var team string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = ? AND type = ?`, ypID, syncengine.TypeYoungPerson).Scan(&team); errors.Is(err, sql.ErrNoRows) {
		return nil, &notReadable{ypID}
	} else if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, fetchCols+`WHERE r.young_person_id = ? AND r.id <> ? ORDER BY r.id`, ypID, ypID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, readable, err := scanFetch(rows, scope)
		if err != nil {
			return nil, err
		}
		if readable {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	encs, err := tx.QueryContext(ctx, fetchCols+`WHERE r.team_id = ? AND r.type = ? ORDER BY r.id`, team, syncengine.TypeEncounter)
	if err != nil {
		return nil, err
	}
	defer encs.Close()
	for encs.Next() {
		r, readable, err := scanFetch(encs, scope)
		if err != nil {
			return nil, err
		}
		if !readable {
			continue
		}
		rec, err := syncengine.DecodeRecord(r.state)
		if err != nil {
			continue
		}
		if slices.Contains(domain.LinkedYoungPeople(rec), ypID) {
			out = append(out, r)
		}
	}
	return out, encs.Err()
}

// fetchRest reads the next page of the scope's teams' records older than
// the first sync's cutoff (what it left out), in id order from req.After.
func fetchRest(ctx context.Context, tx *Tx, scope domain.Scope, req domain.FetchRequest, res *domain.FetchResult) ([]fetchRow, error) {
	budget := req.PageBytes
	if budget <= 0 {
		budget = domain.DefaultPageBytes
	}
	type source struct {
		rows *sql.Rows
		head fetchRow
		ok   bool
	}
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.rows.Close()
		}
	}()
	next := func(s *source) error {
		if s.ok = s.rows.Next(); s.ok {
			return s.rows.Scan(&s.head.id, &s.head.state, &s.head.crc)
		}
		return s.rows.Err()
	}
	for _, t := range scope.Teams {
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, r.crc FROM records r INDEXED BY records_team_field
			WHERE r.team_id = ? AND r.id > ? AND r.field_at < ? AND r.erased = 0 ORDER BY r.id`, t, req.After, req.Since)
		if err != nil {
			return nil, err
		}
		s := &source{rows: rows}
		srcs = append(srcs, s)
		if err := next(s); err != nil {
			return nil, err
		}
	}
	var out []fetchRow
	size := 0
	res.After = req.After
	for {
		var src *source
		for _, s := range srcs {
			if s.ok && (src == nil || s.head.id < src.head.id) {
				src = s
			}
		}
		if src == nil {
			break
		}
		if len(out) > 0 && size+len(src.head.state) > budget {
			res.More = true
			break
		}
		out = append(out, src.head)
		size += len(src.head.state)
		res.After = src.head.id
		if err := next(src); err != nil {
			return nil, err
		}
	}
	p := &protocol.Progress{Phase: "snapshot"}
	for _, t := range scope.Teams {
		var done, total int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE r.id <= ?), COUNT(*) FROM records r INDEXED BY records_team_field
			WHERE r.team_id = ? AND r.field_at < ?`, res.After, t, req.Since).Scan(&done, &total); err != nil {
			return nil, err
		}
		p.Done += done
		p.Total += total
	}
	if !res.More {
		p.Done = p.Total
	}
	res.Progress = p
	return out, nil
}
