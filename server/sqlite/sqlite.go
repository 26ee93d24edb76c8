// Package sqlite is JoinedUp's store: one SQLite file in WAL mode holding the
// organisation, devices, the changeset log, materialised records, quarantine,
// audit and the push outbox.
//
// Public methods open a transaction and call lowercase helpers that take *Tx,
// so a helper can be reused inside a bigger transaction (a sync push applies
// changesets, updates records and writes audit in one commit).
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// TimeLayout is how times are stored: fixed width, UTC, so TEXT order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// DB is the database handle. Writes go through a single connection with
// BEGIN IMMEDIATE (SQLite has one writer anyway; queueing in Go is cheaper
// than busy-waiting in SQLite); reads use a separate pool that runs
// concurrently thanks to WAL.
type DB struct {
	Path string
	// Now is the clock; set it before use in tests. Transactions read it once.
	Now func() time.Time

	// Rand is the source of credentials, codes and replica ids (crypto/rand).
	Rand io.Reader
	// Rules plan what an accepted change asks of the server (server/notify:
	// notifications, the referral pick-up follow-up). The store writes their
	// intents in the transaction that stores the change; see applier.settle.
	Rules domain.Rules

	// Bounds on the refused changesets kept per device (see held.go).
	HeldMaxCount          int
	HeldMaxBytes          int64
	QuarantineBodyMax     int
	QuarantineDeviceBytes int64

	write *sql.DB
	read  *sql.DB
	turn  fifo  // write transactions in arrival order (fifo.go)
	group group // syncs waiting for the write turn, run as one transaction (group.go)
	// CheckpointEvery is how often a background connection copies the WAL
	// into the database (checkpoint.go); 0 means DefaultCheckpointEvery.
	CheckpointEvery time.Duration
	ckpt            *checkpointer

	// GroupMax bounds how many waiting syncs share one transaction (group
	// commit, group.go); 0 means the default, 1 turns grouping off (a
	// benchmark's before/after).
	GroupMax int
	// syncFault, when set (tests only), fails a sync after all its writes,
	// to show that its batch neighbours keep theirs.
	syncFault func(*Tx, domain.SyncRequest) error
	// commitFault, when set (tests only), fails a group-commit batch's
	// commit before it is made, as a storage fault at COMMIT would.
	commitFault func() error

	erasedSince atomic.Bool // an erasure committed since the last WAL truncation (erasure.go)
	restored    bool        // this open found a backup put back in place (see generation.go)
	health      health      // storage faults and corruption seen (see health.go)

	// Log receives storage faults and corruption (ids and SQLite's words,
	// never record content). Nil: slog.Default().
	Log *slog.Logger

	decoded decodedRecords // records decoded for lists (recordcache.go)

	orgFacts sharedFacts // the rules' organisation lookups (rules.go)
	editEach bool        // tests: store each rule's edit as a changeset of its own (rules.go)

	srvMu sync.Mutex // guards srv, srvSt: ServerReplica's replica
	srv   *syncengine.Replica
	srvSt *ServerStore

	// auth keeps authenticated devices while nothing about them changed
	// (authcache.go).
	auth authCache

	// states keeps decoded record states by their stored bytes, so a push
	// to a long-edited note does not decode it again (see loadRecord).
	states *syncengine.StateCache

	// feeds keeps each team's recent changesets for its phones' pulls
	// (pullfeed.go); seen, what each device's row last had written
	// (kept.go).
	feeds pullFeeds
	seen  seenDevices
	// behind holds what push-only syncs stored but did not write yet
	// (behind.go). BehindRecords bounds it (0: DefaultBehindRecords);
	// BehindDelay is how long a record may wait in it before the
	// background writes it (0: DefaultBehindDelay).
	behind        writeBehind
	BehindRecords int
	BehindDelay   time.Duration
}

// NewDB returns an unopened DB for path.
func NewDB(path string) *DB {
	return &DB{Path: path, Now: time.Now, Rand: rand.Reader, states: syncengine.NewStateCache(32 << 20),
		HeldMaxCount: DefaultHeldMaxCount, HeldMaxBytes: DefaultHeldMaxBytes,
		QuarantineBodyMax: DefaultQuarantineBodyMax, QuarantineDeviceBytes: DefaultQuarantineDeviceBytes}
}

// Open opens (creating if needed) and migrates the database at path.
func Open(path string) (*DB, error) {
	db := NewDB(path)
	if err := db.Open(); err != nil {
		return nil, err
	}
	return db, nil
}

