package domain

import (
	"slices"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Erasure reasons: why records were erased (kept with the ledger entry).
const (
	ErasureByRequest = "request"   // a lawful erasure request (a supervisor)
	ErasureRetention = "retention" // the retention schedule
	ErasureReapplied = "reapplied" // done again after a restore brought it back
)

// Audit actions added by privacy.
const (
	ActionPurged   = "purge_confirmed" // a phone confirmed it purged erased records
	ActionRetain   = "retention_run"   // a retention run and what it removed
	ActionHold     = "legal_hold"
	ActionSettings = "retention_rules"
)

// ErasureRequest is what an erasure does: records erased whole, and
// encounters that name the young person redacted (their link removed and
// the named words deleted from their narrative text).
type ErasureRequest struct {
	By            string // the person asking (a supervisor), or "" for the server
	YoungPersonID string // whose erasure this is ("" for retention)
	Reason        string // kept in place of the records: never put the erased words here
	Kind          string // ErasureByRequest | ErasureRetention
	Erase         []string
	Redact        []Redaction
}

// Redaction removes one young person from one encounter.
type Redaction struct {
	EncounterID string
	Unlink      string   // the young person's id, taken out of young_people
	Words       []string // deleted wherever they appear in the narrative text
}

// ErasureResult is what an erasure did.
type ErasureResult struct {
	Erased   []string `json:"erased"`
	Redacted []string `json:"redacted"`
	Devices  int      `json:"devices"` // phones told to purge
	Touched  []string `json:"-"`       // scope keys to poke
}

// LedgerEntry is one line of the erasure ledger: ids and times only, never
// content, so it can outlive every backup and be applied again after a
// restore. Spans name the characters a redaction deleted (by id).
type LedgerEntry struct {
	At     time.Time                    `json:"at"`
	Record string                       `json:"record"`
	Kind   string                       `json:"kind"` // "erase" | "redact"
	Reason string                       `json:"reason"`
	Unlink string                       `json:"unlink,omitempty"`
	Spans  map[string][]syncengine.Span `json:"spans,omitempty"` // text field -> deleted character ids
}

// PurgeNotice is one phone's state for one erased record.
type PurgeNotice struct {
	RecordID    string    `json:"record_id"`
	DeviceID    string    `json:"device_id"`
	PersonID    string    `json:"person_id"`
	NotifiedAt  time.Time `json:"notified_at"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
}

// Access is one time somebody received or opened a record: a phone's pull
// (device) or a portal page or export (person).
type Access struct {
	At       time.Time `json:"at"`
	PersonID string    `json:"person_id"`
	DeviceID string    `json:"device_id,omitempty"`
	How      string    `json:"how"` // "download" | "read" | "export" | ...
	Records  []string  `json:"records"`
	AuditID  int64     `json:"audit_id"`
}

// RetentionRule keeps records of one type for a period after a basis date.
type RetentionRule struct {
	Type     string `json:"type" validate:"required,oneof=encounter referral follow_up"`
	KeepDays int    `json:"keep_days" validate:"gte=30,lte=36500"`
	// Basis: encounters count from the last contact (ended_at, else
	// started_at); referrals from closure (closed, declined or withdrawn);
	// follow-ups from when they were done or cancelled.
	Basis string `json:"basis"`
}

// RetentionBasis is the basis date each type's rule counts from.
var RetentionBasis = map[string]string{
	syncengine.TypeEncounter: "last_contact",
	syncengine.TypeReferral:  "closure",
	syncengine.TypeFollowUp:  "completion",
}

// DefaultRetention is the schedule before an admin changes it.
var DefaultRetention = []RetentionRule{
	{Type: syncengine.TypeEncounter, KeepDays: 3 * 365, Basis: "last_contact"},
	{Type: syncengine.TypeReferral, KeepDays: 6 * 365, Basis: "closure"},
	{Type: syncengine.TypeFollowUp, KeepDays: 3 * 365, Basis: "completion"},
}

// RetentionItem is one record a retention run removes (or keeps for a hold).
type RetentionItem struct {
	RecordID string    `json:"record_id"`
	Type     string    `json:"type"`
	Since    time.Time `json:"since"` // the basis date
	Hold     string    `json:"hold,omitempty"`
}

// RetentionPlan is what the next run will remove, and what it keeps for a hold.
type RetentionPlan struct {
	At     time.Time       `json:"at"`
	Remove []RetentionItem `json:"remove"`
	Held   []RetentionItem `json:"held"`
}

// RetentionRun is the report of one run.
type RetentionRun struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Removed []string  `json:"removed"`
	Held    int       `json:"held"`
}

// LegalHold keeps a record from retention (and erasure) while it stands.
type LegalHold struct {
	RecordID string    `json:"record_id"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// AuditVerify is the result of checking the audit log's hash chain.
type AuditVerify struct {
	Rows  int    `json:"rows"`
	OK    bool   `json:"ok"`
	BadID int64  `json:"bad_id,omitempty"` // the first row that does not verify
	Why   string `json:"why,omitempty"`
}

// RetentionSince is the date a record's retention period counts from, by
// its type's basis; ok is false while the period has not started (an open
// referral, a follow-up not done).
func RetentionSince(r *syncengine.Record) (since time.Time, ok bool) {
	switch r.Type {
	case syncengine.TypeEncounter:
		for _, t := range []time.Time{r.Time("ended_at"), r.Time("started_at"), r.Updated.Time()} {
			if !t.IsZero() {
				return t, true
			}
		}
	case syncengine.TypeReferral:
		switch r.String("status") {
		case "closed", "declined", "withdrawn":
			return r.WrittenAt("status"), true
		}
	case syncengine.TypeFollowUp:
		switch r.String("status") {
		case "done", "cancelled":
			return r.WrittenAt("status"), true
		}
	}
	return time.Time{}, false
}

// LinkedYoungPeople lists the young people a record is about.
func LinkedYoungPeople(r *syncengine.Record) []string {
	switch r.Type {
	case syncengine.TypeYoungPerson:
		return []string{string(r.ID)}
	case syncengine.TypeEncounter:
		return r.Set("young_people")
	case syncengine.TypeReferral, syncengine.TypeFollowUp:
		if yp := r.String("young_person_id"); yp != "" {
			return []string{yp}
		}
	}
	return nil
}

// SafeguardingHold reports whether a young person's profile is under a
// safeguarding hold (nothing about them may be erased).
func SafeguardingHold(yp *syncengine.Record) bool {
	return yp != nil && yp.Erased == nil && yp.Bool("safeguarding_hold")
}

// AccessSummary is who and which devices appear in an access history.
type AccessSummary struct {
	People  []string `json:"people"`
	Devices []string `json:"devices"`
}

// Summarise lists the distinct people and devices in an access history.
func Summarise(h []Access) AccessSummary {
	s := AccessSummary{People: []string{}, Devices: []string{}}
	for _, a := range h {
		if a.PersonID != "" && !slices.Contains(s.People, a.PersonID) {
			s.People = append(s.People, a.PersonID)
		}
		if a.DeviceID != "" && !slices.Contains(s.Devices, a.DeviceID) {
			s.Devices = append(s.Devices, a.DeviceID)
		}
	}
	slices.Sort(s.People)
	slices.Sort(s.Devices)
	return s
}
