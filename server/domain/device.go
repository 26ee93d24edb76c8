package domain

import "time"

// Device statuses.
const (
	DeviceActive  = "active"
	DeviceRevoked = "revoked"
)

// Device is an enrolled phone (or a service's tablet). Its credential is
// stored only as a SHA-256 hash: 32 random bytes need no slow hash.
type Device struct {
	ID              string    `json:"id"`
	PersonID        string    `json:"person_id"`
	ReplicaID       string    `json:"replica_id"`
	Platform        string    `json:"platform"`
	Status          string    `json:"status"`
	WipeRequested   bool      `json:"wipe_requested"`
	WipedAt         time.Time `json:"wiped_at"`
	RevokedBy       string    `json:"revoked_by,omitempty"`
	RevokedAt       time.Time `json:"revoked_at"`
	Created         time.Time `json:"created"`
	LastSeen        time.Time `json:"last_seen"`
	LastSyncAt      time.Time `json:"last_sync_at"`
	LastCursor      int64     `json:"last_cursor"`
	PendingReported int64     `json:"pending_reported"`
	ServedScope     string    `json:"-"`
}

// EnrolmentCodeTTL is how long a one-time enrolment code is valid.
const EnrolmentCodeTTL = 15 * time.Minute

// Enrolment is what a phone receives for a valid code.
type Enrolment struct {
	DeviceID   string `json:"device_id"`
	ReplicaID  string `json:"replica_id"`
	Credential string `json:"credential"`
	PersonID   string `json:"person_id"`
	// Who the phone belongs to, so it can set itself up without another
	// call: role (worker, supervisor, practitioner, admin), the person's team
	// (new records default to it) and, for a practitioner, their service.
	Role      string `json:"role"`
	TeamID    string `json:"team_id"`
	ServiceID string `json:"service_id,omitempty"`
}

// DeviceFilter narrows Devices; zero fields match everything.
type DeviceFilter struct {
	PersonID string
	TeamID   string // devices of people in this team
	Status   string
}
