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

// MayIssueEnrolmentCode decides whether issuer (as their current scope) may
// issue a code that enrols a phone as target (whose current scope is
// targetScope). A code is the target's identity on a phone, so it must
// never give that phone more than the issuer has: an admin issues any code;
// a supervisor issues codes for workers of the teams they supervise and for
// supervisors whose teams are all among theirs; practitioners' and admins'
// codes only an admin issues. The API and the portal both call this.
func MayIssueEnrolmentCode(issuer Scope, target Person, targetScope Scope) error {
	const op = "issue enrolment code"
	if issuer.All && issuer.Role == RoleAdmin {
		return nil
	}
	if issuer.Role != RoleSupervisor {
		return Errorf(EFORBIDDEN, op, "only supervisors and admins issue enrolment codes")
	}
	switch target.Role {
	case RoleWorker:
		if !issuer.HasTeam(target.TeamID) {
			return Errorf(EFORBIDDEN, op, "that person is not in a team you supervise")
		}
	case RoleSupervisor:
		if len(targetScope.Teams) == 0 || !targetScope.subsetOf(issuer) {
			return Errorf(EFORBIDDEN, op, "that supervisor has teams you do not supervise")
		}
	default:
		return Errorf(EFORBIDDEN, op, "only an admin issues enrolment codes for a %s", target.Role)
	}
	return nil
}

func (s Scope) subsetOf(o Scope) bool {
	for _, t := range s.Teams {
		if !o.HasTeam(t) {
			return false
		}
	}
	return true
}
