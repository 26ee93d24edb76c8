package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/joinedup/joinedup/server/sqlite"
)

// lockName is the file a running server holds an exclusive lock on, so that
// `joinedup restore` never replaces the database under it (and two servers
// never share one data directory). The kernel drops the lock when the
// process dies, even by SIGKILL, so a crash leaves nothing to clean up.
const lockName = "joinedup.lock"

// lockDataDir takes the data directory's lock, or says the server is running.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("a JoinedUp server is running on %s (it holds %s): stop it first", dir, lockName)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Restore installs backup as the database of the (stopped) server's data
// directory: it checks the backup's integrity and schema version, moves the
// current database aside with its -wal and -shm (a WAL left beside a
// different database file corrupts it), installs a copy readable only by
// the server's user, and starts a new history generation so every phone
// re-sends what the backup lacks.
func (m *Main) Restore(ctx context.Context, backup string) error {
	if backup == "" {
		return fmt.Errorf("usage: joinedup restore [-data DIR] BACKUP")
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDataDir(m.Config.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(backup); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if _, err := os.Stat(backup + suffix); err == nil {
			return fmt.Errorf("%s has a %s file beside it: it is a live database, not a backup (make one with joinedup -backup)", backup, suffix)
		}
	}
	fc, err := sqlite.CheckFile(ctx, backup)
	if err != nil {
		return err
	}
	if len(fc.Problems) > 0 {
		return fmt.Errorf("%s fails its integrity check, nothing changed: %s", backup, strings.Join(fc.Problems, "; "))
	}
	if len(fc.Damaged) > 0 {
		fmt.Fprintf(m.Out, "Warning: %d stored items of the backup fail their checksum (%s); they are rebuilt from the log or repaired from the phones' copies where possible.\n",
			len(fc.Damaged), strings.Join(fc.Damaged, ", "))
	}
	latest, err := sqlite.LatestMigration()
	if err != nil {
		return err
	}
	if fc.Migration > latest {
		return fmt.Errorf("%s has schema version %d, newer than this server's %d: restore it with the server version that made it", backup, fc.Migration, latest)
	}
	// The copy is prepared beside its final place, so the last step is one rename.
	tmp := m.DBPath() + ".restoring"
	if err := copyFile(backup, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	gen, err := sqlite.StartNewGeneration(ctx, tmp, rand.Reader)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("new history generation: %w", err)
	}
	aside := filepath.Join(m.Config.DataDir, "replaced-"+time.Now().UTC().Format("20060102T150405Z"))
	moved, err := moveAside(m.DBPath(), aside)
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, m.DBPath()); err != nil {
		return fmt.Errorf("install %s: %w", m.DBPath(), err)
	}
	if err := syncDir(m.Config.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "Restored %s to %s (schema %d, new history generation %s).\n", backup, m.DBPath(), fc.Migration, gen)
	if len(moved) > 0 {
		fmt.Fprintf(m.Out, "The replaced files are in %s: %s. Keep them until the phones have synced.\n", aside, strings.Join(moved, ", "))
	}
	fmt.Fprintf(m.Out, `Start the server. What the phones do next, on their own:
  - each phone's next sync is answered cursor_ahead: it sends again every save the server
    acknowledged in the last 30 days, then downloads its records afresh; saves the backup
    already holds come back as duplicates, the others are applied;
  - a save built on another phone's lost save waits (missing_dependency) until that phone
    has synced, then is applied by itself;
  - a phone enrolled after the backup is refused (unknown device credential): issue it a new
    enrolment code and enrol it again; it keeps and re-sends its saves.
`)
	return nil
}

// moveAside moves the database file and its WAL, shared memory and journal
// into dir, and reports which it moved.
func moveAside(db, dir string) ([]string, error) {
	var moved []string
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		p := db + suffix
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return moved, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return moved, err
		}
		if err := os.Rename(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			return moved, fmt.Errorf("move %s aside: %w", p, err)
		}
		moved = append(moved, filepath.Base(p))
	}
	return moved, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Check runs the full integrity check on the data directory's database (it
// may be in use: the check reads one snapshot) and reports it on Out.
func (m *Main) Check(ctx context.Context) error {
	if _, err := os.Stat(m.DBPath()); err != nil {
		return fmt.Errorf("no database at %s: %w", m.DBPath(), err)
	}
	fc, err := sqlite.CheckFile(ctx, m.DBPath())
	if err != nil {
		return err
	}
	if len(fc.Problems) > 0 {
		return fmt.Errorf("%s FAILS its integrity check (restore it from a backup: docs/operations.md):\n  %s", m.DBPath(), strings.Join(fc.Problems, "\n  "))
	}
	if len(fc.Damaged) > 0 {
		return fmt.Errorf("%s: SQLite's check passes but %d stored items fail their checksum (skipped in pulls; see docs/operations.md, Damaged records):\n  %s",
			m.DBPath(), len(fc.Damaged), strings.Join(fc.Damaged, "\n  "))
	}
	fmt.Fprintf(m.Out, "%s: integrity check ok, checksums ok, schema %d, history generation %s\n", m.DBPath(), fc.Migration, fc.Generation)
	return nil
}

// integrityEvery is how often the running server runs the full integrity check.
const integrityEvery = 24 * time.Hour

// mountIntegrityCheck checks the stored checksums at start and runs the full
// integrity check daily; a failure makes /readyz answer 503 and the server
// refuse writes (sqlite.DB.IntegrityCheck), a damaged item is isolated.
func mountIntegrityCheck(m *Main) error {
	db := m.SQLite
	if db == nil {
		return nil // Postgres checks its own pages; the checksums here are SQLite's
	}
	m.stopIntegrity = every(integrityEvery, func(ctx context.Context) {
		// What a previous run found damaged is known again soon after a
		// restart (the blobs' checksums; SQLite's quick_check ran in Open).
		if found, err := db.ScanChecksums(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("checksum scan", "err", err)
		} else if len(found) > 0 {
			m.Logger.Error("damaged stored data found at start", "count", len(found))
		}
	}, func(ctx context.Context) {
		if problems, err := db.IntegrityCheck(ctx); err != nil {
			m.Logger.Error("integrity check", "err", err)
		} else if len(problems) > 0 {
			m.Logger.Error("integrity check failed", "problems", len(problems))
		}
	})
	return nil
}
