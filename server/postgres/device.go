package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// codeEncoding is the enrolment code alphabet (no 0/O, 1/I), as SQLite's store.
var codeEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func installHash(id string) []byte {
	if id == "" {
		return nil
	}
	return hashSecret("install:" + id)
}

// codeKeyMeta names the installation's secret for enrolment code hashes.
const codeKeyMeta = "enrolment_code_key"

// codeHash is how an enrolment code is stored, as in the SQLite store: an
// HMAC-SHA256 under a per-installation secret kept in meta, so stored hashes
// cannot be matched against a table computed once for every installation.
// Nodes making the secret at once keep one (the first insert) and all read it.
func codeHash(ctx context.Context, tx *Tx, code string) ([]byte, error) {
	b, err := tx.db.random(32)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, codeKeyMeta, hex.EncodeToString(b)); err != nil {
		return nil, err
	}
	var key string
	if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, codeKeyMeta).Scan(&key); err != nil {
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

// IssueEnrolmentCode makes a one-time code for personID's next phone. Codes
// are rows, so a code issued on one node is redeemed on any.
func (db *DB) IssueEnrolmentCode(ctx context.Context, personID, createdBy string) (string, time.Time, error) {
	codes, err := db.IssueEnrolmentCodes(ctx, []string{personID}, createdBy)
	if err != nil {
		return "", time.Time{}, err
	}
	return codes[0], db.Now().UTC().Truncate(time.Microsecond).Add(domain.EnrolmentCodeTTL), nil
}

// IssueEnrolmentCodes makes one code per person, in one transaction.
func (db *DB) IssueEnrolmentCodes(ctx context.Context, personIDs []string, createdBy string) ([]string, error) {
	b, err := db.random(5 * len(personIDs))
	if err != nil {
		return nil, err
	}
	codes := make([]string, len(personIDs))
	err = db.update(ctx, func(tx *Tx) error {
		for i, personID := range personIDs {
			if _, err := findPerson(ctx, tx, "id = $1", personID); err != nil {
				return err
			}
			codes[i] = codeEncoding.EncodeToString(b[5*i : 5*i+5])
			h, err := codeHash(ctx, tx, codes[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO enrolment_codes (code_hash, person_id, expires_at, created_by, created) VALUES ($1, $2, $3, $4, $5)`,
				h, personID, tx.now.Add(domain.EnrolmentCodeTTL), createdBy, tx.now); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, domain.AuditEntry{PersonID: createdBy, Action: domain.ActionIssue, Detail: map[string]any{"for": personID}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// Enrol redeems a code for a new device.
func (db *DB) Enrol(ctx context.Context, code, platform string) (domain.Enrolment, error) {
	return db.EnrolDevice(ctx, domain.EnrolRequest{Code: code, Platform: platform})
}

// EnrolDevice redeems a code: a new device, or (the same install retrying
// within the window) the device the code already made, or (a kept replica
// id) the device that replica belongs to. The code's row is locked, so two
// nodes redeeming one code at once enrol one device.
func (db *DB) EnrolDevice(ctx context.Context, req domain.EnrolRequest) (domain.Enrolment, error) {
	var e domain.Enrolment
	rnd, err := db.random(16 + 16 + 32)
	if err != nil {
		return e, err
	}
	invalid := domain.Errorf(domain.EUNAUTHORIZED, "enrol", "enrolment code is not valid (unknown, used or expired)")
	err = db.update(ctx, func(tx *Tx) error {
		e = domain.Enrolment{DeviceID: "dev_" + hex.EncodeToString(rnd[:16]), ReplicaID: hex.EncodeToString(rnd[16:32]),
			Credential: base64.RawURLEncoding.EncodeToString(rnd[32:])}
		codeHash, err := codeHash(ctx, tx, domain.NormaliseCode(req.Code))
		if err != nil {
			return err
		}
		var expires time.Time
		var used *time.Time
		var usedBy *string
		var install []byte
		err = tx.QueryRow(ctx, `SELECT person_id, expires_at, used_at, device_id, install_hash FROM enrolment_codes WHERE code_hash = $1 FOR UPDATE`,
			codeHash).Scan(&e.PersonID, &expires, &used, &usedBy, &install)
		if errors.Is(err, pgx.ErrNoRows) {
			return invalid
		} else if err != nil {
			return err
		}
		if used != nil {
			if req.InstallID != "" && len(install) > 0 && subtle.ConstantTimeCompare(installHash(req.InstallID), install) == 1 &&
				used.Add(domain.EnrolRetryWindow).After(tx.now) && usedBy != nil {
				return enrolRetry(ctx, tx, &e, *usedBy, req.Platform)
			}
			return invalid
		}
		if !expires.After(tx.now) {
			return invalid
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
		if _, err := tx.Exec(ctx, `UPDATE enrolment_codes SET used_at = $1, device_id = $2, install_hash = $3 WHERE code_hash = $4`,
			tx.now, e.DeviceID, installHash(req.InstallID), codeHash); err != nil {
			return err
		}
		if kept != "" {
			if _, err := tx.Exec(ctx, `UPDATE devices SET credential_hash = $1, platform = $2, status = 'active', revoked_by = NULL,
				revoked_at = NULL, last_seen = $3 WHERE id = $4`, hashSecret(e.Credential), req.Platform, tx.now, kept); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `INSERT INTO devices (id, person_id, replica_id, platform, credential_hash, created, last_seen)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, e.DeviceID, e.PersonID, e.ReplicaID, req.Platform, hashSecret(e.Credential), tx.now); err != nil {
			return err
		}
		detail := map[string]any{"platform": req.Platform}
		if req.ReplicaID != "" {
			detail["kept_replica"] = true
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: e.PersonID, DeviceID: e.DeviceID, Action: domain.ActionEnrol, Detail: detail})
	})
	return e, err
}

// enrolRetry answers a retried enrolment (the reply was lost) with the
// device the first attempt made and a fresh credential.
func enrolRetry(ctx context.Context, tx *Tx, e *domain.Enrolment, deviceID, platform string) error {
	var replica, status string
	err := tx.QueryRow(ctx, `SELECT replica_id, status FROM devices WHERE id = $1 AND person_id = $2`, deviceID, e.PersonID).Scan(&replica, &status)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != domain.DeviceActive) {
		return domain.Errorf(domain.EUNAUTHORIZED, "enrol", "enrolment code is not valid (unknown, used or expired)")
	} else if err != nil {
		return err
	}
	if err := enrolPerson(ctx, tx, e); err != nil {
		return err
	}
	e.DeviceID, e.ReplicaID = deviceID, replica
	if _, err := tx.Exec(ctx, `UPDATE devices SET credential_hash = $1, platform = $2, last_seen = $3 WHERE id = $4`,
		hashSecret(e.Credential), platform, tx.now, deviceID); err != nil {
		return err
	}
	return appendAudit(ctx, tx, domain.AuditEntry{PersonID: e.PersonID, DeviceID: deviceID, Action: domain.ActionEnrol,
		Detail: map[string]any{"platform": platform, "retry": true}})
}

// claimReplica checks a reinstalled phone may keep its replica id: it is
// the server's own or another person's (forbidden), or a lost phone's.
func claimReplica(ctx context.Context, tx *Tx, person, replica string) (string, error) {
	id, err := syncengine.ParseReplicaID(replica)
	if err != nil || id.String() != replica || id == (syncengine.ReplicaID{}) {
		return "", domain.Errorf(domain.EINVALID, "enrol", "replica_id is not a replica id")
	}
	forbidden := domain.Errorf(domain.EFORBIDDEN, "enrol", "this replica id belongs to another device: enrol without it")
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM meta WHERE key LIKE '%\_replica' AND value = $1`, replica).Scan(&n); err != nil {
		return "", err
	} else if n > 0 {
		return "", forbidden
	}
	var deviceID, owner string
	var wipe bool
	err = tx.QueryRow(ctx, `SELECT id, person_id, wipe_requested FROM devices WHERE replica_id = $1`, replica).Scan(&deviceID, &owner, &wipe)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		deviceID = ""
	case err != nil:
		return "", err
	case owner != person:
		return "", forbidden
	case wipe:
		return "", domain.Errorf(domain.EFORBIDDEN, "enrol", "the phone with this replica id was reported lost and told to wipe: enrol without it")
	}
	var other string
	err = tx.QueryRow(ctx, `SELECT author FROM changesets WHERE replica_id = $1 AND author <> $2 LIMIT 1`, replica, person).Scan(&other)
	if err == nil {
		return "", forbidden
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	return deviceID, nil
}

func enrolPerson(ctx context.Context, tx *Tx, e *domain.Enrolment) error {
	if err := tx.QueryRow(ctx, `SELECT role, COALESCE(team_id, ''), COALESCE(service_id, '') FROM people WHERE id = $1`,
		e.PersonID).Scan(&e.Role, &e.TeamID, &e.ServiceID); err != nil {
		return fmt.Errorf("enrolment code's person: %w", err)
	}
	return nil
}

const deviceCols = `d.id, d.person_id, d.replica_id, d.platform, d.status, d.wipe_requested, d.wiped_at, COALESCE(d.revoked_by, ''), d.revoked_at,
	d.created, d.last_seen, d.last_sync_at, d.last_cursor, d.pending_reported, d.served_scope`

func scanDevice(sc pgx.Row) (domain.Device, error) {
	var d domain.Device
	var wiped, revoked, seen, synced *time.Time
	err := sc.Scan(&d.ID, &d.PersonID, &d.ReplicaID, &d.Platform, &d.Status, &d.WipeRequested, &wiped,
		&d.RevokedBy, &revoked, &d.Created, &seen, &synced, &d.LastCursor, &d.PendingReported, &d.ServedScope)
	d.WipedAt, d.RevokedAt, d.LastSeen, d.LastSyncAt, d.Created = tm(wiped), tm(revoked), tm(seen), tm(synced), d.Created.UTC()
	return d, err
}

// Authenticate finds the device and person a credential belongs to; a
// revoked device is refused and told to wipe.
func (db *DB) Authenticate(ctx context.Context, credential string) (domain.Device, domain.Person, error) {
	var d domain.Device
	var p domain.Person
	if credential == "" {
		return d, p, domain.Errorf(domain.EUNAUTHORIZED, "authenticate", "device credential required")
	}
	err := db.view(ctx, func(tx *Tx) (err error) {
		d, err = scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE credential_hash = $1`, hashSecret(credential)))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.EUNAUTHORIZED, "authenticate", "unknown device credential")
		} else if err != nil {
			return err
		}
		p, err = findPerson(ctx, tx, "id = $1", d.PersonID)
		return err
	})
	if err != nil {
		return d, p, err
	}
	if d.Status == domain.DeviceRevoked {
		if err := db.update(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE devices SET last_seen = $1 WHERE id = $2`, tx.now, d.ID); err != nil {
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

// Device reads one device.
func (db *DB) Device(ctx context.Context, id string) (domain.Device, error) {
	d, err := scanDevice(db.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, notFound("device", id)
	}
	return d, err
}

// Devices lists devices matching f, newest first.
func (db *DB) Devices(ctx context.Context, f domain.DeviceFilter) ([]domain.Device, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices d JOIN people p ON p.id = d.person_id
		WHERE ($1 = '' OR d.person_id = $1) AND ($2 = '' OR p.team_id = $2) AND ($3 = '' OR d.status = $3)
		ORDER BY d.created DESC, d.id`, f.PersonID, f.TeamID, f.Status)
	return collect(rows, err, func(r pgx.Rows) (domain.Device, error) { return scanDevice(r) })
}

