// Package postgres is JoinedUp's store on PostgreSQL (15 or later), for a
// region that runs several stateless server nodes behind one address. It
// keeps the promises server/sqlite keeps (the conformance suite in
// server/storetest holds both to them) and the ones a single SQLite writer
// kept for free, now with many writers:
//
//   - the pull cursor never passes a changeset that commits late: log
//     sequence numbers are drawn under a commit lock held to the end of the
//     transaction, so seq order is commit order (apply.go, seqLock);
//   - a record is merged under its row lock (SELECT ... FOR UPDATE), and a
//     record two nodes create at once is stored by one, the other retries;
//   - the server's own replica counters live in rows locked by the
//     transaction that advances them;
//   - the same changeset reaching two nodes at once is inserted once: the
//     loser hits the (replica_id, start) key, retries and answers duplicate.
//
// Public methods run a transaction with a fixed "now" (Tx) and call helpers
// that take it; a transaction that loses a race (serialization failure,
// deadlock, a key taken by a concurrent commit) is run again from the start.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/joinedup/joinedup/server/domain"
)

// DB is the store: a pool of connections to one database.
type DB struct {
	// URL is the connection string (postgres://user@host:port/db?...).
	URL string
	// Now is the clock; set it before use in tests. Transactions read it once.
	Now func() time.Time
	// Rand is the source of credentials, codes and replica ids (crypto/rand).
	Rand io.Reader
	// Rules plan what an accepted change asks of the server (server/notify);
	// their intents are written in the transaction that stores the change.
	Rules domain.Rules
	// Bounds limit what one device can make the server keep of the
	// changesets it refused (zero: domain.DefaultQuarantineBounds).
	Bounds domain.QuarantineBounds
	// MaxConns and MinConns size the pool (0: pgxpool's defaults, or the
	// URL's pool_max_conns / pool_min_conns).
	MaxConns, MinConns int32
	// Log receives retried transactions (SQLSTATE and attempt, never data).
	Log *slog.Logger

	pool   *pgxpool.Pool
	tracer pgx.QueryTracer // tests: sees every statement (export_test.go)
	// The audit chain's sealer (auditchain.go).
	sealNudge  chan struct{}
	stopSealer func()
	rateCalls  atomic.Int64 // TakeToken's calls, to sweep idle buckets now and then
	orgFacts   sharedFacts  // the organisation's lookups while its version stands (orgfacts.go)
}

// NewDB returns an unopened DB for url.
func NewDB(url string) *DB {
	return &DB{URL: url, Now: time.Now, Rand: rand.Reader}
}

