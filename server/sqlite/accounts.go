package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Staff account administration (migration 0090): one-time password links,
// unlocking, sessions, and deactivating a leaver.

// CreatePasswordToken stores a one-time password link. Earlier unused links
// for the same person are used up: only the newest link works.
func (db *DB) CreatePasswordToken(ctx context.Context, t domain.PasswordToken) error {
	if err := domain.CheckPasswordToken(t, domain.Person{}); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		p, err := findPerson(ctx, tx, "id = ?", t.PersonID)
		if err != nil {
			return err
		}
		if err := domain.CheckPasswordToken(t, p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE password_tokens SET used_at = ? WHERE person_id = ? AND used_at IS NULL`,
			tx.NowText(), t.PersonID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_tokens (token_hash, person_id, purpose, created_by, created, expires)
			VALUES (?, ?, ?, ?, ?, ?)`, t.TokenHash, t.PersonID, t.Purpose, t.CreatedBy, tx.NowText(), formatTime(t.Expires)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: t.CreatedBy, Action: domain.ActionPasswordLink,
			RecordID: t.PersonID, Detail: map[string]any{"purpose": t.Purpose}})
	})
}

// PasswordLink returns the active person a live link is for.
func (db *DB) PasswordLink(ctx context.Context, tokenHash []byte) (domain.Person, error) {
	var p domain.Person
	err := db.view(ctx, func(tx *Tx) (err error) { p, err = livePasswordLink(ctx, tx, tokenHash); return err })
	return p, err
}

func livePasswordLink(ctx context.Context, tx *Tx, tokenHash []byte) (domain.Person, error) {
	var personID, expires string
	err := tx.QueryRowContext(ctx, `SELECT person_id, expires FROM password_tokens WHERE token_hash = ? AND used_at IS NULL`,
		tokenHash).Scan(&personID, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !parseTime(expires).After(tx.Now())) {
		return domain.Person{}, domain.ErrDeadLink
	} else if err != nil {
		return domain.Person{}, err
	}
	p, err := findPerson(ctx, tx, "id = ?", personID)
	if err == nil && !p.Deactivated.IsZero() {
		return domain.Person{}, domain.ErrDeadLink
	}
	return p, err
}

// UsePasswordToken sets a password through a one-time link. Unknown, used
// and expired links all get the same ENOTFOUND, so a link tells nothing once
// it stops working.
func (db *DB) UsePasswordToken(ctx context.Context, tokenHash []byte, passwordHash string) (domain.Person, error) {
	var p domain.Person
	err := db.update(ctx, func(tx *Tx) (err error) {
		if p, err = livePasswordLink(ctx, tx, tokenHash); err != nil {
			return err
		}
		personID := p.ID
		if _, err := tx.ExecContext(ctx, `UPDATE password_tokens SET used_at = ? WHERE token_hash = ?`, tx.NowText(), tokenHash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET password_hash = ?, failed_logins = 0, locked_until = NULL, updated = ? WHERE id = ?`,
			passwordHash, tx.NowText(), personID); err != nil {
			return err
		}
		// Whoever knew the old password is signed out everywhere.
		if _, err := tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE person_id = ?`, personID); err != nil {
			return err
		}
		p.PasswordHash = passwordHash
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: personID, Action: domain.ActionPasswordSet, RecordID: personID})
	})
	return p, err
}

// ClearSignInFailures forgets an account name's failed sign-ins from every
// client: the admin has checked it is the person asking.
func (db *DB) ClearSignInFailures(ctx context.Context, account []byte, personID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE account = ?`, account); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET failed_logins = 0, locked_until = NULL WHERE id = ?`, personID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, Action: domain.ActionUnlock, RecordID: personID})
	})
}

