package domain

import "time"

// Audit actions.
const (
	ActionRead    = "read"
	ActionWrite   = "write"
	ActionShare   = "share"
	ActionExport  = "export"
	ActionErase   = "erase"
	ActionRevoke  = "revoke"
	ActionEnrol   = "enrol"
	ActionLogin   = "login"
	ActionIssue   = "issue_code"
	ActionRefused = "refused" // a revoked device made contact
	ActionQuar    = "quarantine"
	ActionReview  = "review"
	ActionBackup  = "backup"
	ActionEdit    = "edit" // organisation / directory edits
)

// AuditEntry is one line of the append-only audit log. Detail must never
// carry note text: ids, counts, codes and field names only.
type AuditEntry struct {
	ID       int64          `json:"id"`
	At       time.Time      `json:"at"`
	PersonID string         `json:"person_id,omitempty"`
	DeviceID string         `json:"device_id,omitempty"`
	Action   string         `json:"action"`
	RecordID string         `json:"record_id,omitempty"`
	Detail   map[string]any `json:"detail,omitempty"`
}

// AuditFilter narrows Audit; zero fields match everything. Results are newest first.
type AuditFilter struct {
	PersonID string
	DeviceID string
	Action   string
	RecordID string
	Since    time.Time
	Until    time.Time
	BeforeID int64 // paging: only entries with id < BeforeID
	Limit    int   // default 100, max 1000
}

// SharingDecision records who shared a referral, on what basis, and why.
type SharingDecision struct {
	ID            int64     `json:"id"`
	ReferralID    string    `json:"referral_id"`
	Decision      string    `json:"decision"` // given | refused | shared_without_consent
	Justification string    `json:"justification"`
	DecidedBy     string    `json:"decided_by"`
	At            time.Time `json:"at"`
}
