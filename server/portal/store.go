package portal

import (
	"context"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/syncengine"
)

// The store methods the portal calls, grouped by what they are about, in the
// domain's types. cmd/joinedup passes *sqlite.DB (and asserts it fits).
// Sign-in is server/signin's.

// People is the organisation: who signs in and what they may see.
type People interface {
	PersonByEmail(ctx context.Context, email string) (domain.Person, error)
	Person(ctx context.Context, id string) (domain.Person, error)
	People(ctx context.Context, f domain.PeopleFilter) ([]domain.Person, error)
	signin.Store
	ScopeOf(ctx context.Context, p domain.Person) (domain.Scope, error)
	Areas(ctx context.Context) ([]domain.Area, error)
	Teams(ctx context.Context) ([]domain.Team, error)
}

// Directory is the service directory and its data-sharing agreements.
type Directory interface {
	Services(ctx context.Context) ([]domain.Service, error)
	Service(ctx context.Context, id string) (domain.Service, error)
	UpsertService(ctx context.Context, s domain.Service) error
}

// Records reads the materialised record states (writes go through the server replica).
type Records interface {
	Records(ctx context.Context, f domain.RecordFilter) ([]*syncengine.Record, error)
	RecordState(ctx context.Context, id string) (*syncengine.Record, error)
	FiledRecord(ctx context.Context, id string) (*syncengine.Record, syncengine.Filing, error)
	SharingDecisions(ctx context.Context, referralID string) ([]domain.SharingDecision, error)
}

// Devices is phone enrolment and revocation.
type Devices interface {
	Devices(ctx context.Context, f domain.DeviceFilter) ([]domain.Device, error)
	Device(ctx context.Context, id string) (domain.Device, error)
	IssueEnrolmentCode(ctx context.Context, personID, createdBy string) (string, time.Time, error)
	RevokeDevice(ctx context.Context, deviceID, by, reason string) error
}

// Oversight is the audit log and the quarantine.
type Oversight interface {
	AppendAudit(ctx context.Context, e domain.AuditEntry) error
	Audit(ctx context.Context, f domain.AuditFilter) ([]domain.AuditEntry, error)
	Quarantine(ctx context.Context, f domain.QuarantineFilter) ([]domain.QuarantineItem, error)
	QuarantineItem(ctx context.Context, id int64, reviewer domain.Person) (domain.QuarantineDetail, error)
	ReviewQuarantine(ctx context.Context, id int64, reviewer domain.Person, resolution string) error
}

// Concerns are the safeguarding concern alerts the notification rules open.
type Concerns interface {
	ConcernAlerts(ctx context.Context, f domain.ConcernAlertFilter) ([]domain.ConcernAlert, error)
	AcknowledgeConcern(ctx context.Context, encounterID, by, note string) (int, error)
}

// Sessions are staff browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s domain.StaffSession) error
	Session(ctx context.Context, tokenHash []byte) (domain.StaffSession, error)
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash []byte) error
	SpendSSOState(ctx context.Context, stateHash []byte, until time.Time) (bool, error)
}

// Editor saves supervisors' edits (sign-off, conflict resolution, erasure,
// accept/decline) as changesets the server authors, so they reach every phone
// like any other change; it returns the scope keys touched, to poke phones.
type Editor interface {
	ServerEdit(ctx context.Context, author string, fn func(*syncengine.Txn) error) ([]string, error)
}

// Store is everything the portal needs.
type Store interface {
	People
	Directory
	Records
	Devices
	Oversight
	Transfers
	Sessions
	Editor
	Privacy
	Accounts
	Concerns
	domain.Searcher
	domain.SavedFilters
}
