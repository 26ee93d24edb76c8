package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// health is what the store has learned about its storage while running.
type health struct {
	mu      sync.Mutex
	corrupt string          // why writes are refused ("" = they are not)
	fault   string          // code of the last write's storage failure, until one succeeds
	damaged map[string]bool // "record <id>" / "changeset <seq>" whose checksum fails
}

func (h *health) get() (corrupt, fault string, damaged int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.corrupt, h.fault, len(h.damaged)
}

// storageCode classifies a SQLite error as a storage fault ("" if it is not one).
func storageCode(err error) string {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code {
	case sqlite3.ErrFull:
		return domain.ESTORAGEFULL
	case sqlite3.ErrIoErr, sqlite3.ErrCantOpen, sqlite3.ErrNoLFS:
		return domain.ESTORAGE
	case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return domain.EDBCORRUPT
	}
	return ""
}

var storageMessages = map[string]string{
	domain.ESTORAGEFULL: "the server's disk is full; nothing was stored: keep your changes and try again later",
	domain.ESTORAGE:     "the server could not write to its disk; nothing was stored: keep your changes and try again later",
	domain.EDBCORRUPT:   "the server's database is damaged and refuses changes until it is restored; keep your changes and try again later",
}

func (db *DB) logger() *slog.Logger {
	if db.Log != nil {
		return db.Log
	}
	return slog.Default()
}

// setCorrupt refuses writes from now on; reason holds no record content
// (SQLite's checks name pages and tables).
func (db *DB) setCorrupt(reason string) {
	db.health.mu.Lock()
	first := db.health.corrupt == ""
	if first {
		db.health.corrupt = reason
	}
	db.health.mu.Unlock()
	if first {
		db.logger().Error("database corrupt: refusing writes until it is restored from a backup", "reason", reason, "path", db.Path)
	}
}

// refuseWrite is the answer to a write while the database is known corrupt.
func (db *DB) refuseWrite() error {
	corrupt, _, _ := db.health.get()
	if corrupt == "" {
		return nil
	}
	return domain.Errorf(domain.EDBCORRUPT, "write", "%s", storageMessages[domain.EDBCORRUPT])
}

// noteWrite records the outcome of a write transaction and turns a storage
// failure into its coded error (answered 503, never "internal").
func (db *DB) noteWrite(err error) error {
	if err == nil {
		db.health.mu.Lock()
		cleared := db.health.fault
		db.health.fault = ""
		db.health.mu.Unlock()
		if cleared != "" {
			db.logger().Info("storage writable again", "was", cleared)
		}
		return nil
	}
	code := storageCode(err)
	if code == "" {
		return err
	}
	if code == domain.EDBCORRUPT {
		db.setCorrupt(err.Error())
	} else {
		db.health.mu.Lock()
		first := db.health.fault != code
		db.health.fault = code
		db.health.mu.Unlock()
		if first {
			db.logger().Error("storage fault: writes fail", "code", code, "err", err.Error())
		}
	}
	return &syncengine.Error{Code: code, Op: "write", Message: storageMessages[code], Err: err}
}

// noteRead notices corruption reported by a read.
func (db *DB) noteRead(err error) {
	if storageCode(err) == domain.EDBCORRUPT {
		db.setCorrupt(err.Error())
	}
}

// probeBytes is the size of readyz's probe write after a storage fault: a
// sync page's worth, so readiness does not come back while a few free pages
// let a tiny write through but every real sync still fails.
const probeBytes = 1 << 20

// Health reports the storage's state for /readyz. After a storage fault it
// tries a write (committed, then deleted), so readiness comes back once the
// disk has room even if no phone is syncing.
func (db *DB) Health(ctx context.Context) domain.StorageHealth {
	corrupt, fault, damaged := db.health.get()
	if fault != "" && corrupt == "" {
		err := db.update(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('write_probe', zeroblob(?)) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, probeBytes)
			return err
		})
		if err == nil {
			_ = db.update(ctx, func(tx *Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = 'write_probe'`)
				return err
			})
		}
		corrupt, fault, damaged = db.health.get()
	}
	return domain.StorageHealth{Corrupt: corrupt, Fault: fault, Damaged: damaged}
}

// quickCheck runs SQLite's quick_check (b-tree structure, no index
// cross-check: seconds, not minutes) and returns its complaints.
func quickCheck(ctx context.Context, conn *sql.DB, pragma string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `PRAGMA `+pragma)
	if storageCode(err) == domain.EDBCORRUPT {
		return []string{err.Error()}, nil
	} else if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); storageCode(err) == domain.EDBCORRUPT {
		problems = append(problems, err.Error())
	} else if err != nil {
		return nil, err
	}
	return problems, nil
}

func summarise(problems []string) string {
	if len(problems) > 3 {
		return strings.Join(problems[:3], "; ") + fmt.Sprintf(" (and %d more)", len(problems)-3)
	}
	return strings.Join(problems, "; ")
}

// IntegrityCheck runs SQLite's full integrity_check (every page and index;
// minutes on a large database, on a read connection so writers go on) and,
// on a failure, refuses writes from then on. It returns the complaints.
func (db *DB) IntegrityCheck(ctx context.Context) ([]string, error) {
	problems, err := quickCheck(ctx, db.read, "integrity_check")
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		db.setCorrupt("integrity_check: " + summarise(problems))
		return problems, nil
	}
	// Damage below SQLite (a flipped byte inside a stored blob) passes its
	// check; the checksums find it.
	damaged, err := db.ScanChecksums(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range damaged {
		problems = append(problems, "checksum mismatch: "+d)
	}
	return problems, nil
}

// FileCheck is what CheckFile found in a database file.
type FileCheck struct {
	Problems   []string // integrity_check's complaints (empty: sound)
	Damaged    []string // stored changesets and records whose checksum fails ("record <id>")
	Migration  int      // highest migration applied to it
	Generation string   // its history generation ("" if it predates them)
	Backup     bool     // it carries the backup mark (a backup never yet opened as the live database)
}

// CheckFile runs the full integrity check on a database file that need not
// be open (a backup before restoring it, or the live file beside a running
// server: WAL lets it read) and reads its schema version.
func CheckFile(ctx context.Context, path string) (FileCheck, error) {
	var fc FileCheck
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return fc, err
	}
	defer conn.Close()
	if fc.Problems, err = quickCheck(ctx, conn, "integrity_check"); err != nil {
		return fc, fmt.Errorf("check %s: %w", path, err)
	}
	if len(fc.Problems) > 0 {
		return fc, nil
	}
	var n sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT MAX(n) FROM migrations`).Scan(&n); err != nil {
		return fc, fmt.Errorf("%s is not a JoinedUp database: %w", path, err)
	}
	fc.Migration = int(n.Int64)
	if fc.Migration >= 60 {
		if fc.Damaged, err = scanChecksums(ctx, conn); err != nil {
			return fc, fmt.Errorf("checksums of %s: %w", path, err)
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT key, value FROM meta WHERE key IN (?, ?)`, metaGeneration, metaBackupOf)
	if err != nil {
		return fc, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return fc, err
		}
		switch k {
		case metaGeneration:
			fc.Generation = v
		case metaBackupOf:
			fc.Backup = true
		}
	}
	return fc, rows.Err()
}

// LatestMigration is the highest schema migration this binary applies (a
// restore refuses a backup from a newer version).
func LatestMigration() (int, error) {
	all, err := migrations()
	if err != nil || len(all) == 0 {
		return 0, err
	}
	return all[len(all)-1].n, nil
}
