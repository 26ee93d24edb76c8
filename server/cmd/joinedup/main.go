// Command joinedup is the JoinedUp sync server: the store (SQLite, or
// Postgres for several nodes), the sync API, and the supervisors' portal,
// on one port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/webapp"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/server/sqlite"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "audit" {
		os.Exit(runAudit(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "erasures" {
		os.Exit(runErasures(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		os.Exit(runAdmin(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	}
	api.TuneRuntime()
	m := NewMain()
	args, sub := os.Args[1:], ""
	if len(args) > 0 && (args[0] == "restore" || args[0] == "check") {
		sub, args = args[0], args[1:]
	}
	if err := m.ParseFlags(args); errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "restore":
		if err := m.sqliteOnly("joinedup restore", "restore with pg_restore or point-in-time recovery"); err != nil {
			fmt.Fprintln(os.Stderr, "restore:", err)
			os.Exit(1)
		}
		if err := m.Restore(ctx, m.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "restore:", err)
			os.Exit(1)
		}
		return
	case "check":
		if err := m.sqliteOnly("joinedup check", "Postgres checks its own pages (data checksums, amcheck)"); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(1)
		}
		if err := m.Check(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(1)
		}
		return
	}
	if m.Config.HealthCheck {
		if err := m.Healthcheck(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if m.Config.BackupTo != "" {
		if err := m.sqliteOnly("joinedup -backup", "back up with pg_dump or continuous archiving"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := m.Backup(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := m.Run(ctx); err != nil {
		m.Logger.Error("start failed", "err", err.Error())
		m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	m.Logger.Info("shutting down: finishing in-flight syncs")
	if err := m.Close(); err != nil {
		m.Logger.Error("shutdown", "err", err.Error())
		os.Exit(1)
	}
}

// Config is the server's configuration; flags override the environment.
type Config struct {
	Addr string // listen address; PORT sets localhost:$PORT
	// MetricsAddr (-metrics-addr, METRICS_ADDR): a second listen address
	// serving only /metrics, kept private by the operator. Without it,
	// /metrics is served only with API.MetricsToken (METRICS_TOKEN).
	MetricsAddr string
	DataDir     string // DATA_DIR; holds joinedup.db and backups/ (SQLite)
	Store       StoreConfig
	Demo        bool   // load demo data into an empty database
	BackupTo    string // -backup: write a backup to this path and exit
	// HealthCheck: -healthcheck probes a running server's /readyz at Addr and
	// exits (the container image's HEALTHCHECK; the image has no curl).
	HealthCheck bool
	LogLevel    string
	BcryptCost  int
	API         api.Config
	Push        push.Config // FCM_PROJECT_ID, FCM_CREDENTIALS_FILE, FCM_ENDPOINT; unset: notifications are logged
	// WebPush: the field app's Firebase web configuration (WEBPUSH_*, see
	// webapp.go); unset: the app offers no notifications.
	WebPush webapp.WebPush
	// HistoryKeep: sync history every phone seen within it has pulled is
	// compacted hourly; a phone away longer gets a fresh snapshot. 0: never.
	HistoryKeep time.Duration
	// TextCompactMin: records whose stored state is at least this many
	// bytes have their text tombstones compacted hourly, once no device can
	// still need them (sqlite.CompactText). 0: never.
	TextCompactMin int
}

// DefaultConfig reads PORT and DATA_DIR.
func DefaultConfig() Config {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	dir := os.Getenv("DATA_DIR")
	if dir == "" {
		dir = "./data"
	}
	apiCfg := api.DefaultConfig()
	apiCfg.MetricsToken = os.Getenv("METRICS_TOKEN")
	return Config{Addr: net.JoinHostPort("localhost", port), MetricsAddr: os.Getenv("METRICS_ADDR"), DataDir: dir, Demo: true,
		Store: storeConfigFromEnv(), LogLevel: "info", BcryptCost: bcrypt.DefaultCost, API: apiCfg, Push: pushConfigFromEnv(),
		WebPush: webPushFromEnv(), HistoryKeep: 30 * 24 * time.Hour, TextCompactMin: 4 << 10}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("listen address required")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Addr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen port %q is not a port number", port)
	}
	if err := c.Store.Validate(); err != nil {
		return err
	}
	if c.DataDir == "" && c.Store.Kind == storeSQLite {
		return fmt.Errorf("data directory required")
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		return fmt.Errorf("bcrypt cost must be %d..%d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	if c.API.BodyLimit <= 0 {
		return fmt.Errorf("body limit must be positive")
	}
	if c.TextCompactMin < 0 {
		return fmt.Errorf("text compaction size must be 0 (off) or more")
	}
	return validateWebPush(c.WebPush, c.Push)
}

// Main is the program, testable: a test boots it on :0 and calls Close.
type Main struct {
	Config Config
	Out    io.Writer // where the start banner goes
	Logger *slog.Logger

	// DB is the store, whichever it is; SQLite or Postgres is the same
	// store, set for what only that one has (nil on the other).
	DB       Store
	SQLite   *sqlite.DB
	Postgres *postgres.DB
	API      *api.Server
	Push     Outbox
	// setRules installs the notification rules on the store (push.go).
	setRules func(domain.Rules)
	// stopLive ends the Postgres live-channel listener (see openDB).
	stopLive func()
	// Deliverer drains the push outbox from Run until Close (see push.go).
	Deliverer push.Deliverer
	stopPush  func()
	// stopCompact ends the history compactor (see compact.go).
	stopCompact func()
	// stopRetention ends the retention scheduler (see retention.go).
	stopRetention func()
	// stopIntegrity ends the daily integrity check (see restore.go).
	stopIntegrity func()
	// unlock releases the data directory's lock (see restore.go).
	unlock func()
	// args are the command line's positional arguments (restore's BACKUP).
	args []string

	// Mounts run before serving: the portal adds its routes here.
	Mounts []func(m *Main) error

	ln      net.Listener
	served  chan error
	metrics net.Listener // -metrics-addr
	mserved chan error
	closing bool
	noStaff bool // the database has nobody in it: the banner says how to start
	now     func() time.Time
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Out: os.Stdout,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Mounts: []func(*Main) error{mountPortal, mountPush, mountCompaction, mountRetention, mountIntegrityCheck, mountWebApp}} // portal wiring: see portal.go
}

// ParseFlags parses command-line flags over the defaults.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("joinedup", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n  joinedup [flags]                   run the server\n"+
			"  joinedup restore [-data DIR] BACKUP  install a backup (server stopped; see docs/operations.md)\n"+
			"  joinedup check [-data DIR]         full integrity and checksum check of the database\n"+
			"  joinedup admin create --email E --name N  add an admin; prints a one-time set-password link\n"+
			"  joinedup erasures export|reapply -store postgres [FILE]  keep the erasure ledger / apply it after a restore (docs/postgres.md)\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&m.Config.Addr, "addr", m.Config.Addr, "listen address (default localhost:$PORT)")
	fs.StringVar(&m.Config.MetricsAddr, "metrics-addr", m.Config.MetricsAddr, "also serve /metrics (only) on this private address (default $METRICS_ADDR)")
	fs.StringVar(&m.Config.DataDir, "data", m.Config.DataDir, "data directory (default $DATA_DIR or ./data)")
	fs.StringVar(&m.Config.Store.Kind, "store", m.Config.Store.Kind, "sqlite (one file in -data) or postgres (-database-url; several nodes may share it) (default $JOINEDUP_STORE or sqlite)")
	fs.StringVar(&m.Config.Store.DatabaseURL, "database-url", m.Config.Store.DatabaseURL, "Postgres connection string for -store postgres (default $DATABASE_URL); pool_max_conns etc. may be URL parameters")
	fs.IntVar(&m.Config.Store.MaxConns, "db-max-conns", m.Config.Store.MaxConns, "Postgres: most connections this node opens (0: the URL's pool_max_conns, else max(4, CPUs))")
	fs.IntVar(&m.Config.Store.MinConns, "db-min-conns", m.Config.Store.MinConns, "Postgres: connections kept open when idle (0: the URL's pool_min_conns, else 0)")
	fs.BoolVar(&m.Config.Demo, "demo", m.Config.Demo, "load demo data into an empty database")
	fs.BoolVar(&m.Config.HealthCheck, "healthcheck", false, "probe the running server's /readyz at -addr (default localhost:$PORT) and exit 0 if it is ready")
	fs.StringVar(&m.Config.BackupTo, "backup", "", "write an online backup of the database to this file and exit")
	fs.IntVar(&m.Config.BcryptCost, "bcrypt-cost", m.Config.BcryptCost, "bcrypt cost for demo passwords (tests lower it)")
	fs.StringVar(&m.Config.LogLevel, "log-level", m.Config.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&m.Config.HistoryKeep, "history-keep", m.Config.HistoryKeep, "compact sync history that every phone seen within this time has pulled (0: never)")
	fs.IntVar(&m.Config.TextCompactMin, "text-compact-min", m.Config.TextCompactMin, "compact the text tombstones of records stored in at least this many bytes, hourly (0: never)")
	fs.IntVar(&m.Config.API.BodyLimit, "body-limit", m.Config.API.BodyLimit, "maximum request body in bytes")
	fs.Float64Var(&m.Config.API.RateLimit, "rate", m.Config.API.RateLimit, "sync requests per second per device (0: unlimited)")
	fs.DurationVar(&m.Config.API.ReadTimeout, "read-timeout", m.Config.API.ReadTimeout, "time allowed to read a request")
	fs.DurationVar(&m.Config.API.WriteTimeout, "write-timeout", m.Config.API.WriteTimeout, "time allowed to write a response (each live-channel write gets its own)")
	fs.DurationVar(&m.Config.API.IdleTimeout, "idle-timeout", m.Config.API.IdleTimeout, "how long a kept-alive connection may wait for its next request")
	fs.DurationVar(&m.Config.API.SSEHeartbeat, "sse-heartbeat", m.Config.API.SSEHeartbeat, "keep-alive interval on the live channel")
	pushFlags(fs, &m.Config.Push)
	webPushFlags(fs, &m.Config.WebPush)
	if err := fs.Parse(args); err != nil {
		return err
	}
	m.args = fs.Args()
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(m.Config.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	m.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	return m.Config.Validate()
}

// Args returns the first positional argument ("" if none).
func (m *Main) Args() string {
	if len(m.args) == 0 {
		return ""
	}
	return m.args[0]
}

// DBPath is where the SQLite database lives.
func (m *Main) DBPath() string { return filepath.Join(m.Config.DataDir, "joinedup.db") }

// dbName is the database, for the banner: the SQLite file or the Postgres
// URL without its password.
func (m *Main) dbName() string {
	if m.Config.Store.Kind == storePostgres {
		return redactURL(m.Config.Store.DatabaseURL)
	}
	return m.DBPath()
}

func (m *Main) openDB(ctx context.Context) error {
	if m.Config.Store.Kind == storePostgres {
		db, err := openPostgres(ctx, m.Config.Store)
		if err != nil {
			return err
		}
		db.Log = m.Logger
		m.Postgres, m.DB, m.Push = db, db, db.Outbox()
		m.setRules = func(r domain.Rules) { db.Rules = r }
		m.now = db.Now
		return nil
	}
	return m.openSQLite()
}

// listenLive relays every node's commits to this node's live channel, so a
// phone connected here hears of a save that landed on another node.
func (m *Main) listenLive() {
	if m.Postgres == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Postgres.Listen(ctx, func(keys []string) { m.API.Events.Poke(keys...) })
	}()
	m.stopLive = func() { cancel(); <-done }
}

func (m *Main) openSQLite() error {
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDataDir(m.Config.DataDir)
	if err != nil {
		return err
	}
	m.unlock = unlock
	db := sqlite.NewDB(m.DBPath())
	db.Log = m.Logger
	if err := db.Open(); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if db.Restored() {
		m.Logger.Warn("this database is a backup put back in place: new history generation; phones will re-send their recent saves")
	}
	m.SQLite, m.DB, m.Push = db, db, db.Outbox()
	m.setRules = func(r domain.Rules) { db.Rules = r }
	m.now = db.Now
	return nil
}

// Run opens the database, loads demo data on first start, and starts
// serving in the background. It returns once the listener is bound.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if err := m.openDB(ctx); err != nil {
		return err
	}
	var logins []DemoLogin
	if h := m.DB.Health(ctx); h.Corrupt != "" {
		// Serve what can be read (the portal, /readyz's reason); refuse writes.
		m.Logger.Error("database failed its integrity check: serving read-only; restore it from a backup (docs/operations.md)", "reason", h.Corrupt)
	} else if m.Config.Demo {
		var err error
		if logins, err = m.loadDemo(ctx); err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
	}
	cfg := m.Config.API
	if cfg.BackupDir == "" {
		cfg.BackupDir = filepath.Join(m.Config.DataDir, "backups")
	}
	cfg.SignIn.Cost = m.Config.BcryptCost // unknown-email sign-ins cost what real ones do
	if !m.Config.Demo {
		// As in the portal (portal.go): real data needs a second factor for
		// supervisors and admins, on the admin API's Basic sign-in too.
		cfg.TwoFactorRoles = signin.TwoFactorRoles
	}
	m.API = api.New(m.DB, cfg, m.Logger)
	if m.Postgres != nil {
		m.API.Limits = m.Postgres // every node takes from the same buckets
	}
	m.listenLive()
	for _, mount := range m.Mounts {
		if err := mount(m); err != nil {
			return err
		}
	}
	m.API.NotFound()
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", m.Config.Addr, err)
	}
	m.ln = ln
	m.served = make(chan error, 1)
	go func() { m.served <- m.API.Serve(ln) }()
	if m.Config.MetricsAddr != "" {
		if m.metrics, err = net.Listen("tcp", m.Config.MetricsAddr); err != nil {
			return fmt.Errorf("listen %s: %w", m.Config.MetricsAddr, err)
		}
		m.mserved = make(chan error, 1)
		go func() { m.mserved <- m.API.ServeMetrics(m.metrics) }()
	}
	if len(logins) == 0 {
		people, err := m.DB.People(ctx, domain.PeopleFilter{})
		m.noStaff = err == nil && len(people) == 0
	}
	m.banner(logins)
	return nil
}

// Addr is the bound address (useful with :0).
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// MetricsURL is the base URL of the metrics address ("" without one).
func (m *Main) MetricsURL() string {
	if m.metrics == nil {
		return ""
	}
	return "http://" + m.metrics.Addr().String()
}

// URL is the base URL the server answers on.
func (m *Main) URL() string { return "http://" + m.Addr() }

func (m *Main) banner(logins []DemoLogin) {
	fmt.Fprintf(m.Out, "JoinedUp is running.\n  Portal:    %s/\n  Field app: %s/app/ (phones: enrol with a code from the portal's Devices page)\n  API:       %s/v1\n  Health:    %s/healthz\n  Database:  %s\n",
		m.URL(), m.URL(), m.URL(), m.URL(), m.dbName())
	if len(logins) > 0 {
		fmt.Fprintf(m.Out, "Demo logins (demo data only; never use these passwords for real data):\n")
		for _, l := range logins {
			fmt.Fprintf(m.Out, "  %-13s %-40s %s\n", l.Role, l.Email, l.Password)
		}
		if sup, worker, ok := enrolExample(logins); ok {
			fmt.Fprintf(m.Out, "Enrol a phone: a supervisor issues a one-time code (15 minutes) for a worker of their team,\n"+
				"then give it to the phone (fieldsim, or POST %s/v1/enrol {\"code\",\"platform\"}):\n"+
				"  curl -s -u '%s:%s' -H 'Content-Type: application/json' \\\n"+
				"    -d '{\"email\":\"%s\"}' %s/v1/admin/devices/enrol-code\n",
				m.URL(), sup.Email, sup.Password, worker.Email, m.URL())
		}
	}
	if m.noStaff {
		fmt.Fprint(m.Out, firstAdminHint)
	}
	fmt.Fprintf(m.Out, "Press Ctrl-C to stop.\n")
}

// enrolExample picks a supervisor and a worker of the team they lead, for
// the banner's enrolment example.
func enrolExample(logins []DemoLogin) (sup, worker DemoLogin, ok bool) {
	for _, s := range logins {
		if s.Role != "supervisor" || s.TeamID == "" {
			continue
		}
		for _, w := range logins {
			if w.Role == "worker" && w.TeamID == s.TeamID && w.Email != "" {
				return s, w, true
			}
		}
	}
	return sup, worker, false
}

// Close shuts down gracefully: live channels end, in-flight syncs finish
// (up to 30 s), then the database is checkpointed and closed.
func (m *Main) Close() error {
	var errs []error
	if m.API != nil && m.ln != nil && !m.closing {
		m.closing = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs = append(errs, m.API.Shutdown(ctx))
		<-m.served
		if m.mserved != nil {
			<-m.mserved
		}
	}
	if m.stopRetention != nil {
		m.stopRetention()
		m.stopRetention = nil
	}
	if m.stopCompact != nil {
		m.stopCompact()
		m.stopCompact = nil
	}
	if m.stopPush != nil { // after the API: syncs that finished have enqueued theirs
		m.stopPush()
		m.stopPush = nil
	}
	if m.stopIntegrity != nil {
		m.stopIntegrity()
		m.stopIntegrity = nil
	}
	if m.stopLive != nil {
		m.stopLive()
		m.stopLive = nil
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
		m.DB, m.SQLite, m.Postgres = nil, nil, nil
	}
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
	return errors.Join(errs...)
}

// Backup writes an online backup of the database to Config.BackupTo.
func (m *Main) Backup(ctx context.Context) error {
	if _, err := os.Stat(m.DBPath()); err != nil {
		return fmt.Errorf("no database at %s: %w", m.DBPath(), err)
	}
	db, err := sqlite.Open(m.DBPath())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, m.Config.BackupTo); err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "backup written to %s\n", m.Config.BackupTo)
	return nil
}

var _ domain.Rules = (*notify.Notifier)(nil)
