package domain

import "time"

// Password link purposes.
const (
	PasswordSet   = "set"   // a new account's first password
	PasswordReset = "reset" // an admin reset a forgotten one
)

// PasswordToken is a one-time link to set a password. Only the hash of the
// token in the link is stored.
type PasswordToken struct {
	TokenHash []byte
	PersonID  string
	Purpose   string // PasswordSet or PasswordReset
	CreatedBy string // the admin's person id, or "cli" for `joinedup admin create`
	Expires   time.Time
}

// Deactivation is what ending a person's access did, for the admin's page
// and the audit log.
type Deactivation struct {
	PersonID       string `json:"person_id"`
	DevicesRevoked int    `json:"devices_revoked"`
	SessionsEnded  int    `json:"sessions_ended"`
	// Flagged are the open follow-ups and referrals the person had, now
	// listed for their supervisor (Supervisor) to reassign.
	Flagged    []string `json:"flagged"`
	Supervisor string   `json:"flagged_to,omitempty"` // "" if the person's team has no supervisor
}

// Audit actions of account administration.
const (
	ActionDeactivate   = "deactivate"
	ActionPasswordLink = "password_link"
	ActionPasswordSet  = "password_set"
	ActionUnlock       = "unlock"
	ActionEndSessions  = "end_sessions"
	ActionTwoFactor    = "two_factor"
)
