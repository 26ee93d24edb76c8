package sqlite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// Enrolment codes: 16 characters of Crockford-like base32 without padding,
// 80 bits, typed by a person (NormaliseCode forgives case, spaces, dashes).
var codeEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

const codeBytes = 10 // 80 bits

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// codeKeyMeta names the server's secret for enrolment code hashes.
const codeKeyMeta = "enrolment_code_key"

// codeHash is how an enrolment code is stored: an HMAC-SHA256 under a
// per-installation secret (created on first use, kept in meta), so stored
// hashes cannot be matched against a table computed once for every
// installation. The secret travels with the database (and its backups):
// against someone holding a copy, what protects a code is its 80 bits and
// its 15 minutes.
func (db *DB) codeHash(ctx context.Context, tx *Tx, code string) ([]byte, error) {
	var key string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, codeKeyMeta).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		b, err := db.random(32)
		if err != nil {
			return nil, err
		}
		key = hex.EncodeToString(b)
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, codeKeyMeta, key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("meta %s: %w", codeKeyMeta, err)
	}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(code))
	return m.Sum(nil), nil
}

func (db *DB) random(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(db.Rand, b)
	return b, err
}

// IssueEnrolmentCode makes a one-time code with which a phone enrols for
// personID. createdBy is the supervisor (or admin) issuing it; whether they
// may is the caller's to decide (domain.MayIssueEnrolmentCode).
func (db *DB) IssueEnrolmentCode(ctx context.Context, personID, createdBy string) (code string, expires time.Time, err error) {
	codes, expires, err := db.issueCodes(ctx, []string{personID}, createdBy)
	if err != nil {
		return "", time.Time{}, err
	}
	return codes[0], expires, nil
}

// IssueEnrolmentCodes issues one code per person in one transaction (bulk
// enrolment of a new team's phones, load benchmarks): codes[i] is for
// personIDs[i]. Each is audited as IssueEnrolmentCode audits one.
func (db *DB) IssueEnrolmentCodes(ctx context.Context, personIDs []string, createdBy string) ([]string, error) {
	codes, _, err := db.issueCodes(ctx, personIDs, createdBy)
	return codes, err
}

