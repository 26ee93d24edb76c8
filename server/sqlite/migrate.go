package sqlite

import (
	"context"
	"embed"
	"fmt"

	dbmigrations "github.com/joinedup/joinedup/server/internal/migrations"
)

// migrationFS is every table the store holds, the push outbox's and the
// portal's sessions' included: one folder, one runner, so every database (the
// server's, a test's, a restored backup) has the same tables in the same order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	n    int
	name string // the file name, recorded in the migrations table
	sql  string
}

// renamed are names recorded by earlier code for migrations that are now
// files: push's schema was a Go string run as number 10 until it moved here.
// A database that recorded one of these has that migration applied.
var renamed = map[int]string{10: "0010_push (push.Schema)"}

// migrations reads the embedded files in number order
// (server/internal/migrations holds the naming rules every store follows).
func migrations() ([]migration, error) {
	files, err := dbmigrations.Load(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	all := make([]migration, len(files))
	for i, f := range files {
		all[i] = migration{n: f.N, name: f.Name, sql: f.SQL}
	}
	return all, nil
}

// migrate applies the migrations not yet recorded, each in its own
// transaction with its record, so a crash leaves either both or neither. A
// recorded migration whose name is not this file's means the numbering
// changed under a live database: refuse to guess.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		n INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	all, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if err := db.migrateOne(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func (db *DB) migrateOne(ctx context.Context, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var recorded []string
	rows, err := tx.QueryContext(ctx, `SELECT name FROM migrations WHERE n = ?`, m.n)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		recorded = append(recorded, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(recorded) > 0 {
		if recorded[0] != m.name && recorded[0] != renamed[m.n] {
			return fmt.Errorf("database recorded migration %d as %q, this build has %q", m.n, recorded[0], m.name)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (n, name, applied_at) VALUES (?, ?, ?)`, m.n, m.name, tx.NowText()); err != nil {
		return err
	}
	return tx.Commit()
}
