package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/portal"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/sqlite"
)

// The two stores: SQLite (one file, one process; the default) and Postgres
// (several stateless nodes on one database). Everything after openDB speaks
// to Store and Outbox only; what exists on one store alone (SQLite's file
// backup, restore and integrity check; Postgres's live channel across
// nodes) is reached through Main.SQLite or Main.Postgres, nil on the other.
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// Store is everything the server's parts need from storage: the API's,
// the portal's and the schedulers' (demo load, compaction, retention).
type Store interface {
	api.Store
	portal.Store
	domain.SyncStore
	domain.DeviceStore
	domain.Directory
	domain.Operations
	RunRetentionIfDue(ctx context.Context) (bool, domain.RetentionRun, error)
	Close() error
}

// Outbox is the push outbox: the token routes' and the deliverer's.
type Outbox interface {
	api.TokenStore
	push.Outbox
}

var (
	_ Store  = (*sqlite.DB)(nil)
	_ Store  = (*postgres.DB)(nil)
	_ Outbox = (*sqlite.Outbox)(nil)
	_ Outbox = (*postgres.Outbox)(nil)
)

// StoreConfig selects and tunes the store.
type StoreConfig struct {
	// Kind is "sqlite" (default; the file DataDir/joinedup.db) or
	// "postgres" (-store, $JOINEDUP_STORE).
	Kind string
	// DatabaseURL is the Postgres connection string (-database-url,
	// $DATABASE_URL). Pool settings may ride on it (pool_max_conns,
	// pool_min_conns, pool_max_conn_lifetime, pool_max_conn_idle_time,
	// pool_health_check_period); MaxConns and MinConns, when set, win.
	DatabaseURL        string
	MaxConns, MinConns int
}

func storeConfigFromEnv() StoreConfig {
	kind := os.Getenv("JOINEDUP_STORE")
	if kind == "" {
		kind = storeSQLite
	}
	return StoreConfig{Kind: kind, DatabaseURL: os.Getenv("DATABASE_URL")}
}

// Validate checks the store's settings.
func (c StoreConfig) Validate() error {
	switch c.Kind {
	case storeSQLite:
	case storePostgres:
		if c.DatabaseURL == "" {
			return fmt.Errorf("-store postgres needs -database-url (or DATABASE_URL), e.g. postgres://joinedup@db.internal:5432/joinedup")
		}
	default:
		return fmt.Errorf("-store %q: choose sqlite or postgres", c.Kind)
	}
	if c.MaxConns < 0 || c.MinConns < 0 || (c.MaxConns > 0 && c.MinConns > c.MaxConns) {
		return fmt.Errorf("pool sizes: -db-min-conns %d must be 0..-db-max-conns %d", c.MinConns, c.MaxConns)
	}
	return nil
}

// openPostgres connects to, and migrates, the Postgres store.
func openPostgres(ctx context.Context, c StoreConfig) (*postgres.DB, error) {
	db := postgres.NewDB(c.DatabaseURL)
	db.MaxConns, db.MinConns = int32(c.MaxConns), int32(c.MinConns)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := db.Open(ctx); err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(c.DatabaseURL), err)
	}
	return db, nil
}

// redactURL is the database URL without its password, for the banner and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if err != nil {
			return "(unparsable database url)"
		}
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// sqliteOnly refuses an operation of the SQLite store's file on Postgres.
func (m *Main) sqliteOnly(what, instead string) error {
	if m.Config.Store.Kind == storeSQLite {
		return nil
	}
	return fmt.Errorf("%s works on the SQLite store only; on Postgres %s (see docs/postgres.md)", what, instead)
}

// storeFlags adds -store and -database-url to a tool's flags (admin, audit).
func storeFlags(fs *flag.FlagSet, def StoreConfig) *StoreConfig {
	c := def
	fs.StringVar(&c.Kind, "store", c.Kind, "sqlite or postgres (default $JOINEDUP_STORE or sqlite)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "Postgres connection string (default $DATABASE_URL)")
	return &c
}

// openToolStore opens the store for a command that runs beside the server.
func openToolStore(ctx context.Context, c StoreConfig, dataDir string) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Kind == storePostgres {
		return openPostgres(ctx, c)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(filepath.Join(dataDir, "joinedup.db"))
}

var _ api.SharedLimits = (*postgres.DB)(nil)
