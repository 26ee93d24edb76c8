package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// MustOpenDB opens a fresh database in a temp dir with a fixed clock.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "db.sqlite"))
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	if err := db.Open(); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustOrg(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	ctx := context.Background()
	must(tb, db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(tb, db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(tb, db.UpsertTeam(ctx, domain.Team{ID: "team_b", AreaID: "north", Name: "B"}))
	must(tb, db.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", SharedFields: []string{"reason", "urgency"}}))
	must(tb, db.UpsertPerson(ctx, domain.Person{ID: "w1", Name: "Worker One", Role: domain.RoleWorker, TeamID: "team_a"}))
	must(tb, db.UpsertPerson(ctx, domain.Person{ID: "s1", Name: "Sup One", Email: "s1@example.org", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a", "team_b"}}))
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestOpenMigratesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sqlite.Open(path)
	must(t, err)
	n, err := db.Migrated(context.Background())
	must(t, err)
	if n < 1 {
		t.Fatalf("migrated = %d, want >= 1", n)
	}
	must(t, db.Close())
	db, err = sqlite.Open(path)
	must(t, err)
	defer db.Close()
	if m, _ := db.Migrated(context.Background()); m != n {
		t.Fatalf("reopen migrated = %d, want %d", m, n)
	}
}

func TestPeopleAndSupervision(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	p, err := db.Person(ctx, "s1")
	must(t, err)
	if p.Role != "supervisor" || len(p.Supervises) != 2 {
		t.Fatalf("got %+v", p)
	}
	if _, err := db.Person(ctx, "nobody"); syncengine.ErrorCode(err) != "not_found" {
		t.Fatalf("want not_found, got %v", err)
	}
	err = db.UpsertPerson(ctx, domain.Person{ID: "x", Name: "X", Role: "king"})
	if syncengine.ErrorCode(err) != "invalid" {
		t.Fatalf("want invalid, got %v", err)
	}
	ws, err := db.People(ctx, domain.PeopleFilter{Role: "worker"})
	must(t, err)
	if len(ws) != 1 || ws[0].ID != "w1" {
		t.Fatalf("workers = %+v", ws)
	}
}

func TestEnrolAuthenticateRevoke(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	code, exp, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	if len(domain.NormaliseCode(code)) < 16 || !exp.After(db.Now()) {
		t.Fatalf("code %q exp %v", code, exp)
	}
	e, err := db.Enrol(ctx, code, "android")
	must(t, err)
	if _, err := db.Enrol(ctx, code, "android"); syncengine.ErrorCode(err) != "unauthorized" {
		t.Fatalf("second use: want unauthorized, got %v", err)
	}
	d, p, err := db.Authenticate(ctx, e.Credential)
	must(t, err)
	if d.ID != e.DeviceID || p.ID != "w1" || d.ReplicaID != e.ReplicaID {
		t.Fatalf("got %+v %+v", d, p)
	}
	if _, _, err := db.Authenticate(ctx, "nope"); syncengine.ErrorCode(err) != "unauthorized" {
		t.Fatalf("want unauthorized, got %v", err)
	}
	tokens := db.Outbox()
	must(t, tokens.RegisterToken(ctx, e.DeviceID, "w1", "tok-w1", "android"))
	must(t, db.RevokeDevice(ctx, e.DeviceID, "s1", "lost"))
	if tg, err := tokens.Targets(ctx, []domain.Claimed{{Notification: domain.Notification{ID: "n1", RecipientID: "w1"}, Attempts: 1}}); err != nil || len(tg["n1"].Tokens) != 0 {
		t.Fatalf("revoked device's push token kept: %v %v", tg, err)
	}
	if _, _, err := db.Authenticate(ctx, e.Credential); syncengine.ErrorCode(err) != "revoked" {
		t.Fatalf("want revoked, got %v", err)
	}
	audit, err := db.Audit(ctx, domain.AuditFilter{DeviceID: e.DeviceID})
	must(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if len(actions) != 3 || actions[0] != "refused" || actions[1] != "revoke" || actions[2] != "enrol" {
		t.Fatalf("audit actions = %v", actions)
	}
}

func TestEnrolmentCodeExpires(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	later := db.Now().Add(16 * time.Minute)
	db.Now = func() time.Time { return later }
	if _, err := db.Enrol(ctx, code, "ios"); syncengine.ErrorCode(err) != "unauthorized" {
		t.Fatalf("want unauthorized, got %v", err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	must(t, db.AppendAudit(ctx, domain.AuditEntry{PersonID: "s1", Action: "read", RecordID: "r1"}))
	if _, err := db.SQL().Exec(`UPDATE audit_log SET action = 'x'`); err == nil {
		t.Fatal("update of audit_log succeeded")
	}
	if _, err := db.SQL().Exec(`DELETE FROM audit_log`); err == nil {
		t.Fatal("delete from audit_log succeeded")
	}
}

func TestSharingDecisionNeedsJustification(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	err := db.RecordSharingDecision(ctx, domain.SharingDecision{ReferralID: "r1", Decision: "shared_without_consent", DecidedBy: "s1"})
	if syncengine.ErrorCode(err) != "invalid" {
		t.Fatalf("want invalid, got %v", err)
	}
	must(t, db.RecordSharingDecision(ctx, domain.SharingDecision{ReferralID: "r1", Decision: "shared_without_consent", Justification: "risk of harm", DecidedBy: "s1"}))
	ds, err := db.SharingDecisions(ctx, "r1")
	must(t, err)
	if len(ds) != 1 || ds[0].Justification != "risk of harm" {
		t.Fatalf("got %+v", ds)
	}
}

func TestBackup(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	dst := filepath.Join(t.TempDir(), "backup.sqlite")
	must(t, db.Backup(context.Background(), dst))
	b, err := sqlite.Open(dst)
	must(t, err)
	defer b.Close()
	p, err := b.Person(context.Background(), "s1")
	must(t, err)
	if p.Name != "Sup One" {
		t.Fatalf("restored person = %+v", p)
	}
	var e *syncengine.Error
	_ = errors.As(nil, &e)
}

// TestEnrolmentCodesAreLongAndKeyedHashed: codes carry at least 80 bits and
// are stored as an HMAC under a per-installation key, not a bare SHA-256.
func TestEnrolmentCodesAreLongAndKeyedHashed(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	norm := domain.NormaliseCode(code)
	if bits := len(norm) * 5; bits < 80 {
		t.Fatalf("code %q carries %d bits, want >= 80", code, bits)
	}
	var stored []byte
	must(t, db.SQL().QueryRow(`SELECT code_hash FROM enrolment_codes`).Scan(&stored))
	bare := sha256.Sum256([]byte(norm))
	if bytes.Equal(stored, bare[:]) {
		t.Fatal("code stored as an unkeyed SHA-256")
	}
	key, err := db.Meta(ctx, "enrolment_code_key")
	must(t, err)
	if len(key) < 64 {
		t.Fatalf("no server key for code hashes (meta %q)", key)
	}
	// Typed as people type it: lower case, dashes, spaces.
	typed := strings.ToLower(norm[:4] + "-" + norm[4:8] + " " + norm[8:])
	if _, err := db.Enrol(ctx, typed, "android"); err != nil {
		t.Fatalf("enrol with %q: %v", typed, err)
	}
}

// TestDatabaseFilesArePrivate: the database, its WAL and shared-memory
// files and backups hold children's safeguarding data: owner-only (0600),
// whatever the umask, and an existing file with wider permissions is
// tightened on open.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite")
	for _, tc := range []struct {
		name string
		pre  func()
	}{
		{"new database", func() {}},
		{"existing world-readable database", func() { must(t, os.Chmod(path, 0o644)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.pre()
			db := sqlite.NewDB(path)
			must(t, db.Open())
			defer db.Close()
			must(t, db.UpsertArea(context.Background(), domain.Area{ID: "a", Name: "A"}))
			backup := filepath.Join(dir, tc.name+".backup")
			must(t, db.Backup(context.Background(), backup))
			for _, f := range []string{path, path + "-wal", path + "-shm", backup} {
				st, err := os.Stat(f)
				if err != nil {
					t.Fatalf("stat %s: %v", f, err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
				}
			}
		})
	}
}