// PersonSessions lists a person's sessions that have not expired, newest first.
func (db *DB) PersonSessions(ctx context.Context, personID string) ([]domain.StaffSession, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT token_hash, csrf, created, last_seen, expires FROM portal_sessions
		WHERE person_id = ? AND expires > ? ORDER BY created DESC`, personID, formatTime(db.Now()))
	return collect(rows, err, func(rows *sql.Rows) (domain.StaffSession, error) {
		s := domain.StaffSession{PersonID: personID}
		var created, lastSeen, expires string
		err := rows.Scan(&s.TokenHash, &s.CSRF, &created, &lastSeen, &expires)
		s.Created, s.LastSeen, s.Expires = parseTime(created), parseTime(lastSeen), parseTime(expires)
		s.CSRF = "" // never leaves the store but for the session's own requests
		return s, err
	})
}

// EndSessions ends a person's sessions: only the one with hash only, or all
// but keep, or all.
func (db *DB) EndSessions(ctx context.Context, personID string, only, keep []byte, by string) (int, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		var res sql.Result
		var err error
		switch {
		case only != nil:
			res, err = tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE person_id = ? AND token_hash = ?`, personID, only)
		default:
			res, err = tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE person_id = ? AND token_hash IS NOT ?`, personID, keep)
		}
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, Action: domain.ActionEndSessions, RecordID: personID,
			Detail: map[string]any{"sessions": n}})
	})
	return int(n), err
}

// DeactivatePerson ends a leaver's access in one transaction (see
// domain.Accounts): nothing is left half done if any step fails.
func (db *DB) DeactivatePerson(ctx context.Context, personID, by string) (domain.Deactivation, error) {
	d := domain.Deactivation{PersonID: personID}
	err := db.update(ctx, func(tx *Tx) error {
		p, err := findPerson(ctx, tx, "id = ?", personID)
		if err != nil {
			return err
		}
		if err := domain.CheckDeactivate(p, by); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET deactivated = ?, updated = ? WHERE id = ?`, tx.NowText(), tx.NowText(), personID); err != nil {
			return err
		}
		devs, err := tx.QueryContext(ctx, `SELECT id FROM devices WHERE person_id = ? AND status = 'active'`, personID)
		ids, err := collect(devs, err, func(rows *sql.Rows) (id string, err error) { return id, rows.Scan(&id) })
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET status = 'revoked', wipe_requested = 1, revoked_by = ?, revoked_at = ?
				WHERE id = ?`, by, tx.NowText(), id); err != nil {
				return err
			}
			if err := removeDeviceTokens(ctx, tx.Tx, id); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, DeviceID: id, Action: domain.ActionRevoke,
				Detail: map[string]any{"reason": "owner deactivated"}}); err != nil {
				return err
			}
		}
		d.DevicesRevoked = len(ids)
		// A code issued but not yet typed into a phone would enrol one later.
		if _, err := tx.ExecContext(ctx, `UPDATE enrolment_codes SET used_at = ? WHERE person_id = ? AND used_at IS NULL`,
			tx.NowText(), personID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE password_tokens SET used_at = ? WHERE person_id = ? AND used_at IS NULL`,
			tx.NowText(), personID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE person_id = ?`, personID)
		if err != nil {
			return err
		}
		ended, _ := res.RowsAffected()
		d.SessionsEnded = int(ended)
		if d.Flagged, err = openWorkOf(ctx, tx, p); err != nil {
			return err
		}
		if p.TeamID != "" {
			err := tx.QueryRowContext(ctx, `SELECT p.id FROM people p LEFT JOIN team_supervisors s ON s.person_id = p.id
				WHERE p.role = 'supervisor' AND p.deactivated IS NULL AND p.id <> ? AND (s.team_id = ? OR p.team_id = ?)
				ORDER BY p.name, p.id LIMIT 1`, personID, p.TeamID, p.TeamID).Scan(&d.Supervisor)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		return appendAudit(ctx, tx, domain.DeactivationAudit(by, d))
	})
	return d, err
}

// openWorkOf lists the open follow-ups assigned to p in p's team, for the
// admin's page and the audit. The supervisors' dashboard keeps showing them,
// and the open referrals only p wrote, until reassigned (portal/leavers.go).
func openWorkOf(ctx context.Context, tx *Tx, p domain.Person) ([]string, error) {
	if p.TeamID == "" {
		return nil, nil
	}
	type row struct {
		id    string
		state []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, state FROM records WHERE type = ? AND team_id = ? AND deleted = 0 AND erased = 0 ORDER BY id`,
		syncengine.TypeFollowUp, p.TeamID)
	all, err := collect(rows, err, func(rows *sql.Rows) (r row, err error) { return r, rows.Scan(&r.id, &r.state) })
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range all {
		rec, err := syncengine.DecodeRecord(r.state)
		if err != nil {
			return nil, err
		}
		if domain.OpenWorkOf(rec, p.ID) {
			out = append(out, r.id)
		}
	}
	return out, nil
}
