package pgtest

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
)

// Database is URL for programs that are not tests (benchmarks): it starts
// the throw-away cluster on first use (or uses JOINEDUP_TEST_DATABASE_URL)
// and returns the URL of a new, empty database. Stop ends the cluster.
func Database(ctx context.Context) (string, error) {
	mu.Lock()
	if baseURL == "" && setupErr == nil {
		baseURL, stop, setupErr = start()
	}
	base, err := baseURL, setupErr
	mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w (install Debian's postgresql package, or set JOINEDUP_TEST_DATABASE_URL)", err)
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("jubench_%d_%d", os.Getpid(), seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name), nil
}

// Stop stops the cluster Database started (a no-op otherwise).
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if stop != nil {
		stop()
		stop, baseURL = nil, ""
	}
}
