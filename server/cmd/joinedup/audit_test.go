package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
)

// tamper runs SQL on the database file as an attacker with file access
// would: with the sqlite3 shell when it is installed, else through the
// driver (the same SQL either way).
func tamper(t *testing.T, path, script string) {
	t.Helper()
	if bin, err := exec.LookPath("sqlite3"); err == nil {
		if out, err := exec.Command(bin, path, script).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3: %v\n%s", err, out)
		}
		return
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(script); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

func TestAuditVerifyNamesTheFirstBadRow(t *testing.T) {
	// A database with a known audit log of 6 rows, closed.
	golden := filepath.Join(t.TempDir(), "joinedup.db")
	db, err := sqlite.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, a := range []string{domain.ActionLogin, domain.ActionRead, domain.ActionRead, domain.ActionExport, domain.ActionRead, domain.ActionErase} {
		if err := db.AppendAudit(ctx, domain.AuditEntry{PersonID: "s1", Action: a, RecordID: "rec" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var first int64
	{
		raw, _ := sql.Open("sqlite3", "file:"+golden+"?mode=ro")
		raw.QueryRow(`SELECT MIN(id) FROM audit_log`).Scan(&first)
		raw.Close()
	}
	id := func(n int64) string { return strconv.FormatInt(first+n, 10) }
	for _, tc := range []struct {
		name, script string
		wantCode     int
		wantOut      string
	}{
		{"intact", ``, 0, "audit log intact: 6 rows"},
		{"row edited", `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET record_id = 'other' WHERE id = ` + id(2) + `;`,
			1, "BROKEN at row " + id(2) + ": row content was changed"},
		{"detail edited", `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = '{"n":1}' WHERE id = ` + id(0) + `;`,
			1, "BROKEN at row " + id(0) + ": row content was changed"},
		{"row deleted", `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = ` + id(3) + `;`,
			1, "BROKEN at row " + id(4) + ": rows " + id(3) + " to " + id(3) + " were deleted"},
		{"newest row deleted", `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = ` + id(5) + `;`,
			1, "BROKEN at row " + id(5) + ": rows " + id(5) + " to " + id(5) + " were deleted (the newest rows)"},
		{"hash rewritten to match", `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET action = 'login', hash = (SELECT hash FROM audit_log WHERE id = ` + id(1) + `) WHERE id = ` + id(2) + `;`,
			1, "BROKEN at row " + id(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "joinedup.db")
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.script != "" {
				tamper(t, path, tc.script)
			}
			var out, errOut bytes.Buffer
			code := runAudit(ctx, []string{"verify", "-db", path}, &out, &errOut)
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("audit verify = %d %q (stderr %q), want %d %q", code, out.String(), errOut.String(), tc.wantCode, tc.wantOut)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := runAudit(ctx, []string{"check"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown audit subcommand: exit %d", code)
	}
}
