package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/joinedup/joinedup/server/domain"

	"github.com/joinedup/joinedup/syncengine"
)

// Scope keys are the domain's (domain.ScopeKey, domain.AppendScopeKeys).
var (
	scopeKey   = domain.ScopeKey
	appendKeys = domain.AppendScopeKeys
)

// moveYoungPersonRecords moves a young person's referrals and follow-ups to
// their new team, with a scope event for each so that devices of the old team
// drop them and devices of the new team receive them. It returns the scope
// keys touched, for the live channel.
func (a *applier) moveYoungPersonRecords(seq int64, yp, team string) ([]string, error) {
	type moved struct{ id, team, service string }
	if err := a.flushRecords(); err != nil {
		return nil, err
	}
	rows, err := a.tx.QueryContext(a.ctx, `SELECT id, COALESCE(team_id, ''), COALESCE(service_id, '') FROM records
		WHERE young_person_id = ? AND type IN (?, ?) AND COALESCE(team_id, '') != ?`,
		yp, syncengine.TypeReferral, syncengine.TypeFollowUp, team)
	ms, err := collect(rows, err, func(r *sql.Rows) (m moved, err error) { return m, r.Scan(&m.id, &m.team, &m.service) })
	if err != nil {
		return nil, err
	}
	var touched []string
	for _, m := range ms {
		// updated_seq moves too: a device of the new team that pulled past the
		// record's last change receives it in a snapshot "changed since".
		if _, err := a.tx.ExecContext(a.ctx, `UPDATE records SET team_id = ?, updated_seq = ? WHERE id = ?`, team, seq, m.id); err != nil {
			return nil, err
		}
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
			seq, m.id, nullString(scopeKey(m.team, m.service)), nullString(scopeKey(team, m.service)), a.tx.NowText()); err != nil {
			return nil, err
		}
		if c, ok := a.cache[syncengine.RecordID(m.id)]; ok {
			c.team = team
		}
		touched = appendKeys(touched, m.team, "")
	}
	return appendKeys(touched, team, ""), nil
}

// FiledRecord returns a record's stored state and where the server filed it
// (nil, zero Filing if unknown): the owning team and the service it is
// shared with, as sync decides them. Pages that show a record decide access
// from this filing, never from the record's own team_id field.
func (db *DB) FiledRecord(ctx context.Context, id string) (*syncengine.Record, syncengine.Filing, error) {
	var state []byte
	var f syncengine.Filing
	if err := db.FlushBehind(ctx); err != nil {
		return nil, f, err
	}
	err := db.read.QueryRowContext(ctx, `SELECT state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '') FROM records WHERE id = ?`, id).
		Scan(&state, &f.Team, &f.Service, &f.YoungPerson)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, f, nil
	} else if err != nil {
		return nil, f, err
	}
	r, err := syncengine.DecodeRecord(state)
	return r, f, err
}