func (db *DB) issueCodes(ctx context.Context, personIDs []string, createdBy string) (codes []string, expiry time.Time, err error) {
	b, err := db.random(codeBytes * len(personIDs))
	if err != nil {
		return nil, expiry, err
	}
	codes = make([]string, len(personIDs))
	err = db.update(ctx, func(tx *Tx) error {
		expiry = tx.now.Add(domain.EnrolmentCodeTTL)
		expires := formatTime(expiry)
		for i, personID := range personIDs {
			if _, err := findPerson(ctx, tx, "id = ?", personID); err != nil {
				return err
			}
			codes[i] = codeEncoding.EncodeToString(b[codeBytes*i : codeBytes*(i+1)])
			h, err := db.codeHash(ctx, tx, codes[i])
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO enrolment_codes (code_hash, person_id, expires_at, created_by, created) VALUES (?, ?, ?, ?, ?)`,
				h, personID, expires, createdBy, tx.NowText()); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, domain.AuditEntry{PersonID: createdBy, Action: domain.ActionIssue, Detail: map[string]any{"for": personID}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, expiry, err
	}
	return codes, expiry, nil
}

// Enrol exchanges a one-time code for a new device and its credential.
// Unknown, used and expired codes all get the same unauthorized error.
func (db *DB) Enrol(ctx context.Context, code, platform string) (domain.Enrolment, error) {
	return db.EnrolDevice(ctx, domain.EnrolRequest{Code: code, Platform: platform})
}

// EnrolDevice is Enrol with the optional parts of the request: a retry of an
// attempt whose answer was lost, and re-enrolment keeping the phone's replica
// id (enrol.go).
func (db *DB) EnrolDevice(ctx context.Context, req domain.EnrolRequest) (domain.Enrolment, error) {
	code, platform := req.Code, req.Platform
	var e domain.Enrolment
	rnd, err := db.random(16 + 16 + 32)
	if err != nil {
		return e, err
	}
	e.DeviceID = "dev_" + hex.EncodeToString(rnd[:16])
	e.ReplicaID = hex.EncodeToString(rnd[16:32])
	e.Credential = base64.RawURLEncoding.EncodeToString(rnd[32:])
	err = db.update(ctx, func(tx *Tx) error {
		var expires string
		var used, usedBy sql.NullString
		var install []byte
		codeHash, err := db.codeHash(ctx, tx, domain.NormaliseCode(code))
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT person_id, expires_at, used_at, device_id, install_hash FROM enrolment_codes WHERE code_hash = ?`,
			codeHash).Scan(&e.PersonID, &expires, &used, &usedBy, &install)
		if err == nil && used.Valid && isRetry(tx, req, used.String, install) {
			return enrolRetry(ctx, tx, &e, usedBy.String, platform)
		}
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (used.Valid || expires <= tx.NowText())) {
			return domain.Errorf(domain.EUNAUTHORIZED, "enrol", "enrolment code is not valid (unknown, used or expired)")
		} else if err != nil {
			return err
		}
		if err := enrolPerson(ctx, tx, &e); err != nil {
			return err
		}
		kept := ""
		if req.ReplicaID != "" {
			if kept, err = claimReplica(ctx, tx, e.PersonID, req.ReplicaID); err != nil {
				return err
			}
			e.ReplicaID = req.ReplicaID
			if kept != "" {
				e.DeviceID = kept
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE enrolment_codes SET used_at = ?, device_id = ?, install_hash = ? WHERE code_hash = ?`,
			tx.NowText(), e.DeviceID, installHash(req.InstallID), codeHash); err != nil {
			return err
		}
		if kept != "" {
			if err := reissueDevice(ctx, tx, kept, e.Credential, platform); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, person_id, replica_id, platform, credential_hash, created, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.DeviceID, e.PersonID, e.ReplicaID, platform, hashSecret(e.Credential), tx.NowText(), tx.NowText()); err != nil {
			return err
		}
		detail := map[string]any{"platform": platform}
		if req.ReplicaID != "" {
			detail["kept_replica"] = true
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: e.PersonID, DeviceID: e.DeviceID, Action: domain.ActionEnrol, Detail: detail})
	})
	return e, err
}

const deviceCols = `id, person_id, replica_id, platform, status, wipe_requested, wiped_at, COALESCE(revoked_by, ''), revoked_at,
	created, last_seen, last_sync_at, last_cursor, pending_reported, served_scope`

func scanDevice(sc interface{ Scan(...any) error }) (domain.Device, error) {
	var d domain.Device
	var created string
	err := sc.Scan(&d.ID, &d.PersonID, &d.ReplicaID, &d.Platform, &d.Status, &d.WipeRequested, nullTime{&d.WipedAt},
		&d.RevokedBy, nullTime{&d.RevokedAt}, &created, nullTime{&d.LastSeen}, nullTime{&d.LastSyncAt}, &d.LastCursor,
		&d.PendingReported, &d.ServedScope)
	d.Created = parseTime(created)
	return d, err
}

// Authenticate finds the device holding credential and its person. A revoked
// device gets domain.EREVOKED (the caller tells it to wipe) and the contact is audited.
func (db *DB) Authenticate(ctx context.Context, credential string) (domain.Device, domain.Person, error) {
	var d domain.Device
	var p domain.Person
	if credential == "" {
		return d, p, domain.Errorf(domain.EUNAUTHORIZED, "authenticate", "device credential required")
	}
	key := sha256.Sum256([]byte(credential))
	var version int64
	if err := db.read.QueryRowContext(ctx, `SELECT v FROM auth_version`).Scan(&version); err != nil {
		db.noteRead(err)
		return d, p, err
	}
	if d, p, ok := db.auth.get(key, version); ok {
		return d, p, nil
	}
	// Devices and people are never in the write-behind set: a push's
	// authentication does not write the pushes before it.
	err := db.viewStored(ctx, func(tx *Tx) (err error) {
		// The version read with the rows, in the same snapshot: an entry
		// never outlives a change it could have missed.
		if err := tx.QueryRowContext(ctx, `SELECT v FROM auth_version`).Scan(&version); err != nil {
			return err
		}
		d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE credential_hash = ?`, key[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.Errorf(domain.EUNAUTHORIZED, "authenticate", "unknown device credential")
		} else if err != nil {
			return err
		}
		p, err = findPerson(ctx, tx, "id = ?", d.PersonID)
		p = deviceHolder(p)
		return err
	})
	if err != nil {
		return d, p, err
	}
	if d.Status == domain.DeviceActive {
		db.auth.put(key, version, d, p)
	}
	if d.Status == domain.DeviceRevoked {
		if err := db.update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen = ? WHERE id = ?`, tx.NowText(), d.ID)
			if err != nil {
				return err
			}
			return appendAudit(ctx, tx, domain.AuditEntry{PersonID: d.PersonID, DeviceID: d.ID, Action: domain.ActionRefused,
				Detail: map[string]any{"reason": "revoked", "wipe": true}})
		}); err != nil {
			return d, p, err
		}
		return d, p, domain.Errorf(domain.EREVOKED, "authenticate", "this device has been revoked and must wipe its data")
	}
	return d, p, nil
}

// domain.Device returns one device.
func (db *DB) Device(ctx context.Context, id string) (domain.Device, error) {
	var d domain.Device
	err := db.view(ctx, func(tx *Tx) (err error) {
		d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("device", id)
		}
		return err
	})
	return d, err
}

// Devices lists devices, newest first.
func (db *DB) Devices(ctx context.Context, f domain.DeviceFilter) ([]domain.Device, error) {
	var out []domain.Device
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+prefixCols("d.", deviceCols)+` FROM devices d JOIN people p ON p.id = d.person_id
			WHERE (? = '' OR d.person_id = ?) AND (? = '' OR p.team_id = ?) AND (? = '' OR d.status = ?)
			ORDER BY d.created DESC, d.id`, f.PersonID, f.PersonID, f.TeamID, f.TeamID, f.Status, f.Status)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDevice(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// prefixCols qualifies each column of a column list with prefix ("d."),
// including the column inside a COALESCE(...). It splits on top-level
// commas only: a comma inside COALESCE(...) separates its arguments.
func prefixCols(prefix, cols string) string {
	var parts []string
	depth, from := 0, 0
	for i, r := range cols {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, cols[from:i])
				from = i + 1
			}
		}
	}
	parts = append(parts, cols[from:])
	for i, c := range parts {
		c = strings.TrimSpace(c)
		if strings.HasPrefix(c, "COALESCE(") {
			c = "COALESCE(" + prefix + strings.TrimPrefix(c, "COALESCE(")
		} else {
			c = prefix + c
		}
		parts[i] = c
	}
	return strings.Join(parts, ", ")
}

// RevokeDevice revokes a device and asks it to wipe at next contact. Its push
// tokens go in the same transaction: a revoked phone is never woken again.
func (db *DB) RevokeDevice(ctx context.Context, deviceID, by, reason string) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET status = 'revoked', wipe_requested = 1, revoked_by = ?, revoked_at = ?
			WHERE id = ? AND status = 'active'`, by, tx.NowText(), deviceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var status string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM devices WHERE id = ?`, deviceID).Scan(&status); errors.Is(err, sql.ErrNoRows) {
				return notFound("device", deviceID)
			}
			return nil // already revoked: idempotent
		}
		if err := removeDeviceTokens(ctx, tx.Tx, deviceID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, DeviceID: deviceID, Action: domain.ActionRevoke,
			Detail: map[string]any{"reason_given": reason != ""}})
	})
}

// ConfirmWipe records that a revoked device reported wiping its data.
func (db *DB) ConfirmWipe(ctx context.Context, deviceID string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET wiped_at = COALESCE(wiped_at, ?) WHERE id = ? AND status = 'revoked'`, tx.NowText(), deviceID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{DeviceID: deviceID, Action: "wiped"})
	})
}
