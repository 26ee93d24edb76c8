package push_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
	"github.com/joinedup/joinedup/server/sqlite"
)

// MustOpenDB opens (creating and migrating) the server's store on a real SQLite file; each
// call is a separate set of connection pools, like another server process.
func MustOpenDB(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// clock is an injected, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday

type env struct {
	db    *sql.DB // the store's handle, for looking at rows
	path  string
	store *sqlite.Outbox
	clock *clock
	fake  *fcmfake.Server
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "joinedup.db")
	db := MustOpenDB(tb, path)
	c := newClock(t0)
	db.Now = c.Now
	st := db.Outbox()
	fake := fcmfake.New()
	tb.Cleanup(fake.Close)
	return &env{db: db.SQL(), path: path, store: st, clock: c, fake: fake}
}

func testTokenSource() option.ClientOption {
	return option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "test-token", TokenType: "Bearer"}))
}

func (e *env) config(mods ...func(*push.Config)) push.Config {
	cfg := push.Config{
		ProjectID:   "joinedup-test",
		Endpoint:    e.fake.URL,
		BatchSize:   500,
		Lease:       30 * time.Second,
		MaxAttempts: 5,
		Now:         e.clock.Now,
		Owner:       "sender-a",
		BaseBackoff: 10 * time.Second,
		MaxBackoff:  time.Hour,
		Rand:        func() float64 { return 0.5 },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options:     []option.ClientOption{testTokenSource()},
	}
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

func (e *env) sender(tb testing.TB, mods ...func(*push.Config)) *push.Sender {
	tb.Helper()
	s, err := push.NewSender(context.Background(), e.config(mods...), e.store)
	if err != nil {
		tb.Fatalf("NewSender: %v", err)
	}
	return s
}

func (e *env) enqueue(tb testing.TB, ns ...push.Notification) {
	tb.Helper()
	if err := e.store.Enqueue(context.Background(), ns...); err != nil {
		tb.Fatalf("Enqueue: %v", err)
	}
}

func (e *env) token(tb testing.TB, device, person, token string) {
	tb.Helper()
	if err := e.store.RegisterToken(context.Background(), device, person, token, "android"); err != nil {
		tb.Fatalf("RegisterToken: %v", err)
	}
}

type row struct {
	State       string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	LeaseOwner  sql.NullString
}

func (e *env) row(tb testing.TB, id string) row {
	tb.Helper()
	var r row
	var next int64
	err := e.db.QueryRow(`SELECT state, attempts, next_attempt, last_error, lease_owner FROM push_outbox WHERE id = ?`, id).
		Scan(&r.State, &r.Attempts, &next, &r.LastError, &r.LeaseOwner)
	if err != nil {
		tb.Fatalf("row %s: %v", id, err)
	}
	r.NextAttempt = time.UnixMilli(next).UTC()
	return r
}

func (e *env) tokens(tb testing.TB, person string) []string {
	tb.Helper()
	rows, err := e.db.Query(`SELECT token FROM push_tokens WHERE person_id = ? ORDER BY token`, person)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func (e *env) counts(tb testing.TB) map[string]int {
	tb.Helper()
	c, err := e.store.Counts(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func note(id, person string) push.Notification {
	return push.Notification{ID: id, RecipientKind: push.RecipientPerson, RecipientID: person,
		Kind: push.KindFollowUpDue, RecordID: "fu-" + id}
}

func sendDue(tb testing.TB, d push.Deliverer) int {
	tb.Helper()
	n, err := d.SendDue(context.Background())
	if err != nil {
		tb.Fatalf("SendDue: %v", err)
	}
	return n
}

func tokensReceived(f *fcmfake.Server) map[string]int {
	out := map[string]int{}
	for _, r := range f.Requests() {
		out[r.Token]++
	}
	return out
}

func id(i int) string { return fmt.Sprintf("n%05d", i) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
