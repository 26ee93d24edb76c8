package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Staff account administration (migration 0160): one-time password links,
// unlocking, sessions, deactivating a leaver, and the second factor. The
// rules are the domain's (domain/accountrules.go); this file is the SQL.

// CreatePasswordToken stores a one-time password link; the person's earlier
// unused links die, so only the newest works.
func (db *DB) CreatePasswordToken(ctx context.Context, t domain.PasswordToken) error {
	if err := domain.CheckPasswordToken(t, domain.Person{}); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		p, err := findPerson(ctx, tx, "id = $1 FOR UPDATE", t.PersonID)
		if err != nil {
			return err
		}
		if err := domain.CheckPasswordToken(t, p); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_tokens SET used_at = $1 WHERE person_id = $2 AND used_at IS NULL`, tx.now, t.PersonID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_tokens (token_hash, person_id, purpose, created_by, created, expires)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.TokenHash, t.PersonID, t.Purpose, t.CreatedBy, tx.now, t.Expires); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: t.CreatedBy, Action: domain.ActionPasswordLink,
			RecordID: t.PersonID, Detail: map[string]any{"purpose": t.Purpose}})
	})
}

// PasswordLink returns the active person a live link is for.
func (db *DB) PasswordLink(ctx context.Context, tokenHash []byte) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = livePasswordLink(ctx, tx, tokenHash, ""); return err })
	return p, err
}

// livePasswordLink reads a live link's person; lock " FOR UPDATE" holds the
// link's row, so two nodes using one link at once take turns and the second
// finds it used.
func livePasswordLink(ctx context.Context, tx *Tx, tokenHash []byte, lock string) (domain.Person, error) {
	var personID string
	var expires time.Time
	var used *time.Time
	err := tx.QueryRow(ctx, `SELECT person_id, expires, used_at FROM password_tokens WHERE token_hash = $1`+lock, tokenHash).
		Scan(&personID, &expires, &used)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (used != nil || !expires.After(tx.now))) {
		return domain.Person{}, domain.ErrDeadLink
	} else if err != nil {
		return domain.Person{}, err
	}
	p, err := findPerson(ctx, tx, "id = $1", personID)
	if err == nil && !p.Deactivated.IsZero() {
		return domain.Person{}, domain.ErrDeadLink
	}
	return p, err
}

// UsePasswordToken sets a password through a one-time link, once.
func (db *DB) UsePasswordToken(ctx context.Context, tokenHash []byte, passwordHash string) (domain.Person, error) {
	var p domain.Person
	err := db.update(ctx, func(tx *Tx) (err error) {
		if p, err = livePasswordLink(ctx, tx, tokenHash, " FOR UPDATE"); err != nil {
			return err
		}
		// Conditional as well as locked: whatever the isolation, one use wins.
		if tag, err := tx.Exec(ctx, `UPDATE password_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, tx.now, tokenHash); err != nil {
			return err
		} else if tag.RowsAffected() != 1 {
			return domain.ErrDeadLink
		}
		if _, err := tx.Exec(ctx, `UPDATE people SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated = $2 WHERE id = $3`,
			passwordHash, tx.now, p.ID); err != nil {
			return err
		}
		// Whoever knew the old password is signed out everywhere.
		if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE person_id = $1`, p.ID); err != nil {
			return err
		}
		p.PasswordHash = passwordHash
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: p.ID, Action: domain.ActionPasswordSet, RecordID: p.ID})
	})
	return p, err
}

// ClearSignInFailures forgets an account name's failed sign-ins from every client.
func (db *DB) ClearSignInFailures(ctx context.Context, account []byte, personID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM signin_failures WHERE account = $1`, account); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE people SET failed_logins = 0, locked_until = NULL WHERE id = $1`, personID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, Action: domain.ActionUnlock, RecordID: personID})
	})
}

// PersonSessions lists a person's unexpired sessions, newest first (never their CSRF secret).
func (db *DB) PersonSessions(ctx context.Context, personID string) ([]domain.StaffSession, error) {
	rows, err := db.pool.Query(ctx, `SELECT token_hash, created, last_seen, expires, stage FROM portal_sessions
		WHERE person_id = $1 AND expires > $2 ORDER BY created DESC`, personID, db.Now())
	return collect(rows, err, func(r pgx.Rows) (domain.StaffSession, error) {
		s := domain.StaffSession{PersonID: personID}
		err := r.Scan(&s.TokenHash, &s.Created, &s.LastSeen, &s.Expires, &s.Stage)
		s.Created, s.LastSeen, s.Expires = s.Created.UTC(), s.LastSeen.UTC(), s.Expires.UTC()
		return s, err
	})
}

// EndSessions ends a person's sessions: only the one with hash only, or all but keep, or all.
func (db *DB) EndSessions(ctx context.Context, personID string, only, keep []byte, by string) (int, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		q, arg := `DELETE FROM portal_sessions WHERE person_id = $1 AND token_hash IS NOT DISTINCT FROM $2`, only
		if only == nil {
			q, arg = `DELETE FROM portal_sessions WHERE person_id = $1 AND token_hash IS DISTINCT FROM $2`, keep
		}
		tag, err := tx.Exec(ctx, q, personID, arg)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, Action: domain.ActionEndSessions, RecordID: personID,
			Detail: map[string]any{"sessions": n}})
	})
	return int(n), err
}

// DeactivatePerson ends a leaver's access in one transaction (see
// domain.Accounts). The person's row is locked first: a device enrolling or
// a link used on another node at the same moment waits, then sees them gone.
func (db *DB) DeactivatePerson(ctx context.Context, personID, by string) (domain.Deactivation, error) {
	var d domain.Deactivation
	var keys []string
	err := db.update(ctx, func(tx *Tx) error {
		d, keys = domain.Deactivation{PersonID: personID}, nil
		p, err := findPerson(ctx, tx, "id = $1 FOR UPDATE", personID)
		if err != nil {
			return err
		}
		if err := domain.CheckDeactivate(p, by); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE people SET deactivated = $1, updated = $1 WHERE id = $2`, tx.now, personID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE devices SET status = 'revoked', wipe_requested = true, revoked_by = $1, revoked_at = $2
			WHERE person_id = $3 AND status = 'active' RETURNING id`, by, tx.now, personID)
		ids, err := collect(rows, err, func(r pgx.Rows) (id string, err error) { return id, r.Scan(&id) })
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.Exec(ctx, `DELETE FROM push_tokens WHERE device_id = $1`, id); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, DeviceID: id, Action: domain.ActionRevoke,
				Detail: map[string]any{"reason": "owner deactivated"}}); err != nil {
				return err
			}
			keys = append(keys, "device:"+id)
		}
		d.DevicesRevoked = len(ids)
		// A code issued but not yet typed into a phone would enrol one later.
		if _, err := tx.Exec(ctx, `UPDATE enrolment_codes SET used_at = $1 WHERE person_id = $2 AND used_at IS NULL`, tx.now, personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_tokens SET used_at = $1 WHERE person_id = $2 AND used_at IS NULL`, tx.now, personID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE person_id = $1`, personID)
		if err != nil {
			return err
		}
		d.SessionsEnded = int(tag.RowsAffected())
		if d.Flagged, err = openWorkOf(ctx, tx, p); err != nil {
			return err
		}
		if p.TeamID != "" {
			err := tx.QueryRow(ctx, `SELECT p.id FROM people p LEFT JOIN team_supervisors s ON s.person_id = p.id
				WHERE p.role = 'supervisor' AND p.deactivated IS NULL AND p.id <> $1 AND (s.team_id = $2 OR p.team_id = $2)
				ORDER BY p.name, p.id LIMIT 1`, personID, p.TeamID).Scan(&d.Supervisor)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		return appendAudit(ctx, tx, domain.DeactivationAudit(by, d))
	})
	if err == nil {
		db.poke(ctx, keys) // the revoked phones, wherever their live channel is
	}
	return d, err
}

// openWorkOf lists the open follow-ups assigned to p in p's team.
func openWorkOf(ctx context.Context, tx *Tx, p domain.Person) ([]string, error) {
	if p.TeamID == "" {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, state FROM records WHERE type = $1 AND team_id = $2 AND NOT deleted AND NOT erased ORDER BY id`,
		syncengine.TypeFollowUp, p.TeamID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		var state []byte
		if err := rows.Scan(&id, &state); err != nil {
			return nil, err
		}
		rec, err := syncengine.DecodeRecord(state)
		if err != nil {
			return nil, err
		}
		if domain.OpenWorkOf(rec, p.ID) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// EnrolTOTP stores a TOTP secret and fresh recovery codes.
