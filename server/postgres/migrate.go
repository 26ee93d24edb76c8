package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	n    int
	name string
	sql  string
}

// migrations are the numbered files of migrations/, in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var all []migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		var n int
		if _, err := fmt.Sscanf(base, "%04d_", &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a 4-digit number", base)
		}
		if other, dup := seen[n]; dup {
			return nil, fmt.Errorf("migrations %s and %s share number %d", other, base, n)
		}
		seen[n] = base
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		all = append(all, migration{n: n, name: base, sql: string(b)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n < all[j].n })
	return all, nil
}

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
	all, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		var name string
		err := conn.QueryRow(ctx, `SELECT name FROM migrations WHERE n = $1`, m.n).Scan(&name)
		if err == nil {
			if name != m.name {
				return fmt.Errorf("migration %d is recorded as %s but the file is %s", m.n, name, m.name)
			}
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO migrations (n, name) VALUES ($1, $2)`, m.n, m.name); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}
