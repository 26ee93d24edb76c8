package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/joinedup/joinedup/server/domain"
)

// The server's history generation names one unbroken history of the
// changeset log. Log positions (cursor sequence numbers) only mean something
// within one generation: after a restore from a backup the log is shorter and
// its positions are handed out again to different changesets, so a cursor
// from before the restore must never be read against it, whether or not it
// is ahead of the restored log (another phone may have pushed the log past it
// already). Every cursor carries the generation it was issued in; a cursor
// from another generation is answered cursor_ahead, and the phone sends its
// recent saves again and starts from a snapshot.
const (
	metaGeneration = "history_generation"
	// metaBackupOf is written into every backup file (never into the live
	// database): a database that carries it is a backup put back in place,
	// so it starts a new generation on its first open and drops the mark.
	metaBackupOf = "backup_of_generation"
)

func newGeneration(r io.Reader) (string, error) {
	b := make([]byte, domain.GenerationLen/2)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("new history generation: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// generation reads the history generation inside tx.
func generation(ctx context.Context, tx *Tx) (string, error) {
	var g string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaGeneration).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("history generation missing")
	}
	return g, err
}

// Generation returns the server's history generation.
func (db *DB) Generation(ctx context.Context) (string, error) {
	var g string
	err := db.view(ctx, func(tx *Tx) (err error) { g, err = generation(ctx, tx); return err })
	return g, err
}

// Restored reports whether this open found a backup put back in place (and
// so started a new history generation).
func (db *DB) Restored() bool { return db.restored }

// ensureGeneration gives a database without a generation its first one, and
// a restored backup a new one.
func (db *DB) ensureGeneration(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		var g, backupOf string
		err := tx.QueryRowContext(ctx, `SELECT
			COALESCE((SELECT value FROM meta WHERE key = ?), ''),
			COALESCE((SELECT value FROM meta WHERE key = ?), '')`, metaGeneration, metaBackupOf).Scan(&g, &backupOf)
		if err != nil {
			return err
		}
		if g != "" && backupOf == "" {
			return nil
		}
		db.restored = backupOf != ""
		return startGeneration(ctx, tx.Tx, db.Rand)
	})
}

// startGeneration sets a new history generation and drops the backup mark.
func startGeneration(ctx context.Context, tx *sql.Tx, r io.Reader) error {
	g, err := newGeneration(r)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaGeneration, g); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, metaBackupOf)
	return err
}

// markBackup writes the backup mark into a freshly written backup file.
func markBackup(ctx context.Context, path, gen string) error {
	conn, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaBackupOf, gen)
	return err
}

// StartNewGeneration gives the database file at path (not open by a server)
// a new history generation, so every phone's cursor from before is answered
// cursor_ahead and the phones re-send what they hold.
func StartNewGeneration(ctx context.Context, path string, r io.Reader) (string, error) {
	conn, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if err := startGeneration(ctx, tx, r); err != nil {
		return "", err
	}
	var g string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaGeneration).Scan(&g); err != nil {
		return "", err
	}
	return g, tx.Commit()
}