func dsn(path string, txlock string, readonly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", txlock)
	// Freed pages are zeroed: an erasure must not leave the bytes in the file.
	q.Set("_secure_delete", "on")
	// Each connection keeps its recent prepared statements: the hot
	// queries of a sync are compiled once per connection, not per call.
	q.Set("_stmt_cache_size", "256")
	if readonly {
		q.Set("_query_only", "1")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens the database and applies pending migrations.
func (db *DB) Open() (err error) {
	if db.Path == "" {
		return fmt.Errorf("sqlite: path required")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if err := privateFiles(db.Path); err != nil {
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	if db.write, err = sql.Open("sqlite3", dsn(db.Path, "immediate", false)); err != nil {
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if err := checkFTS5(context.Background(), db.write); err != nil {
		db.write.Close()
		return err
	}
	// A damaged file is found before anything is written to it: the server
	// then starts, answers /readyz 503 and refuses writes, but still serves
	// what it can read, until it is restored from a backup.
	problems, err := quickCheck(context.Background(), db.write, "quick_check")
	if err != nil {
		db.write.Close()
		return fmt.Errorf("check %s: %w", db.Path, err)
	}
	if len(problems) > 0 {
		db.setCorrupt("quick_check: " + summarise(problems))
	} else {
		if err := db.migrate(context.Background()); err != nil {
			db.write.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		if err := db.ensureGeneration(context.Background()); err != nil {
			db.write.Close()
			return fmt.Errorf("history generation: %w", err)
		}
		if err := db.fillChecksums(context.Background()); err != nil {
			db.write.Close()
			return fmt.Errorf("checksums: %w", err)
		}
		if err := db.fillFieldAt(context.Background()); err != nil {
			db.write.Close()
			return err
		}
		if err := db.RefreshLinks(context.Background()); err != nil {
			db.write.Close()
			return err
		}
	}
	if db.read, err = sql.Open("sqlite3", dsn(db.Path, "deferred", true)); err != nil {
		db.write.Close()
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	db.read.SetMaxOpenConns(8)
	if len(problems) > 0 {
		// Writes are refused, so neither the audit chain nor the erasure
		// ledger can be brought up to date: the erasures are applied when
		// the file is restored (restore refuses a damaged backup, and the
		// ledger file beside the database outlives it).
		return nil
	}
	if err := db.replayBehind(context.Background()); err != nil {
		db.Close()
		return fmt.Errorf("write-behind replay: %w", err)
	}
	if err := db.backfillSearch(context.Background()); err != nil {
		db.Close()
		return fmt.Errorf("search index: %w", err)
	}
	if err := db.backfillQuarantineRefs(context.Background()); err != nil {
		db.Close()
		return fmt.Errorf("quarantine refs: %w", err)
	}
	if err := db.openPrivacy(context.Background()); err != nil {
		db.Close()
		return err
	}
	db.startBehind()
	if err := db.startCheckpointer(); err != nil {
		db.logger().Warn("background WAL checkpoint not started; SQLite's automatic one stays on", "err", err.Error())
	}
	return nil
}

// privateFiles makes the database owner-only (0600) whatever the umask: it
// creates the file before SQLite does, and SQLite gives the WAL and
// shared-memory files it creates the database file's mode; files left by
// an older version with wider permissions are tightened.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	errs := []error{db.stopBehind(), db.stopCheckpointer()}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		// Fold the WAL back into the main file so a copied data dir is complete.
		_, _ = db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Ping checks both pools answer.
func (db *DB) Ping(ctx context.Context) error {
	if db.write == nil {
		return fmt.Errorf("sqlite: not open")
	}
	if err := db.write.PingContext(ctx); err != nil {
		return err
	}
	return db.read.PingContext(ctx)
}

// SQL returns the underlying write handle, for tests that look at rows
// directly. Every table is the store's: no other package writes SQL.
// The write-behind set is written first, so the rows are what every
// reader of the store sees.
func (db *DB) SQL() *sql.DB {
	if err := db.FlushBehind(context.Background()); err != nil {
		db.logger().Error("write-behind flush failed", "err", err.Error())
	}
	return db.write
}

// Tx is a transaction with a fixed "now": every row it writes carries the same time.
type Tx struct {
	*sql.Tx
	db   *DB
	now  time.Time
	done sync.Once // gives the write turn on (write transactions only)
	turn *fifo
	// auditTail is the newest audit row this transaction knows of (nil:
	// read it first); see appendAudit.
	auditTail *auditTail
	// noPurgesFor is the device whose pull has just found it has no purge
	// notices left to confirm, so its syncPurges, next in the same sync,
	// need not read them again. syncPurges consumes it; each grouped sync
	// starts without it (group.go), so another sync's erasure in between
	// can never be missed.
	noPurgesFor string
	audit       auditBuffer // a sync's audit rows, inserted together (audit.go)
	// search holds the records stored since the last flushSearch, each in
	// its latest state (search.go): indexed once before commit.
	search searchQueue
	// kept is what the store keeps in memory once the transaction has
	// committed (kept.go).
	kept kept
	// behind is the write-behind set as this write transaction found it:
	// a rollback, or a commit that fails, puts it back (behind.go).
	behind   behindMark
	finished bool
	// writer: a write transaction, holding the write turn; only it may
	// look at the write-behind set (a read transaction started after it
	// was written).
	writer bool
}

// Commit commits and gives the write connection to the next in line.
func (tx *Tx) Commit() error {
	if err := tx.flushSearch(context.Background()); err != nil {
		tx.Rollback()
		return err
	}
	err := tx.Tx.Commit()
	tx.settleBehind(err == nil)
	tx.release()
	if err == nil && tx.turn != nil {
		tx.db.committed()
	}
	return err
}

// Rollback rolls back (a no-op after Commit) and gives the turn on.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.settleBehind(false)
	tx.release()
	return err
}

// settleBehind publishes the write-behind set a write transaction
// committed, or puts back the one it found; once per transaction, while
// it still holds the turn.
func (tx *Tx) settleBehind(committed bool) {
	if tx.turn == nil || tx.finished {
		return
	}
	tx.finished = true
	if committed {
		tx.db.behind.publish()
	} else {
		tx.db.behind.restore(tx.behind)
	}
}

func (tx *Tx) release() {
	if tx.turn != nil {
		tx.done.Do(tx.turn.unlock)
	}
}

// Now returns the transaction's fixed time.
func (tx *Tx) Now() time.Time { return tx.now }

// NowText returns now in the stored layout.
func (tx *Tx) NowText() string { return formatTime(tx.now) }

// BeginTx starts a write transaction (BEGIN IMMEDIATE).
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if err := db.turn.lock(ctx); err != nil {
		return nil, err
	}
	tx, err := db.write.BeginTx(ctx, opts)
	if err != nil {
		db.turn.unlock()
		return nil, err
	}
	t := &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(time.Microsecond), turn: &db.turn, behind: db.behind.mark(), writer: true}
	// Whatever this transaction reads or writes, it sees what push-only
	// syncs left to the write-behind set (behind.go).
	if opts == nil || !opts.ReadOnly {
		if err := t.seeOthers(ctx); err != nil {
			t.Rollback()
			return nil, err
		}
		if err := t.flushBehind(ctx); err != nil {
			t.Rollback()
			return nil, err
		}
	}
	return t, nil
}

// BeginRead starts a read-only transaction that sees one consistent
// snapshot, with the write-behind set written first (behind.go).
func (db *DB) BeginRead(ctx context.Context) (*Tx, error) {
	if err := db.FlushBehind(ctx); err != nil {
		return nil, err
	}
	return db.beginStored(ctx)
}

// beginStored is BeginRead without writing the write-behind set first.
func (db *DB) beginStored(ctx context.Context) (*Tx, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(time.Microsecond)}, nil
}

// update runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := db.refuseWrite(); err != nil {
		return err
	}
	return db.noteWrite(db.updateTx(ctx, fn))
}

func (db *DB) updateTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// view runs fn in a read transaction.
func (db *DB) view(ctx context.Context, fn func(tx *Tx) error) error {
	if err := db.FlushBehind(ctx); err != nil {
		return err
	}
	return db.viewStored(ctx, fn)
}

// viewStored is view without writing the write-behind set first, for
// reads of tables it never writes: only records, search, the outbox and
// concern alerts, the rules' changesets and the automation replica's meta
// wait in it (behind.go).
func (db *DB) viewStored(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.beginStored(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = fn(tx)
	db.noteRead(err)
	return err
}

// Migrated reports the highest applied migration number (for /readyz).
func (db *DB) Migrated(ctx context.Context) (int, error) {
	var n sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MAX(n) FROM migrations`).Scan(&n)
	return int(n.Int64), err
}

// Backup writes a consistent copy of the live database to path with VACUUM INTO.
// Writers are not blocked for long: VACUUM INTO reads one snapshot.
func (db *DB) Backup(ctx context.Context, path string) error {
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("backup path must not contain ? or #")
	}
	// A backup holds every record stored; without this it would hold the
	// log of what waits in the write-behind set, and its Open would store it.
	if err := db.FlushBehind(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// The copy holds what the database does: owner-only. VACUUM INTO writes
	// into an empty file it finds there, keeping its mode.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A dedicated connection: the read pool is query_only, and the write pool
	// would hold up writers for the whole copy.
	conn, err := sql.Open("sqlite3", dsn(db.Path, "deferred", false))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err = conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	gen, err := db.Generation(ctx)
	if err != nil {
		return err
	}
	if err := markBackup(ctx, path, gen); err != nil {
		return fmt.Errorf("mark backup %s: %w", path, err)
	}
	return db.backupLedger(path)
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(TimeLayout, s)
	return t
}

// nullTime scans a nullable stored time.
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.t = time.Time{}
	case string:
		*n.t = parseTime(v)
	case []byte:
		*n.t = parseTime(string(v))
	default:
		return fmt.Errorf("nullTime: unexpected %T", v)
	}
	return nil
}

func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique || errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}
