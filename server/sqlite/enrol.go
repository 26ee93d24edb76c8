package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func installHash(id string) any {
	if id == "" {
		return nil
	}
	return hashSecret("install:" + id)
}

// isRetry reports whether a used code is being presented again by the
// install that used it, within the retry window: its answer was lost.
func isRetry(tx *Tx, req domain.EnrolRequest, usedAt string, install []byte) bool {
	if req.InstallID == "" || len(install) == 0 {
		return false
	}
	want := installHash(req.InstallID).([]byte)
	if subtle.ConstantTimeCompare(want, install) != 1 {
		return false
	}
	return parseTime(usedAt).Add(domain.EnrolRetryWindow).After(tx.now)
}

// enrolRetry answers a retried enrolment with the device the first attempt
// made: same device and replica id, a fresh credential (the first one never
// reached the phone; it stops working, so no credential nobody holds stays
// valid).
func enrolRetry(ctx context.Context, tx *Tx, e *domain.Enrolment, deviceID, platform string) error {
	var replica, status string
	err := tx.QueryRowContext(ctx, `SELECT replica_id, status FROM devices WHERE id = ? AND person_id = ?`, deviceID, e.PersonID).Scan(&replica, &status)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && status != domain.DeviceActive) {
		return domain.Errorf(domain.EUNAUTHORIZED, "enrol", "enrolment code is not valid (unknown, used or expired)")
	} else if err != nil {
		return err
	}
	if err := enrolPerson(ctx, tx, e); err != nil {
		return err
	}
	e.DeviceID, e.ReplicaID = deviceID, replica
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET credential_hash = ?, platform = ?, last_seen = ? WHERE id = ?`,
		hashSecret(e.Credential), platform, tx.NowText(), deviceID); err != nil {
		return err
	}
	return appendAudit(ctx, tx, domain.AuditEntry{PersonID: e.PersonID, DeviceID: deviceID, Action: domain.ActionEnrol,
		Detail: map[string]any{"platform": platform, "retry": true}})
}

// claimReplica checks that person may enrol a phone that keeps writing with
// replica: it is a well-formed id, not one of the server's own, and nothing
// on the server ties it to anyone else (a device, a stored or held
// changeset). A device of the same person already holding it is returned, to
// be given the new credential (re-issue); a wiped or lost one is not.
func claimReplica(ctx context.Context, tx *Tx, person, replica string) (deviceID string, err error) {
	id, err := syncengine.ParseReplicaID(replica)
	if err != nil || id.String() != replica || id == (syncengine.ReplicaID{}) {
		return "", domain.Errorf(domain.EINVALID, "enrol", "replica_id is not a replica id")
	}
	forbidden := domain.Errorf(domain.EFORBIDDEN, "enrol", "this replica id belongs to another device: enrol without it")
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key LIKE '%\_replica' ESCAPE '\' AND value = ?`, replica).Scan(&n); err != nil {
		return "", err
	} else if n > 0 {
		return "", forbidden
	}
	var owner string
	var wipe bool
	err = tx.QueryRowContext(ctx, `SELECT id, person_id, wipe_requested FROM devices WHERE replica_id = ?`, replica).Scan(&deviceID, &owner, &wipe)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		deviceID = ""
	case err != nil:
		return "", err
	case owner != person:
		return "", forbidden
	case wipe:
		return "", domain.Errorf(domain.EFORBIDDEN, "enrol", "the phone with this replica id was reported lost and told to wipe: enrol without it")
	}
	// After a restore the device row may be gone while its changesets stay:
	// their author says whose replica it was.
	var other string
	err = tx.QueryRowContext(ctx, `SELECT author FROM changesets WHERE replica_id = ? AND author <> ? LIMIT 1`, replica, person).Scan(&other)
	if err == nil {
		return "", forbidden
	} else if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	return deviceID, nil
}

// reissueDevice gives a person's existing device (found by its replica id) a
// new credential and makes it active again.
func reissueDevice(ctx context.Context, tx *Tx, deviceID, credential, platform string) error {
	_, err := tx.ExecContext(ctx, `UPDATE devices SET credential_hash = ?, platform = ?, status = 'active', revoked_by = NULL,
		revoked_at = NULL, last_seen = ? WHERE id = ?`, hashSecret(credential), platform, tx.NowText(), deviceID)
	return err
}

// enrolPerson fills in who the phone belongs to (role, team, service).
func enrolPerson(ctx context.Context, tx *Tx, e *domain.Enrolment) error {
	if err := tx.QueryRowContext(ctx, `SELECT role, COALESCE(team_id, ''), COALESCE(service_id, '') FROM people WHERE id = ?`,
		e.PersonID).Scan(&e.Role, &e.TeamID, &e.ServiceID); err != nil {
		return fmt.Errorf("enrolment code's person: %w", err)
	}
	return nil
}
