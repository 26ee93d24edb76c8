package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// Meta reads a server-wide setting ("" if unset).
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a server-wide setting.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	return db.update(ctx, func(tx *Tx) error { return setMeta(ctx, tx, key, value) })
}

func setMeta(ctx context.Context, tx *Tx, key, value string) error {
	_, err := tx.Exec(ctx, setMetaSQL, key, value)
	return err
}

const setMetaSQL = `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`

func metaInt(ctx context.Context, tx *Tx, key string) (int64, error) {
	var v string
	err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

const metaGeneration = "history_generation"

// generation is the history generation cursors carry (domain.Cursor.Gen),
// made once when the database is first opened. A database restored from a
// dump keeps it; one restored to an earlier point in time should be given a
// new one (docs/postgres.md), so phones ahead of it send their work again.
func (db *DB) generation(ctx context.Context) (string, error) {
	var gen string
	err := db.update(ctx, func(tx *Tx) (err error) { gen, err = txGeneration(ctx, tx); return err })
	return gen, err
}

func txGeneration(ctx context.Context, tx *Tx) (string, error) {
	var gen string
	err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, metaGeneration).Scan(&gen)
	if err == nil {
		return gen, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	b := make([]byte, domain.GenerationLen/2)
	if _, err := io.ReadFull(tx.db.Rand, b); err != nil {
		return "", err
	}
	gen = hex.EncodeToString(b)
	// Two nodes opening a new database at once: one value wins, both read it.
	if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, metaGeneration, gen); err != nil {
		return "", err
	}
	err = tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, metaGeneration).Scan(&gen)
	return gen, err
}

// Stats counts the log, records, active devices and open quarantine.
func (db *DB) Stats(ctx context.Context) (domain.LogStats, error) {
	var s domain.LogStats
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT COALESCE(MAX(seq), 0) FROM changesets), (SELECT COUNT(*) FROM records),
		(SELECT COUNT(*) FROM devices WHERE status = 'active'), (SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL)`).
		Scan(&s.Changesets, &s.Records, &s.Devices, &s.Quarantine)
	return s, err
}
