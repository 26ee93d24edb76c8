package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"github.com/pquerna/otp/totp"
)

// MustRunPostgres boots the whole program on a fresh Postgres database (a
// throw-away cluster, pgtest) and returns it with the database's URL.
func MustRunPostgres(tb testing.TB, opts ...func(*Main)) (*Main, string) {
	tb.Helper()
	t := tb.(*testing.T)
	dbURL := pgtest.URL(t)
	m := MustRunMain(tb, t.TempDir(), append([]func(*Main){func(m *Main) {
		m.Config.Store = StoreConfig{Kind: storePostgres, DatabaseURL: dbURL, MaxConns: 8}
		m.Config.Demo = false
	}}, opts...)...)
	return m, dbURL
}

// getJSON GETs url and returns its status and body's "code".
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	must(t, err)
	defer resp.Body.Close()
	var body struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Code
}

// /readyz follows the Postgres connection: ready while the database
// answers, 503 "unavailable" once it is gone.
func TestPostgresReadyzFollowsTheDatabase(t *testing.T) {
	m, dbURL := MustRunPostgres(t)
	if m.SQLite != nil || m.Postgres == nil {
		t.Fatalf("-store postgres opened %T", m.DB)
	}
	if st, code := getStatus(t, m.URL()+"/readyz"); st != 200 {
		t.Fatalf("/readyz on a live database: %d %s", st, code)
	}
	// Drop the database under the server: every pooled connection dies and
	// no new one can be made.
	u, err := url.Parse(dbURL)
	must(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	must(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
	must(t, err)
	if st, code := getStatus(t, m.URL()+"/readyz"); st != 503 || code != "unavailable" {
		t.Fatalf("/readyz with the database gone: %d %q, want 503 unavailable", st, code)
	}
}

// TestPostgresEndToEnd is a deployment on Postgres from nothing: the server
// starts with -store postgres, `joinedup admin create` (on the same
// database) prints a link, the admin sets a password and signs in with a
// second factor, a phone enrols and syncs over HTTP, the admin erases a
// young person in the portal, the phone is told to purge and confirms, and
// `joinedup audit verify` finds the chain intact.
func TestPostgresEndToEnd(t *testing.T) {
	t.Setenv("PORTAL_INSECURE_COOKIES", "1")
	var banner bytes.Buffer
	m, dbURL := MustRunPostgres(t, func(m *Main) { m.Out = &banner })
	if !strings.Contains(banner.String(), firstAdminHint) || strings.Contains(banner.String(), "joinedup.db") {
		t.Fatalf("banner on an empty Postgres store:\n%s", banner.String())
	}
	ctx := context.Background()

	// The first admin, made by the CLI on the same database.
	var out, errOut bytes.Buffer
	if code := runAdmin(ctx, []string{"create", "--email", "ada@council.example", "--name", "Ada Admin",
		"-store", "postgres", "-database-url", dbURL, "-url", m.URL()}, &out, &errOut); code != 0 {
		t.Fatalf("admin create on postgres: exit %d: %s", code, errOut.String())
	}
	link := regexp.MustCompile(`http://\S+/portal/set-password\?token=\S+`).FindString(out.String())
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: client.Timeout}
	page := func(resp *http.Response, err error) (int, string) { t.Helper(); return readPage(t, resp, err) }
	csrfOf := func(body string) string {
		t.Helper()
		c := csrfField.FindStringSubmatch(body)
		if c == nil {
			t.Fatalf("no CSRF field in:\n%s", body)
		}
		return c[1]
	}
	status, body := page(browser.Get(link))
	if status != 200 {
		t.Fatalf("set-password page: %d\n%s", status, body)
	}
	const pw = "velvet thunder orchard"
	_, body = page(browser.PostForm(m.URL()+"/portal/set-password", url.Values{"_csrf": {csrfOf(body)},
		"token": {strings.SplitN(link, "token=", 2)[1]}, "password": {pw}, "confirm": {pw}}))
	_, body = page(browser.PostForm(m.URL()+"/portal/login", url.Values{"_csrf": {csrfOf(body)},
		"email": {"ada@council.example"}, "password": {pw}, "next": {"/portal/admin/people"}}))
	secret := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("no second-factor enrolment on Postgres:\n%s", body)
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	must(t, err)
	if status, body = page(browser.PostForm(m.URL()+"/portal/login/second-factor", url.Values{"_csrf": {csrfOf(body)},
		"secret": {secret[1]}, "code": {code}, "next": {"/portal/admin/people"}})); status != 200 || !strings.Contains(body, `id="recovery-codes"`) {
		t.Fatalf("second factor on Postgres: %d\n%s", status, body)
	}
	if status, body = page(browser.Get(m.URL() + "/portal/admin/people")); status != 200 || !strings.Contains(body, "Ada Admin") {
		t.Fatalf("people page: %d\n%s", status, body)
	}
	admin, err := m.DB.PersonByEmail(ctx, "ada@council.example")
	must(t, err)

	// A team and a worker; the worker's phone enrols over HTTP.
	must(t, m.DB.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, m.DB.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, m.DB.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"}))
	enrolCode, _, err := m.DB.IssueEnrolmentCode(ctx, "w_a", admin.ID)
	must(t, err)
	st, _, raw := errorCode(t, "POST", m.URL()+"/v1/enrol", "", `{"code":"`+enrolCode+`","platform":"sim"}`)
	var en domain.Enrolment
	if err := json.Unmarshal([]byte(raw), &en); st != 201 || err != nil || en.Credential == "" {
		t.Fatalf("enrol: %d %s", st, raw)
	}
	rid, err := syncengine.ParseReplicaID(en.ReplicaID)
	must(t, err)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
	must(t, err)
	var yp syncengine.RecordID
	cs, err := rep.Edit("w_a", func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(yp, "team_id", "team_a"); err != nil {
			return err
		}
		return tx.Set(yp, "known_as", "Jay")
	})
	must(t, err)
	sync := func(req protocol.Request) protocol.Response {
		t.Helper()
		b, _ := json.Marshal(req)
		st, _, raw := errorCode(t, "POST", m.URL()+"/v1/sync", en.Credential, string(b))
		var resp protocol.Response
		if err := json.Unmarshal([]byte(raw), &resp); st != 200 || err != nil {
			t.Fatalf("sync: %d %s", st, raw)
		}
		return resp
	}
	resp := sync(protocol.Request{Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs))}})
	if len(resp.Results) != 1 || resp.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("push on Postgres: %+v", resp.Results)
	}

	// The admin erases the young person in the portal.
	_, body = page(browser.Get(m.URL() + "/portal/young-people/" + string(yp) + "/erase"))
	if status, body = page(browser.PostForm(m.URL()+"/portal/young-people/"+string(yp)+"/erase", url.Values{"_csrf": {csrfOf(body)},
		"reason": {"erasure request from the young person"}, "confirm": {string(yp)}})); status != 200 {
		t.Fatalf("erase in the portal: %d\n%s", status, body)
	}
	if r, err := m.DB.RecordState(ctx, string(yp)); err != nil || r.Erased == nil {
		t.Fatalf("not erased: %v", err)
	}
	resp = sync(protocol.Request{Cursor: resp.Cursor})
	if !slices.Contains(resp.Erase, string(yp)) {
		t.Fatalf("the phone is not told to purge: %+v", resp.Erase)
	}
	sync(protocol.Request{Cursor: resp.Cursor, Purged: []string{string(yp)}})
	notices, err := m.DB.PurgeNotices(ctx, []string{string(yp)})
	must(t, err)
	if len(notices) != 1 || notices[0].ConfirmedAt.IsZero() {
		t.Fatalf("purge notices: %+v", notices)
	}

	out.Reset()
	errOut.Reset()
	if code := runAudit(ctx, []string{"verify", "-store", "postgres", "-database-url", dbURL}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "intact") {
		t.Fatalf("audit verify on Postgres: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	// The SQLite-only commands refuse, saying what to do instead.
	m2 := NewMain()
	must(t, m2.ParseFlags([]string{"-store", "postgres", "-database-url", dbURL}))
	if err := m2.sqliteOnly("joinedup restore", "restore with pg_restore"); err == nil || !strings.Contains(err.Error(), "docs/postgres.md") {
		t.Fatalf("restore on postgres: %v", err)
	}
}

// Rate limits are the database's on Postgres: a phone sending its syncs to
// two nodes in turn gets the burst once, not once per node, and so does an
// address guessing enrolment codes.
func TestPostgresRateLimitsSharedByNodes(t *testing.T) {
	slow := func(m *Main) { m.Config.API.RateLimit, m.Config.API.RateBurst = 0.001, 3 }
	a, dbURL := MustRunPostgres(t, slow)
	b := MustRunMain(t, t.TempDir(), func(m *Main) {
		m.Config.Store = StoreConfig{Kind: storePostgres, DatabaseURL: dbURL, MaxConns: 4}
		m.Config.Demo = false
	}, slow)
	ctx := context.Background()
	must(t, a.DB.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, a.DB.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, a.DB.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a"}))
	code, _, err := a.DB.IssueEnrolmentCode(ctx, "w_a", "admin")
	must(t, err)
	en, err := a.DB.Enrol(ctx, code, "sim")
	must(t, err)
	var statuses []int
	for i := range 6 {
		node := []*Main{a, b}[i%2]
		st, _, _ := errorCode(t, "POST", node.URL()+"/v1/sync", en.Credential, `{"cursor":""}`)
		statuses = append(statuses, st)
	}
	if want := []int{200, 200, 200, 429, 429, 429}; !slices.Equal(statuses, want) {
		t.Fatalf("syncs over two nodes answered %v, want %v (the burst of 3 shared)", statuses, want)
	}
	statuses = nil
	for i := range 6 {
		node := []*Main{a, b}[i%2]
		st, _, _ := errorCode(t, "POST", node.URL()+"/v1/enrol", "", `{"code":"WRONG-CODE-1","platform":"sim"}`)
		statuses = append(statuses, st)
	}
	if statuses[3] != 429 || statuses[5] != 429 {
		t.Fatalf("enrolment guesses over two nodes answered %v: the fourth should be limited", statuses)
	}
}

// pgBin finds a Postgres client program of the installed server.
func pgBin(t *testing.T, name string) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		t.Fatalf("%s not found (install Debian's postgresql package)", name)
	}
	sort.Strings(found)
	return found[len(found)-1]
}