// Open connects, checks the server answers and applies pending migrations.
func (db *DB) Open(ctx context.Context) error {
	if db.URL == "" {
		return fmt.Errorf("postgres: database url required")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.Rand == nil {
		db.Rand = rand.Reader
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return fmt.Errorf("postgres: parse database url: %w", err)
	}
	if db.MaxConns > 0 {
		cfg.MaxConns = db.MaxConns
	}
	if db.MinConns > 0 {
		cfg.MinConns = db.MinConns
	}
	if db.tracer != nil {
		cfg.ConnConfig.Tracer = db.tracer
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: connect: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := db.generation(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: history generation: %w", err)
	}
	if err := db.backfillSearch(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: search index: %w", err)
	}
	if err := db.backfillQuarantineRefs(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: quarantine refs: %w", err)
	}
	if err := db.fillFieldAt(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	if err := db.RefreshLinks(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	db.startSealer()
	db.nudgeSealer() // rows a node left unsealed when it stopped
	return nil
}

// Close closes the pool.
func (db *DB) Close() error {
	if db.stopSealer != nil {
		db.stopSealer()
		db.stopSealer = nil
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// Pool is the connection pool, for tests that look at rows directly and for
// LISTEN (live.go). Every table is the store's: no other package writes SQL.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

func (db *DB) log() *slog.Logger {
	if db.Log != nil {
		return db.Log
	}
	return slog.Default()
}

// Ping checks the database answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	if db.pool == nil {
		return fmt.Errorf("postgres: not open")
	}
	return db.pool.Ping(ctx)
}

// Health has nothing of its own to report: Postgres checks its own pages,
// and a lost connection is Ping's (readyz asks it next and answers 503
// unavailable). Fault is a write's error code, never a connection state.
func (db *DB) Health(ctx context.Context) domain.StorageHealth {
	return domain.StorageHealth{}
}

// Backup is not done by the server on Postgres: a consistent copy while
// other nodes write is pg_dump's or continuous archiving's job
// (docs/postgres.md).
func (db *DB) Backup(ctx context.Context, path string) error {
	return domain.Errorf(domain.EINVALID, "backup", "on Postgres, back up with pg_dump or continuous archiving (see docs/postgres.md)")
}

// Tx is a transaction with a fixed "now": every row it writes carries the same time.
type Tx struct {
	pgx.Tx
	db  *DB
	now time.Time
	// locked is set once the transaction holds the commit lock (seqLock).
	locked bool
	// audited: the transaction appended to the audit log (to seal after commit).
	audited bool
	audit   auditBuffer // rows kept to insert together (audit.go)
}

// Now returns the transaction's fixed time.
func (tx *Tx) Now() time.Time { return tx.now }

// errRetry asks update to run the transaction again: it lost a race that a
// fresh start resolves (a record another node created meanwhile).
var errRetry = errors.New("postgres: lost a race, retry")

// maxAttempts bounds retries; each retry means another node committed, so
// running out means a livelock, which is reported rather than spun on.
const maxAttempts = 20

// retryable reports whether err is a race the transaction can win by
// running again: a serialization failure, a deadlock broken by Postgres, or
// a unique key taken by a transaction that committed while this one ran.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505":
			return true
		}
	}
	return false
}

// update runs fn in a read-write transaction (READ COMMITTED: each
// statement sees what is committed when it starts, and row locks wait for
// the holder), commits it, and runs it again from the start if it lost a
// race. fn must therefore build its results afresh on every call.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = db.updateOnce(ctx, fn); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		var pe *pgconn.PgError
		code := "retry"
		if errors.As(err, &pe) {
			code = pe.Code
			if code == "23505" && !retryableKey(pe.ConstraintName) {
				return uniqueError(pe)
			}
		}
		db.log().Debug("postgres: transaction retried", "sqlstate", code, "attempt", attempt)
	}
	return fmt.Errorf("postgres: gave up after %d attempts: %w", maxAttempts, err)
}

// retryableKey names the keys a concurrent node can take between this
// transaction's check and its insert; other unique violations are the
// caller's mistakes, answered as conflicts.
func retryableKey(name string) bool {
	switch name {
	case "changesets_replica_id_start_key", "records_pkey", "meta_pkey", "quarantine_device_id_replica_id_start_key",
		"signin_failures_pkey", "push_outbox_pkey", "push_tokens_token_key":
		return true
	}
	return false
}

func uniqueError(pe *pgconn.PgError) error {
	if pe.ConstraintName == "people_email_key" {
		return domain.Errorf(domain.ECONFLICT, "upsert person", "email already in use")
	}
	return domain.Errorf(domain.ECONFLICT, "", "already exists")
}

func (db *DB) updateOnce(ctx context.Context, fn func(tx *Tx) error) error {
	ptx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	tx := &Tx{Tx: ptx, db: db, now: db.Now().UTC().Truncate(time.Microsecond)}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if tx.audited && db.sealNudge != nil {
		db.nudgeSealer()
	}
	return nil
}

// view runs fn in a read-only transaction that sees one snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *Tx) error) error {
	ptx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	tx := &Tx{Tx: ptx, db: db, now: db.Now().UTC().Truncate(time.Microsecond)}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(tx)
}

// commitLockKey is the advisory lock that orders commits of the changeset
// log (an arbitrary constant, "JU" + 1).
const commitLockKey = 0x4a5501

// seqLock takes the commit lock for the rest of the transaction, before it
// draws its first log sequence number. Holding it to commit means a
// changeset's seq is drawn only after every smaller one committed, so a
// pull that read up to seq N has seen everything that will ever be <= N.
// Only the short tail of a push (append, store states) is serialised; reads,
// merges and the policy run in parallel under row locks.
func (tx *Tx) seqLock(ctx context.Context) error {
	if tx.locked {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, commitLockKey); err != nil {
		return err
	}
	tx.locked = true
	return nil
}

// Migrated reports the highest applied migration number (for /readyz).
func (db *DB) Migrated(ctx context.Context) (int, error) {
	var n *int
	err := db.pool.QueryRow(ctx, `SELECT MAX(n) FROM migrations`).Scan(&n)
	if n == nil {
		return 0, err
	}
	return *n, err
}

func notFound(what, id string) error {
	return domain.Errorf(domain.ENOTFOUND, "", "%s %q not found", what, id)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// tm turns a scanned nullable time into the domain's (zero: none, UTC).
func tm(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
