package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// Staff sessions and sign-in throttling are rows, so every node behind the
// load balancer sees the same sessions, failures and lockouts.

var allClients = []byte("all")

// CreateSession stores a new staff session.
func (db *DB) CreateSession(ctx context.Context, s domain.StaffSession) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO portal_sessions (token_hash, person_id, csrf, created, last_seen, expires, stage) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			s.TokenHash, s.PersonID, s.CSRF, s.Created, s.LastSeen, s.Expires, s.Stage)
		return err
	})
}

// Session reads a session by its token's hash.
func (db *DB) Session(ctx context.Context, tokenHash []byte) (domain.StaffSession, error) {
	s := domain.StaffSession{TokenHash: tokenHash}
	err := db.pool.QueryRow(ctx, `SELECT person_id, csrf, created, last_seen, expires, stage FROM portal_sessions WHERE token_hash = $1`, tokenHash).
		Scan(&s.PersonID, &s.CSRF, &s.Created, &s.LastSeen, &s.Expires, &s.Stage)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("session", "")
	}
	s.Created, s.LastSeen, s.Expires = s.Created.UTC(), s.LastSeen.UTC(), s.Expires.UTC()
	return s, err
}

// TouchSession records activity on a session.
func (db *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE portal_sessions SET last_seen = $1 WHERE token_hash = $2`, at, tokenHash)
	return err
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// SignInFailures reads recent failures for the account from this client and
// from every client.
func (db *DB) SignInFailures(ctx context.Context, account, client []byte) (domain.SignInFailures, error) {
	var f domain.SignInFailures
	err := db.view(ctx, func(tx *Tx) error {
		if err := signInFailures(ctx, tx, account, client, &f.Pair, &f.PairLast); err != nil {
			return err
		}
		return signInFailures(ctx, tx, account, allClients, &f.Account, &f.AccountLast)
	})
	return f, err
}

func signInFailures(ctx context.Context, tx *Tx, account, client []byte, n *int, last *time.Time) error {
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT failures, last_at FROM signin_failures WHERE account = $1 AND client = $2`, account, client).Scan(n, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	*last = at.UTC()
	return err
}

// RecordSignIn counts a failure (atomically, so attempts spread over nodes
// add up) or clears them on success, and audits the attempt.
func (db *DB) RecordSignIn(ctx context.Context, a domain.SignInAttempt) error {
	return db.update(ctx, func(tx *Tx) error {
		switch {
		case a.Throttled:
		case a.OK:
			if _, err := tx.Exec(ctx, `DELETE FROM signin_failures WHERE account = $1 AND client IN ($2, $3)`, a.Account, a.Client, allClients); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, `DELETE FROM signin_failures WHERE last_at < $1`, a.ForgetBefore); err != nil {
				return err
			}
			for _, client := range [][]byte{a.Client, allClients} {
				if _, err := tx.Exec(ctx, `INSERT INTO signin_failures (account, client, failures, last_at) VALUES ($1, $2, 1, $3)
					ON CONFLICT (account, client) DO UPDATE SET failures = signin_failures.failures + 1, last_at = excluded.last_at`,
					a.Account, client, tx.now); err != nil {
					return err
				}
			}
		}
		detail := map[string]any{"ok": a.OK, "via": a.Via}
		if a.Throttled {
			detail["throttled"] = true
		}
		if a.PersonID == "" {
			detail["account"] = "unknown"
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: a.PersonID, Action: domain.ActionLogin, Detail: detail})
	})
}

// SpendSSOState records a single sign-on state (its hash) as spent until
// it would have expired; false if it already was. The primary key decides
// between two nodes spending the same state at once: one insert wins.
func (db *DB) SpendSSOState(ctx context.Context, stateHash []byte, until time.Time) (bool, error) {
	var fresh bool
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sso_states WHERE until < $1`, tx.now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sso_states (state_hash, until) VALUES ($1, $2) ON CONFLICT (state_hash) DO NOTHING`,
			stateHash, until)
		fresh = tag.RowsAffected() == 1
		return err
	})
	return fresh, err
}
