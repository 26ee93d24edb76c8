package domain

import (
	"context"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// The store, in the domain's terms: a few narrow interfaces, each about one
// thing, that together are what a storage backend provides. server/sqlite
// implements them all (and asserts so); a Postgres store will too, and
// server/storetest checks any implementation against the same behaviour.
// Consumers (api, portal, notify, push) declare only the methods they call,
// in these types, and never import a store.

// SyncStore is the changeset log and the records materialised from it.
type SyncStore interface {
	// Sync applies a device's changesets (each exactly once; refused ones
	// are quarantined with a reason) and reads its next pull page, in one
	// transaction.
	Sync(ctx context.Context, req SyncRequest) (*SyncResult, error)
	// Import appends trusted changesets (demo data, migrations from another
	// system); duplicates are skipped, so an import can be re-run.
	Import(ctx context.Context, css []*syncengine.Changeset) (accepted int, err error)
	// ServerEdit stores a change the server authors (a supervisor's
	// sign-off) like a pushed one, reading and committing in one
	// transaction; it returns the scope keys touched.
	ServerEdit(ctx context.Context, author string, fn func(*syncengine.Txn) error) ([]string, error)
}

// FetchStore sends a phone records its field-subset first sync left out
// (domain.FetchRequest), under the pull's policy and audit.
type FetchStore interface {
	Fetch(ctx context.Context, req FetchRequest) (*FetchResult, error)
}

// RecordReader reads materialised records.
type RecordReader interface {
	RecordState(ctx context.Context, id string) (*syncengine.Record, error)
	Records(ctx context.Context, f RecordFilter) ([]*syncengine.Record, error)
	SharingDecisions(ctx context.Context, referralID string) ([]SharingDecision, error)
}

// DeviceStore is phone enrolment, authentication and revocation.
type DeviceStore interface {
	IssueEnrolmentCode(ctx context.Context, personID, createdBy string) (code string, expires time.Time, err error)
	IssueEnrolmentCodes(ctx context.Context, personIDs []string, createdBy string) ([]string, error)
	Enrol(ctx context.Context, code, platform string) (Enrolment, error)
	EnrolDevice(ctx context.Context, req EnrolRequest) (Enrolment, error)
	Authenticate(ctx context.Context, credential string) (Device, Person, error)
	Device(ctx context.Context, id string) (Device, error)
	Devices(ctx context.Context, f DeviceFilter) ([]Device, error)
	RevokeDevice(ctx context.Context, deviceID, by, reason string) error
	ConfirmWipe(ctx context.Context, deviceID string) error
}

// Directory is the organisation: areas, teams, services and people, and
// what each person may see.
type Directory interface {
	UpsertArea(ctx context.Context, a Area) error
	UpsertTeam(ctx context.Context, t Team) error
	Areas(ctx context.Context) ([]Area, error)
	Teams(ctx context.Context) ([]Team, error)
	UpsertService(ctx context.Context, s Service) error
	Service(ctx context.Context, id string) (Service, error)
	Services(ctx context.Context) ([]Service, error)
	UpsertPerson(ctx context.Context, p Person) error
	UpsertPeople(ctx context.Context, ps []Person) error
	Person(ctx context.Context, id string) (Person, error)
	PersonByEmail(ctx context.Context, email string) (Person, error)
	People(ctx context.Context, f PeopleFilter) ([]Person, error)
	ScopeOf(ctx context.Context, p Person) (Scope, error)
	// SetPersonLanguage stores a person's own language choice ("" clears it).
	SetPersonLanguage(ctx context.Context, personID, lang string) error
}

// StaffSignIn is staff passwords, throttling of failed sign-ins and
// browser sessions.
type StaffSignIn interface {
	SetPassword(ctx context.Context, personID, hash string) error
	SignInFailures(ctx context.Context, account, client []byte) (SignInFailures, error)
	RecordSignIn(ctx context.Context, a SignInAttempt) error
	CreateSession(ctx context.Context, s StaffSession) error
	Session(ctx context.Context, tokenHash []byte) (StaffSession, error)
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// PersonSessions lists a person's unexpired sessions, newest first.
	PersonSessions(ctx context.Context, personID string) ([]StaffSession, error)
	// SpendSSOState records a single sign-on state (by its hash) as spent
	// until the given time; false if it already was, on any node.
	SpendSSOState(ctx context.Context, stateHash []byte, until time.Time) (bool, error)
}

// Accounts is the administration of staff accounts: one-time password
// links, unlocking, and ending a leaver's access.
type Accounts interface {
	// CreatePasswordToken stores a one-time password link (its hash) and
	// audits who issued it; earlier unused links for the person die.
	CreatePasswordToken(ctx context.Context, t PasswordToken) error
	// PasswordLink is the person a live link is for (ENOTFOUND otherwise).
	PasswordLink(ctx context.Context, tokenHash []byte) (Person, error)
	// UsePasswordToken sets the password of the link's person, once, before
	// it expires, for an active person; it ends their other sessions.
	// ENOTFOUND for an unknown, used or expired link (one answer for all).
	UsePasswordToken(ctx context.Context, tokenHash []byte, passwordHash string) (Person, error)
	// ClearSignInFailures forgets an account name's failed sign-ins (an
	// admin unlocks the account), and audits it.
	ClearSignInFailures(ctx context.Context, account []byte, personID, by string) error
	// DeactivatePerson ends a person's access in one transaction: marks them
	// deactivated, revokes (and asks to wipe) their devices, ends their
	// sessions, lists their open follow-ups and referrals for their
	// supervisor, and audits it. Deactivating twice is a conflict.
	DeactivatePerson(ctx context.Context, personID, by string) (Deactivation, error)
	// EndSessions ends a person's sessions, all but keep (a token hash, may
	// be nil), or only the one whose hash is only (nil: all).
	EndSessions(ctx context.Context, personID string, only, keep []byte, by string) (int, error)
}

// TwoFactor is staff's second factor (TOTP) and the sessions waiting for it.
type TwoFactor interface {
	// EnrolTOTP stores a person's TOTP secret and recovery codes' hashes,
	// replacing any earlier ones, and audits it.
	EnrolTOTP(ctx context.Context, personID, secret string, recovery [][]byte) error
	// UseTOTPStep records that the code of time step was accepted; a step
	// not after the last accepted one is a replay (ECONFLICT).
	UseTOTPStep(ctx context.Context, personID string, step int64) error
	// UseRecoveryCode spends one recovery code (ENOTFOUND: unknown or used).
	UseRecoveryCode(ctx context.Context, personID string, codeHash []byte) error
	// ResetTOTP removes a person's second factor (an admin, for a lost
	// phone): they enrol again at their next sign-in.
	ResetTOTP(ctx context.Context, personID, by string) error
	// SetSessionStage moves a session on (to "" once sign-in is complete).
	SetSessionStage(ctx context.Context, tokenHash []byte, stage string) error
}

// QuarantineStore is the changesets the server refused, kept with their
// reason for a person to review.
type QuarantineStore interface {
	// Quarantine lists items (never their bodies), scoped by f.Reviewer.
	Quarantine(ctx context.Context, f QuarantineFilter) ([]QuarantineItem, error)
	QuarantineSize(ctx context.Context) (int, error)
	// QuarantineItem is one item the reviewer may review, with what
	// releasing it would change; others are not found.
	QuarantineItem(ctx context.Context, id int64, reviewer Person) (QuarantineDetail, error)
	// ReviewQuarantine releases (if the policy allows it now for the
	// pusher and the reviewer) or discards an item the reviewer may review.
	ReviewQuarantine(ctx context.Context, id int64, reviewer Person, resolution string) error
}

// TransferStore is moving young people between teams (see Transfer).
type TransferStore interface {
	StartTransfer(ctx context.Context, by Person, youngPersonID, toTeam, reason string) (Transfer, error)
	DecideTransfer(ctx context.Context, by Person, id int64, decision string) (Transfer, error)
	Transfers(ctx context.Context, f TransferFilter) ([]Transfer, error)
}

// PrivacyStore is erasure (with its ledger and the phones' purge notices),
// retention with legal holds, the access history and the audit chain.
type PrivacyStore interface {
	Erase(ctx context.Context, req ErasureRequest) (ErasureResult, error)
	PurgeNotices(ctx context.Context, ids []string) ([]PurgeNotice, error)
	YoungPersonRecords(ctx context.Context, ypID string) ([]string, error)
	AccessHistory(ctx context.Context, ids []string) ([]Access, error)
	RetentionRules(ctx context.Context) ([]RetentionRule, error)
	SetRetentionRule(ctx context.Context, rule RetentionRule, by string) error
	RetentionPreview(ctx context.Context) (RetentionPlan, error)
	RunRetention(ctx context.Context) (RetentionRun, error)
	RunRetentionIfDue(ctx context.Context) (bool, RetentionRun, error)
	RetentionRuns(ctx context.Context, limit int) ([]RetentionRun, error)
	PlaceLegalHold(ctx context.Context, h LegalHold) error
	LiftLegalHold(ctx context.Context, recordID, by string) error
	// VerifyAudit checks the audit log's hash chain.
	VerifyAudit(ctx context.Context) (AuditVerify, error)
}

// AuditLog is append-only: there is no method to change or delete an entry.
type AuditLog interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Operations is what keeps the store healthy: readiness, backups, history
// compaction and server-wide settings.
type Operations interface {
	Ping(ctx context.Context) error
	Migrated(ctx context.Context) (int, error)
	Health(ctx context.Context) StorageHealth
	Backup(ctx context.Context, path string) error
	CompactLog(ctx context.Context, keep time.Duration) (CompactResult, error)
	// CompactText drops the text tombstones of records at least minBytes
	// large that no device can still need (docs/architecture.md, "History
	// compaction and tombstones"), keeping where they lay so late edits are
	// still placed. A device not seen within keep (the history keep: log
	// compaction sends it a snapshot when it returns) does not hold a record
	// back; keep 0 counts every active device.
	CompactText(ctx context.Context, minBytes int, keep time.Duration) (TextCompactResult, error)
	// RefreshLinks files the encounters changed since it last ran under the
	// young people they name, which a history fetch reads: run in the
	// background, so a phone opening a young person does not wait for a
	// backlog of encounters to be decoded inside its request.
	RefreshLinks(ctx context.Context) error
	Stats(ctx context.Context) (LogStats, error)
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}
