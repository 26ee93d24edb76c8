package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/joinedup/joinedup/server/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey serialises migration runs: several nodes starting at
// once on a new database must not apply the same file twice.
const migrationLockKey = 0x4a5500

// migrate applies every migration not yet recorded, each in a transaction
// of its own, holding the migration lock so nodes starting together take
// turns (the second finds the work done).
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		n INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	all, err := migrations.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	for _, m := range all {
		var name string
		err := conn.QueryRow(ctx, `SELECT name FROM migrations WHERE n = $1`, m.N).Scan(&name)
		if err == nil {
			if name != m.Name {
				return fmt.Errorf("migration %d is recorded as %s but the file is %s", m.N, name, m.Name)
			}
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO migrations (n, name) VALUES ($1, $2)`, m.N, m.Name); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
