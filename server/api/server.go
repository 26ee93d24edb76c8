// Package api is JoinedUp's HTTP API on Fiber: device enrolment, the sync
// protocol, the live channel, supervisor device administration and the
// operational endpoints. Every error leaves through ErrorHandler.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// Store is what the API needs from storage.
type Store interface {
	Ping(ctx context.Context) error
	Migrated(ctx context.Context) (int, error)
	Health(ctx context.Context) domain.StorageHealth

	IssueEnrolmentCode(ctx context.Context, personID, createdBy string) (string, time.Time, error)
	EnrolDevice(ctx context.Context, req domain.EnrolRequest) (domain.Enrolment, error)
	Authenticate(ctx context.Context, credential string) (domain.Device, domain.Person, error)
	Device(ctx context.Context, id string) (domain.Device, error)
	RevokeDevice(ctx context.Context, deviceID, by, reason string) error
	ConfirmWipe(ctx context.Context, deviceID string) error

	Person(ctx context.Context, id string) (domain.Person, error)
	signin.TwoFactorStore
	ScopeOf(ctx context.Context, p domain.Person) (domain.Scope, error)

	Sync(ctx context.Context, req domain.SyncRequest) (*domain.SyncResult, error)
	Fetch(ctx context.Context, req domain.FetchRequest) (*domain.FetchResult, error)
	Quarantine(ctx context.Context, f domain.QuarantineFilter) ([]domain.QuarantineItem, error)
	QuarantineSize(ctx context.Context) (int, error)
	QuarantineItem(ctx context.Context, id int64, reviewer domain.Person) (domain.QuarantineDetail, error)
	ReviewQuarantine(ctx context.Context, id int64, reviewer domain.Person, resolution string) error
	Backup(ctx context.Context, path string) error

	StartTransfer(ctx context.Context, by domain.Person, youngPersonID, toTeam, reason string) (domain.Transfer, error)
	DecideTransfer(ctx context.Context, by domain.Person, id int64, decision string) (domain.Transfer, error)
	Transfers(ctx context.Context, f domain.TransferFilter) ([]domain.Transfer, error)
	PrivacyStore
	People
}

// Config tunes the API.
type Config struct {
	BodyLimit    int           // bytes; larger requests get 413 too_large
	RateLimit    float64       // sync requests per second per device
	RateBurst    int           // bucket size
	PageBytes    int           // default pull page budget
	BackupDir    string        // where POST /v1/admin/backup writes
	SSEHeartbeat time.Duration // keep-alive comment interval on /v1/sync/events
	// Connection timeouts (fasthttp's): reading a request, writing a
	// response, and a kept-alive connection waiting for its next request. The
	// live channel is exempt from the write timeout as a whole: each of its
	// writes gets WriteTimeout of its own (see handleSyncEvents).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// Now is the clock for rate limiting and backup names.
	Now func() time.Time
	// MetricsToken (METRICS_TOKEN): GET /metrics needs "Authorization:
	// Bearer <token>". Without one, /metrics is served only by ServeMetrics,
	// on a separate address.
	MetricsToken string
	// SignIn tunes staff sign-in (HTTP Basic on /v1/admin); its clock is Now.
	// Ignored when Server.SignIn is shared with the portal (see New).
	SignIn signin.Config
	// TwoFactorRoles must sign in with a second factor (nil: only people
	// who enrolled one); the same roles as the portal's, set by main.
	TwoFactorRoles []string
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{BodyLimit: 8 << 20, RateLimit: 20, RateBurst: 40, PageBytes: domain.DefaultPageBytes,
		SSEHeartbeat: 25 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		Now: time.Now, SignIn: signin.DefaultConfig()}
}

// DefaultGCPercent is the server's garbage collection target when GOGC is
// not set. A sync allocates a few hundred short-lived objects (request,
// decoded changesets, rows, the response) over a live heap of a few tens of
// megabytes, so Go's default of 100 collects often and marking was 5% of
// the server's CPU under load; 200 halves that for twice the headroom.
const DefaultGCPercent = 200

