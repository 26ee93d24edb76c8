package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// allClients is the client key of an account name's total over every
// client; client keys are 32-byte hashes, so it cannot collide with one.
var allClients = []byte("all")

// SignInFailures returns the failed sign-ins remembered for an account name
// from one client and from every client.
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
	err := tx.QueryRowContext(ctx, `SELECT failures, last_at FROM signin_failures WHERE account = ? AND client = ?`, account, client).
		Scan(n, nullTime{last})
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// RecordSignIn records a staff sign-in attempt and its audit entry in one
// transaction. A success clears the pair's failures and the account name's
// total (other clients' failures stand: the owner signing in must not end
// an attacker's back-off); a failure counts for the pair and for the account name; failures
// older than a.ForgetBefore start again from one, and are pruned.
func (db *DB) RecordSignIn(ctx context.Context, a domain.SignInAttempt) error {
	return db.update(ctx, func(tx *Tx) error {
		switch {
		case a.Throttled:
		case a.OK:
			if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE account = ? AND client IN (?, ?)`,
				a.Account, a.Client, allClients); err != nil {
				return err
			}
		default:
			forget := formatTime(a.ForgetBefore)
			if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE last_at < ?`, forget); err != nil {
				return err
			}
			for _, client := range [][]byte{a.Client, allClients} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO signin_failures (account, client, failures, last_at) VALUES (?, ?, 1, ?)
					ON CONFLICT (account, client) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at`,
					a.Account, client, tx.NowText()); err != nil {
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