func (db *DB) EnrolTOTP(ctx context.Context, personID, secret string, recovery [][]byte) error {
	return db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE people SET totp_secret = $1, totp_last_step = 0, updated = $2 WHERE id = $3 AND deactivated IS NULL`,
			secret, tx.now, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("person", personID)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE person_id = $1`, personID); err != nil {
			return err
		}
		for _, h := range recovery {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (person_id, code_hash) VALUES ($1, $2)`, personID, h); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, domain.TOTPEnrolledAudit(personID, len(recovery)))
	})
}

// UseTOTPStep accepts a code's time step once: the conditional update runs
// under the person's row lock, so the same code sent to two nodes at once is
// accepted by one.
func (db *DB) UseTOTPStep(ctx context.Context, personID string, step int64) error {
	return db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE people SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, personID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.ErrTOTPReplay
		}
		return nil
	})
}

// UseRecoveryCode spends a recovery code.
func (db *DB) UseRecoveryCode(ctx context.Context, personID string, codeHash []byte) error {
	return db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE person_id = $2 AND code_hash = $3 AND used_at IS NULL`,
			tx.now, personID, codeHash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("recovery code", "")
		}
		return appendAudit(ctx, tx, domain.RecoveryCodeUsedAudit(personID))
	})
}

// ResetTOTP removes a person's second factor and ends their sessions.
func (db *DB) ResetTOTP(ctx context.Context, personID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE people SET totp_secret = NULL, totp_last_step = 0, updated = $1 WHERE id = $2`, tx.now, personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE person_id = $1`, personID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE person_id = $1`, personID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TOTPResetAudit(personID, by))
	})
}

// SetSessionStage moves a session on.
func (db *DB) SetSessionStage(ctx context.Context, tokenHash []byte, stage string) error {
	_, err := db.pool.Exec(ctx, `UPDATE portal_sessions SET stage = $1 WHERE token_hash = $2`, stage, tokenHash)
	return err
}