// TuneRuntime applies the server's runtime defaults (main calls it, and so
// does the load benchmark's server process). GOGC, when set, wins.
func TuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// Server is the HTTP API.
type Server struct {
	App *fiber.App
	// MetricsApp serves only /metrics, on the listener given to ServeMetrics.
	MetricsApp *fiber.App
	Store      Store
	Config     Config
	Logger     *slog.Logger
	Metrics    *Metrics
	Events     *Broker
	// SignIn checks staff passwords; main hands the same one to the portal,
	// so that a client's attempts on both count together.
	SignIn *signin.Checker

	limiter *limiter
	// Limits, when set (main, on Postgres), keeps the rate limits in the
	// database so every node shares them; nil: each process keeps its own.
	Limits SharedLimits

	mu       sync.Mutex
	lns      []net.Listener // every listener handed to Serve
	shutdown bool
}

// New builds the Fiber app with every route registered.
func New(store Store, cfg Config, logger *slog.Logger) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.SignIn.Now = cfg.Now
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{Store: store, Config: cfg, Logger: logger, Metrics: NewMetrics(store.QuarantineSize), Events: NewBroker(),
		limiter: newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now), SignIn: signin.New(store, cfg.SignIn)}
	fcfg := fiber.Config{
		AppName:               "joinedup",
		BodyLimit:             cfg.BodyLimit,
		ErrorHandler:          ErrorHandler(logger),
		DisableStartupMessage: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
	}
	s.App = fiber.New(fcfg)
	s.MetricsApp = fiber.New(fcfg)
	registerMetricsRoute(s, s.MetricsApp, true)
	s.App.Use(s.observe)
	registerOpsRoutes(s, s.App)
	v1 := s.App.Group("/v1")
	registerEnrolRoutes(s, v1)
	registerSyncRoutes(s, v1)
	registerAdminRoutes(s, v1)
	return s
}

// NotFound installs the final 404 handler; call after the portal's routes.
func (s *Server) NotFound() {
	s.App.Use(func(c *fiber.Ctx) error { return Errorf(domain.ENOTFOUND, "no such endpoint") })
}

// Serve serves on ln until Shutdown. It may be called before or after
// Shutdown starts (it is usually on its own goroutine): it always returns.
func (s *Server) Serve(ln net.Listener) error { return s.serve(s.App, ln) }

// ServeMetrics serves GET /metrics alone on ln (the -metrics-addr listener)
// until Shutdown, like Serve.
func (s *Server) ServeMetrics(ln net.Listener) error { return s.serve(s.MetricsApp, ln) }

func (s *Server) serve(app *fiber.App, ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	return app.Listener(ln)
}

// Shutdown closes the live channels, then waits (until ctx ends) for
// in-flight requests, so a sync that started is finished and answered.
//
// fasthttp's Shutdown only closes the listeners its Serve has already
// registered; when Shutdown runs first (a server closed right after start)
// it returns at once and the late Serve then blocks in Accept for ever. So
// every listener Serve was given is closed here too, after fasthttp has
// drained the connections it knows about.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	lns := s.lns
	s.mu.Unlock()
	s.Events.Close()
	err := errors.Join(s.App.ShutdownWithContext(ctx), s.MetricsApp.ShutdownWithContext(ctx))
	for _, ln := range lns {
		ln.Close() // already closed by fasthttp when it had registered it
	}
	return err
}

// observe logs each request (method, route, status, duration: never bodies)
// and counts it.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.App.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	s.Metrics.HTTPRequests.WithLabelValues(strconv.Itoa(status)).Inc()
	lvl := slog.LevelDebug
	if status >= 500 {
		lvl = slog.LevelWarn
	}
	// Body() of a streamed response (the SSE live channel) reads the stream
	// to its end, i.e. until the client leaves: the headers would never be
	// sent. Its size is unknown here; log -1.
	out := -1
	if !c.Response().IsBodyStream() {
		out = len(c.Response().Body())
	}
	// Checked first: the arguments alone cost allocations on every
	// request when debug lines are off (production's default).
	if s.Logger.Enabled(c.UserContext(), lvl) {
		s.Logger.Log(c.UserContext(), lvl, "http", "method", c.Method(), "route", c.Route().Path, "status", status,
			"ms", time.Since(start).Milliseconds(), "in", len(c.Request().Body()), "out", out)
	}
	return nil
}
