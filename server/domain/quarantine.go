package domain

import "time"

// QuarantineItem is a refused changeset kept for review.
type QuarantineItem struct {
	ID         int64     `json:"id"`
	DeviceID   string    `json:"device_id,omitempty"`
	ReplicaID  string    `json:"replica_id"`
	Start      uint64    `json:"start"`
	Code       string    `json:"code"`
	Message    string    `json:"message"`
	Body       []byte    `json:"-"`
	Created    time.Time `json:"created"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at"`
	Resolution string    `json:"resolution,omitempty"`
}

// Review resolutions.
const (
	ResolutionRelease = "release" // apply it now, on a supervisor's authority
	ResolutionDiscard = "discard" // keep it on record, never apply
)

// QuarantineFilter narrows Quarantine.
type QuarantineFilter struct {
	Open     bool // only unreviewed
	DeviceID string
	Limit    int
}