// RevokeDevice revokes a device and asks it to wipe; revoking twice is a
// no-op. Its live channel, on whichever node, is poked to sync now and learn.
func (db *DB) RevokeDevice(ctx context.Context, deviceID, by, reason string) error {
	err := db.revokeDevice(ctx, deviceID, by, reason)
	if err == nil {
		db.poke(ctx, []string{"device:" + deviceID})
	}
	return err
}

func (db *DB) revokeDevice(ctx context.Context, deviceID, by, reason string) error {
	return db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET status = 'revoked', wipe_requested = true, revoked_by = $1, revoked_at = $2
			WHERE id = $3 AND status = 'active'`, by, tx.now, deviceID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM devices WHERE id = $1`, deviceID).Scan(&status); errors.Is(err, pgx.ErrNoRows) {
				return notFound("device", deviceID)
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM push_tokens WHERE device_id = $1`, deviceID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, DeviceID: deviceID, Action: domain.ActionRevoke,
			Detail: map[string]any{"reason_given": reason != ""}})
	})
}

// ConfirmWipe records that a revoked device wiped itself.
func (db *DB) ConfirmWipe(ctx context.Context, deviceID string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE devices SET wiped_at = COALESCE(wiped_at, $1) WHERE id = $2 AND status = 'revoked'`, tx.now, deviceID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{DeviceID: deviceID, Action: "wiped"})
	})
}
