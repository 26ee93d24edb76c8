package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Fetch sends records a phone's field-subset first sync left out, as
// server/sqlite's Fetch does: each read under the pull's policy, audited
// as a pull; a record the device may not read is answered as a missing one,
// and the refusal audited.
func (db *DB) Fetch(ctx context.Context, req domain.FetchRequest) (*domain.FetchResult, error) {
	var res *domain.FetchResult
	var refused string
	err := db.update(ctx, func(tx *Tx) error {
		res, refused = &domain.FetchResult{}, ""
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
}

type notReadable struct{ id string }

func (e *notReadable) Error() string { return "record not readable: " + e.id }

const fetchCols = `SELECT r.id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, ''), r.erased, r.state FROM records r `

func readable(rows pgx.Rows, err error, scope domain.Scope) ([]fetchRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fetchRow
	for rows.Next() {
		var r fetchRow
		var typ, team, svc string
		var erased bool
		if err := rows.Scan(&r.id, &typ, &team, &svc, &erased, &r.state); err != nil {
			return nil, err
		}
		if !erased && scope.Contains(typ, team, svc) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

func fetchIDs(ctx context.Context, tx *Tx, scope domain.Scope, ids []string) ([]fetchRow, error) {
	var out []fetchRow
	for _, id := range ids {
		rows, err := tx.Query(ctx, fetchCols+`WHERE r.id = $1`, id)
		got, err := readable(rows, err, scope)
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			return nil, &notReadable{id}
		}
		out = append(out, got...)
	}
	return out, nil
}

// fetchYoungPerson: the profile, what is filed under them, and their team's
// encounters that name them.
func fetchYoungPerson(ctx context.Context, tx *Tx, scope domain.Scope, ypID string) ([]fetchRow, error) {
	out, err := fetchIDs(ctx, tx, scope, []string{ypID})
	if err != nil {
		return nil, err
	}
	var team string
	if err := tx.QueryRow(ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = $1 AND type = $2`, ypID, syncengine.TypeYoungPerson).Scan(&team); errors.Is(err, pgx.ErrNoRows) {
		return nil, &notReadable{ypID}
	} else if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, fetchCols+`WHERE r.young_person_id = $1 AND r.id <> $1 ORDER BY r.id`, ypID)
	filed, err := readable(rows, err, scope)
	if err != nil {
		return nil, err
	}
	out = append(out, filed...)
	rows, err = tx.Query(ctx, fetchCols+`WHERE r.team_id = $1 AND r.type = $2 ORDER BY r.id`, team, syncengine.TypeEncounter)
	encs, err := readable(rows, err, scope)
	if err != nil {
		return nil, err
	}
	for _, r := range encs {
		rec, err := syncengine.DecodeRecord(r.state)
		if err == nil && slices.Contains(domain.LinkedYoungPeople(rec), ypID) {
			out = append(out, r)
		}
	}
	return out, nil
}

// fetchRest: the next page of the teams' records older than the cutoff.
func fetchRest(ctx context.Context, tx *Tx, scope domain.Scope, req domain.FetchRequest, res *domain.FetchResult) ([]fetchRow, error) {
	budget := req.PageBytes
	if budget <= 0 {
		budget = domain.DefaultPageBytes
	}
	rows, err := tx.Query(ctx, `SELECT r.id, r.state FROM records r
		WHERE r.team_id = ANY($1::text[]) AND r.id > $2 AND r.field_at < $3 AND NOT r.erased ORDER BY r.id`, scope.Teams, req.After, req.Since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fetchRow
	size := 0
	res.After = req.After
	for rows.Next() {
		var r fetchRow
		if err := rows.Scan(&r.id, &r.state); err != nil {
			return nil, err
		}
		if len(out) > 0 && size+len(r.state) > budget {
			res.More = true
			break
		}
		out = append(out, r)
		size += len(r.state)
		res.After = r.id
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	p := &protocol.Progress{Phase: "snapshot"}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE r.id <= $1), COUNT(*) FROM records r
		WHERE r.team_id = ANY($2::text[]) AND r.field_at < $3`, res.After, scope.Teams, req.Since).Scan(&p.Done, &p.Total); err != nil {
		return nil, err
	}
	if !res.More {
		p.Done = p.Total
	}
	res.Progress = p
	return out, nil
}
