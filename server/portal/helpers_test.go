package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// testNow is inside the demo fixtures' fortnight: Friday evening.
var testNow = time.Date(2025, 10, 24, 20, 30, 0, 0, time.UTC)

var (
	seedOnce sync.Once
	seedPath string
	seedErr  error
	demo     *fixtures.Dataset
)

// seedDemo loads fixtures.Demo() into a store the way the server's Main
// does (organisation, bcrypt-hashed demo passwords, changesets imported).
func seedDemo(ctx context.Context, db *sqlite.DB, ds *fixtures.Dataset) error {
	for _, a := range ds.Org.Areas {
		if err := db.UpsertArea(ctx, domain.Area{ID: a.ID, Name: a.Name}); err != nil {
			return err
		}
	}
	for _, t := range ds.Org.Teams {
		if err := db.UpsertTeam(ctx, domain.Team{ID: t.ID, AreaID: t.AreaID, Name: t.Name}); err != nil {
			return err
		}
	}
	for _, s := range ds.Org.Services {
		hours, _ := json.Marshal(s.Hours)
		if err := db.UpsertService(ctx, domain.Service{ID: s.ID, Name: s.Name, Kind: s.Kind, Contact: s.Contact, Pathway: s.Pathway,
			Hours: hours, SharedFields: s.SharedFields}); err != nil {
			return err
		}
	}
	passwords := map[string]string{}
	for _, l := range fixtures.DemoLogins(ds.Org) {
		passwords[l.Email] = l.Password
	}
	for _, p := range ds.Org.People {
		hash, err := bcrypt.GenerateFromPassword([]byte(passwords[p.Email]), bcrypt.MinCost)
		if err != nil {
			return err
		}
		hours, _ := json.Marshal(p.Hours)
		person := domain.Person{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role, TeamID: p.TeamID, ServiceID: p.ServiceID,
			TZ: p.TimeZone, Hours: hours, PasswordHash: string(hash)}
		if p.Role == domain.RoleSupervisor && p.TeamID != "" {
			person.Supervises = []string{p.TeamID}
		}
		if err := db.UpsertPerson(ctx, person); err != nil {
			return err
		}
	}
	h, err := ds.Changesets(fixtures.Demo().Seed)
	if err != nil {
		return err
	}
	_, err = db.Import(ctx, h.Changesets)
	return err
}

// MustOpenDemo returns a store holding the demo data, in t.TempDir(): a
// copy of one seeded file, so each test starts from the same state fast.
func MustOpenDemo(tb testing.TB) *sqlite.DB {
	tb.Helper()
	seedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "portal-seed")
		if err != nil {
			seedErr = err
			return
		}
		seedPath = filepath.Join(dir, "seed.db")
		db := sqlite.NewDB(seedPath)
		db.Now = func() time.Time { return testNow }
		if seedErr = db.Open(); seedErr != nil {
			return
		}
		demo = fixtures.Generate(fixtures.Demo())
		seedErr = seedDemo(context.Background(), db, demo)
		if err := db.Close(); seedErr == nil {
			seedErr = err
		}
	})
	if seedErr != nil {
		tb.Fatalf("seed demo database: %v", seedErr)
	}
	path := filepath.Join(tb.TempDir(), "joinedup.db")
	b, err := os.ReadFile(seedPath)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	db := sqlite.NewDB(path)
	db.Now = func() time.Time { return testNow }
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testEnv is a portal on a Fiber app over a demo store.
type testEnv struct {
	t      testing.TB
	db     *sqlite.DB
	portal *Portal
	app    *fiber.App
	clock  *time.Time
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	db := MustOpenDemo(t)
	now := testNow
	env := &testEnv{t: t, db: db, clock: &now}
	db.Now = func() time.Time { return *env.clock }
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return *env.clock }
	env.portal = New(cfg, Deps{Store: db, Logger: slog.New(slog.NewTextHandler(testLogOut, nil))})
	env.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	env.portal.Register(env.app)
	return env
}

// login returns a demo login of a role (n counts from 1).
func login(tb testing.TB, role string, n int) fixtures.Login {
	tb.Helper()
	seen := 0
	for _, l := range fixtures.DemoLogins(demo.Org) {
		if l.Role == role {
			if seen++; seen == n {
				return l
			}
		}
	}
	tb.Fatalf("no demo %s number %d", role, n)
	return fixtures.Login{}
}

func personByEmail(tb testing.TB, email string) fixtures.Person {
	for _, p := range demo.Org.People {
		if p.Email == email {
			return p
		}
	}
	tb.Fatalf("no person %s", email)
	return fixtures.Person{}
}

// client is a signed-in browser for app.Test: it keeps cookies and the CSRF token.
type client struct {
	env     *testEnv
	cookies map[string]string
	csrf    string
	lang    string // Accept-Language, if set
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (e *testEnv) anon() *client { return &client{env: e, cookies: map[string]string{}} }

// signIn signs in with the demo login of a role and returns the client.
func (e *testEnv) signIn(role string, n int) *client {
	e.t.Helper()
	l := login(e.t, role, n)
	c := e.anon()
	status, body := c.signIn(l.Email, l.Password)
	if status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: status %d\n%s", l.Email, status, body)
	}
	resp := c.raw("GET", "/portal/", nil)
	resp.Body.Close()
	if status, body := c.get(resp.Header.Get("Location")); status != http.StatusOK || c.csrf == "" {
		e.t.Fatalf("home page after sign-in: %d\n%s", status, trunc(body))
	}
	return c
}

func (c *client) signIn(email, password string) (int, string) {
	_, body := c.get("/portal/login")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		c.env.t.Fatalf("no csrf token on the sign-in page:\n%s", body)
	}
	return c.do("POST", "/portal/login", url.Values{"_csrf": {m[1]}, "email": {email}, "password": {password}})
}

func (c *client) get(path string) (int, string) { return c.do("GET", path, nil) }

// post sends a form with the session's CSRF token.
func (c *client) post(path string, form url.Values) (int, string) {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" {
		form.Set("_csrf", c.csrf)
	}
	return c.do("POST", path, form)
}

func (c *client) do(method, path string, form url.Values) (int, string) {
	c.env.t.Helper()
	resp := c.raw(method, path, form)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if m := csrfRe.FindStringSubmatch(body); m != nil && c.cookies[sessionCookie] != "" {
		c.csrf = m[1]
	}
	return resp.StatusCode, body
}

func (c *client) raw(method, path string, form url.Values) *http.Response {
	c.env.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.env.app.Test(req, 30_000)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", method, path, err)
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return resp
}

func trunc(s string) string {
	if len(s) > 3000 {
		return s[:3000] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// testLogOut receives the portal's logs; set PORTAL_TEST_LOG=1 to see them.
var testLogOut io.Writer = func() io.Writer {
	if os.Getenv("PORTAL_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}()
