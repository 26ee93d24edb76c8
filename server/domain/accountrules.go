package domain

import "github.com/joinedup/joinedup/syncengine"

// The rules of account administration that are not storage: both stores
// call them between their reads and their writes, so they say the same
// thing in the same words.

// CheckPasswordToken refuses a link of an unknown purpose, or for a person
// who has left.
func CheckPasswordToken(t PasswordToken, p Person) error {
	if t.Purpose != PasswordSet && t.Purpose != PasswordReset {
		return Errorf(EINVALID, "password link", "unknown purpose %q", t.Purpose)
	}
	if !p.Deactivated.IsZero() {
		return Errorf(ECONFLICT, "password link", "%s has been deactivated", p.Name)
	}
	return nil
}

// ErrDeadLink answers an unknown, used or expired password link alike, so
// a link tells nothing once it stops working.
var ErrDeadLink = Errorf(ENOTFOUND, "set password", "this link has expired or has already been used; ask an admin for a new one")

// CheckDeactivate refuses deactivating twice, or oneself.
func CheckDeactivate(p Person, by string) error {
	if !p.Deactivated.IsZero() {
		return Errorf(ECONFLICT, "deactivate", "%s was already deactivated", p.Name)
	}
	if p.ID == by {
		return Errorf(EINVALID, "deactivate", "you cannot deactivate yourself; ask another admin")
	}
	return nil
}

// OpenWorkOf reports whether rec (a follow-up) is open and assigned to
// personID: a leaver's open work is listed for their supervisor.
func OpenWorkOf(rec *syncengine.Record, personID string) bool {
	return rec.String("assignee") == personID && rec.String("status") == "open"
}

// DeactivationAudit is the audit entry of a deactivation.
func DeactivationAudit(by string, d Deactivation) AuditEntry {
	return AuditEntry{PersonID: by, Action: ActionDeactivate, RecordID: d.PersonID,
		Detail: map[string]any{"devices_revoked": d.DevicesRevoked, "sessions_ended": d.SessionsEnded,
			"flagged": d.Flagged, "flagged_to": d.Supervisor}}
}

// ErrTOTPReplay answers a code whose time step was already accepted.
var ErrTOTPReplay = Errorf(ECONFLICT, "two-factor", "that code has already been used; wait for the next one")

// Audit entries of the second factor.
func TOTPEnrolledAudit(personID string, codes int) AuditEntry {
	return AuditEntry{PersonID: personID, Action: ActionTwoFactor, RecordID: personID,
		Detail: map[string]any{"enrolled": true, "recovery_codes": codes}}
}

func RecoveryCodeUsedAudit(personID string) AuditEntry {
	return AuditEntry{PersonID: personID, Action: ActionTwoFactor, RecordID: personID, Detail: map[string]any{"recovery_code_used": true}}
}

func TOTPResetAudit(personID, by string) AuditEntry {
	return AuditEntry{PersonID: by, Action: ActionTwoFactor, RecordID: personID, Detail: map[string]any{"reset": true}}
}
