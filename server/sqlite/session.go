package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// Staff sign-in sessions and failed sign-ins per e-mail address (tables of
// migration 0020, written by the portal).

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s domain.StaffSession) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_sessions (token_hash, person_id, csrf, created, last_seen, expires) VALUES (?, ?, ?, ?, ?, ?)`,
			s.TokenHash, s.PersonID, s.CSRF, formatTime(s.Created), formatTime(s.LastSeen), formatTime(s.Expires))
		return err
	})
}

// Session returns the session with this token hash (ENOTFOUND if none).
func (db *DB) Session(ctx context.Context, tokenHash []byte) (domain.StaffSession, error) {
	s := domain.StaffSession{TokenHash: tokenHash}
	var created, lastSeen, expires string
	err := db.read.QueryRowContext(ctx, `SELECT person_id, csrf, created, last_seen, expires FROM portal_sessions WHERE token_hash = ?`, tokenHash).
		Scan(&s.PersonID, &s.CSRF, &created, &lastSeen, &expires)
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

// SignInLockedUntil is when failed sign-ins for this e-mail hash stop
// blocking it (zero: not locked).
func (db *DB) SignInLockedUntil(ctx context.Context, emailHash []byte) (time.Time, error) {
	var until time.Time
	err := db.read.QueryRowContext(ctx, `SELECT locked_until FROM portal_login_attempts WHERE email_hash = ?`, emailHash).Scan(nullTime{&until})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return until, err
}

// RecordFailedSignIn counts a failed sign-in for an e-mail hash (known
// address or not, so guessing accounts is throttled like guessing
// passwords); the maxFailures-th locks it until at+lockFor. The first failure
// after a lock starts counting again.
func (db *DB) RecordFailedSignIn(ctx context.Context, emailHash []byte, at time.Time, maxFailures int, lockFor time.Duration) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_login_attempts (email_hash, failures, first_at) VALUES (?, 1, ?)
			ON CONFLICT (email_hash) DO UPDATE SET failures = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failures + 1 END,
				locked_until = CASE WHEN locked_until IS NULL AND failures + 1 >= ? THEN ? ELSE NULL END`,
			emailHash, formatTime(at), maxFailures, formatTime(at.Add(lockFor)))
		return err
	})
}

// ClearFailedSignIns forgets the failures of an e-mail hash (after a good sign-in).
func (db *DB) ClearFailedSignIns(ctx context.Context, emailHash []byte) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM portal_login_attempts WHERE email_hash = ?`, emailHash)
		return err
	})
}
