package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// Staff browser sessions (table of migration 0020, used by the portal).

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s domain.StaffSession) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_sessions (token_hash, person_id, csrf, created, last_seen, expires, stage) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			s.TokenHash, s.PersonID, s.CSRF, formatTime(s.Created), formatTime(s.LastSeen), formatTime(s.Expires), s.Stage)
		return err
	})
}

// Session returns the session with this token hash (ENOTFOUND if none).
func (db *DB) Session(ctx context.Context, tokenHash []byte) (domain.StaffSession, error) {
	s := domain.StaffSession{TokenHash: tokenHash}
	var created, lastSeen, expires string
	err := db.read.QueryRowContext(ctx, `SELECT person_id, csrf, created, last_seen, expires, stage FROM portal_sessions WHERE token_hash = ?`, tokenHash).
		Scan(&s.PersonID, &s.CSRF, &created, &lastSeen, &expires, &s.Stage)
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound("session", "")
	} else if err != nil {
		return s, err
	}
	s.Created, s.LastSeen, s.Expires = parseTime(created), parseTime(lastSeen), parseTime(expires)
	return s, nil
}

// TouchSession records that the session was used at.
func (db *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE portal_sessions SET last_seen = ? WHERE token_hash = ?`, formatTime(at), tokenHash)
		return err
	})
}

// DeleteSession ends a session (sign-out, expiry). Ending one that is gone is not an error.
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
}

// SpendSSOState records a single sign-on state (its hash) as spent until
// it would have expired; false if it already was. Expired rows go first, so
// the table holds only the last few minutes of sign-ins.
func (db *DB) SpendSSOState(ctx context.Context, stateHash []byte, until time.Time) (bool, error) {
	var fresh bool
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sso_states WHERE until < ?`, tx.NowText()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sso_states (state_hash, until) VALUES (?, ?) ON CONFLICT (state_hash) DO NOTHING`,
			stateHash, formatTime(until))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}
