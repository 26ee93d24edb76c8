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
	base, err := cluster()
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w (install Debian's postgresql package, or set JOINEDUP_TEST_DATABASE_URL)", err)
	}
	url, _, err := newDatabase(ctx, base, "jubench")
	return url, err
}

// Stop stops the cluster, if one was started; a later URL or Database
// starts a new one.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if stop != nil {
		stop()
		stop, baseURL = nil, ""
	}
}

// cluster starts the cluster on first use and returns its admin URL.
func cluster() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if baseURL == "" && setupErr == nil {
		baseURL, stop, setupErr = start()
	}
	return baseURL, setupErr
}

// newDatabase creates an empty database on the cluster at base; drop
// removes it.
func newDatabase(ctx context.Context, base, prefix string) (url string, drop func(), err error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to test cluster: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return "", nil, err
	}
	drop = func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name), drop, nil
}
