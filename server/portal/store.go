package portal

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// The store methods the portal calls, grouped by what they are about. The
// real implementation is *sqlite.DB; the portal's own table (sessions) is
// in migrations/ and reached through SQL(). Sign-in is server/signin's.

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

// Store is everything the portal needs.
type Store interface {
	People
	Directory
	Records
	Devices
	Oversight
	Transfers
	sqlDB
}

var _ Store = sqliteStore{}

// NewSQLiteStore runs the portal's migrations on an open store and returns it
// as the portal's Store.
func NewSQLiteStore(db *sqlite.DB) (Store, error) {
	if err := Migrate(db.SQL()); err != nil {
		return nil, err
	}
	return sqliteStore{db}, nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrate applies the portal's migrations (numbers 0020-0029), each in a
// transaction, recorded in the store's migrations table. It is idempotent.
func Migrate(db *sql.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS migrations (n INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("portal migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		var n int
		if _, err := fmt.Sscanf(base, "%04d_", &n); err != nil || n < 20 || n > 29 {
			return fmt.Errorf("portal migration %s: must be numbered 0020-0029", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if err := migrateOne(db, n, base, string(body)); err != nil {
			return fmt.Errorf("portal migration %s: %w", base, err)
		}
	}
	return nil
}

func migrateOne(db *sql.DB, n int, name, body string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var x int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM migrations WHERE n = ?`, n).Scan(&x); err != nil {
		return err
	}
	if x > 0 {
		return nil
	}
	if _, err := tx.Exec(body); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO migrations (n, name, applied_at) VALUES (?, ?, ?)`, n, name, time.Now().UTC().Format(sqlite.TimeLayout)); err != nil {
		return err
	}
	return tx.Commit()
}
