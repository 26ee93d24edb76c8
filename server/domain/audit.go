package domain

import (
	"slices"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

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

// ChangesetAudit is the one audit entry of an accepted changeset: who wrote
// it from which device, its log position and the records it changed (ids
// and types only). One row per changeset, not per record, keeps the audit
// (and its hash chain) off the hot path of a push; a filter by record
// matches the row through Detail["records"] (both stores). RecordID is set
// when the changeset changed a single record, the usual case. The action is
// erase when the changeset erased a record.
func ChangesetAudit(author, deviceID string, seq int64, ops int, recs []*syncengine.Record) AuditEntry {
	e := AuditEntry{PersonID: author, DeviceID: deviceID, Action: ActionWrite}
	ids := make([]string, 0, len(recs))
	var types, erased []string
	for _, r := range recs {
		ids = append(ids, string(r.ID))
		if !slices.Contains(types, r.Type) {
			types = append(types, r.Type)
		}
		if r.Erased != nil {
			erased = append(erased, string(r.ID))
		}
	}
	if len(ids) == 1 {
		e.RecordID = ids[0]
	}
	slices.Sort(types)
	e.Detail = map[string]any{"seq": seq, "ops": ops, "records": ids, "types": types}
	if len(erased) > 0 {
		e.Action = ActionErase
		e.Detail["erased"] = erased
	}
	return e
}
