package domain

import "time"

// QuarantineItem is a refused changeset kept for review. It is keyed by
// (device, replica, start): a device that forges another phone's replica id
// can never collide with, or shadow, that phone's own changesets.
type QuarantineItem struct {
	ID        int64  `json:"id"`
	DeviceID  string `json:"device_id,omitempty"`
	PersonID  string `json:"person_id,omitempty"` // who pushed it (the device's owner)
	ReplicaID string `json:"replica_id"`
	Start     uint64 `json:"start"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	// Body is the encoded changeset, loaded only to review it. A body over
	// the stored bound is not kept: BodyKept is false and only its size and
	// SHA-256 digest remain (such an item can be discarded, never released).
	Body       []byte    `json:"-"`
	BodyKept   bool      `json:"body_kept"`
	BodySize   int       `json:"body_size"`
	BodyDigest string    `json:"body_digest,omitempty"`
	Created    time.Time `json:"created"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at"`
	Resolution string    `json:"resolution,omitempty"`
}

// Review resolutions.
const (
	ResolutionRelease = "release" // apply it now, if the policy allows it for its pusher and the reviewer
	ResolutionDiscard = "discard" // keep it on record, never apply
)

// QuarantineFilter narrows Quarantine.
type QuarantineFilter struct {
	Open     bool // only unreviewed
	DeviceID string
	Limit    int
	// Reviewer, when set, limits the list to what that reviewer may review:
	// items pushed by people of the reviewer's teams (everything for an
	// admin, nothing for anyone else). Nil means unscoped (the store's own
	// callers and tests); every request path sets it.
	Reviewer *Scope
}

// QuarantineDetail is one item with what releasing it would change.
type QuarantineDetail struct {
	QuarantineItem
	// Pending: the changes it depends on have not arrived, so Changes lists
	// what it writes without before values.
	Pending bool           `json:"pending,omitempty"`
	Changes []RecordChange `json:"changes"`
}

// RecordChange is what a changeset would do to one record, readably.
type RecordChange struct {
	RecordID string `json:"record_id"`
	Type     string `json:"type"`
	New      bool   `json:"new,omitempty"`
	Erase    bool   `json:"erase,omitempty"`
	// Hidden: the record is outside the reviewer's teams, so its current
	// values are not shown (only what the pusher wrote).
	Hidden bool          `json:"hidden,omitempty"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field's change. For text, Inserted and Deleted are the
// text added and removed; Before and After are always display strings,
// never raw bytes.
type FieldChange struct {
	Field    string `json:"field"`
	Before   string `json:"before,omitempty"`
	After    string `json:"after"`
	Inserted string `json:"inserted,omitempty"`
	Deleted  string `json:"deleted,omitempty"`
}
