package sqlite

import (
	"context"

	"github.com/joinedup/joinedup/server/domain"
)

// Staff second factor (migration 0091).

// EnrolTOTP stores a TOTP secret and fresh recovery codes.
func (db *DB) EnrolTOTP(ctx context.Context, personID, secret string, recovery [][]byte) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE people SET totp_secret = ?, totp_last_step = 0, updated = ? WHERE id = ? AND deactivated IS NULL`,
			secret, tx.NowText(), personID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("person", personID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE person_id = ?`, personID); err != nil {
			return err
		}
		for _, h := range recovery {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (person_id, code_hash) VALUES (?, ?)`, personID, h); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, domain.TOTPEnrolledAudit(personID, len(recovery)))
	})
}

// UseTOTPStep accepts a code's time step once.
func (db *DB) UseTOTPStep(ctx context.Context, personID string, step int64) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE people SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, personID, step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrTOTPReplay
		}
		return nil
	})
}

// UseRecoveryCode spends a recovery code.
func (db *DB) UseRecoveryCode(ctx context.Context, personID string, codeHash []byte) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE person_id = ? AND code_hash = ? AND used_at IS NULL`,
			tx.NowText(), personID, codeHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("recovery code", "")
		}
		return appendAudit(ctx, tx, domain.RecoveryCodeUsedAudit(personID))
	})
}

// ResetTOTP removes a person's second factor.
func (db *DB) ResetTOTP(ctx context.Context, personID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE people SET totp_secret = NULL, totp_last_step = 0, updated = ? WHERE id = ?`, tx.NowText(), personID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE person_id = ?`, personID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM portal_sessions WHERE person_id = ?`, personID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TOTPResetAudit(personID, by))
	})
}

// SetSessionStage moves a session on.
func (db *DB) SetSessionStage(ctx context.Context, tokenHash []byte, stage string) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE portal_sessions SET stage = ? WHERE token_hash = ?`, stage, tokenHash)
		return err
	})
}