// The documented backup procedure: a pg_dump taken before an erasure,
// restored into a new database, brings the erased record back until the
// kept ledger (`joinedup erasures export`) is applied again (`reapply`).
func TestPostgresRestoreKeepsErasures(t *testing.T) {
	m, dbURL := MustRunPostgres(t)
	ctx := context.Background()
	must(t, m.DB.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, m.DB.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	var yp syncengine.RecordID
	_, err := m.DB.ServerEdit(ctx, "admin", func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(yp, "team_id", "team_a"); err != nil {
			return err
		}
		return tx.Set(yp, "known_as", "Sam Secret")
	})
	must(t, err)
	dump := filepath.Join(t.TempDir(), "before.dump")
	if out, err := exec.Command(pgBin(t, "pg_dump"), "-Fc", "-d", dbURL, "-f", dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	_, err = m.DB.Erase(ctx, domain.ErasureRequest{By: "admin", YoungPersonID: string(yp), Reason: "erasure request 1", Erase: []string{string(yp)}})
	must(t, err)
	ledger := filepath.Join(t.TempDir(), "erasures.jsonl")
	var out, errOut bytes.Buffer
	if code := runErasures(ctx, []string{"export", "-store", "postgres", "-database-url", dbURL, ledger}, &out, &errOut); code != 0 {
		t.Fatalf("erasures export: %d %s", code, errOut.String())
	}

	restored := pgtest.URL(t)
	if out, err := exec.Command(pgBin(t, "pg_restore"), "--no-owner", "-d", restored, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	db, err := openPostgres(ctx, StoreConfig{Kind: storePostgres, DatabaseURL: restored})
	must(t, err)
	defer db.Close()
	if r, err := db.RecordState(ctx, string(yp)); err != nil || r.Erased != nil {
		t.Fatalf("the dump from before the erasure should hold the record: %v", err)
	}
	out.Reset()
	if code := runErasures(ctx, []string{"reapply", "-store", "postgres", "-database-url", restored, ledger}, &out, &errOut); code != 0 {
		t.Fatalf("erasures reapply: %d %s", code, errOut.String())
	}
	if r, err := db.RecordState(ctx, string(yp)); err != nil || r.Erased == nil || strings.Contains(r.String("known_as"), "Secret") {
		t.Fatalf("the kept ledger did not erase the restored record again: %v (%s)", err, out.String())
	}
	if code := runErasures(ctx, []string{"reapply", "-store", "postgres", "-database-url", restored, ledger}, &out, &errOut); code != 0 {
		t.Fatalf("reapplying twice: %d %s", code, errOut.String())
	}
	if code := runErasures(ctx, []string{"reapply"}, &out, &errOut); code != 2 {
		t.Fatalf("reapply on SQLite: exit %d, want 2 with the ledger file explained", code)
	}
}
