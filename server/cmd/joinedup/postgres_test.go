package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/postgres/pgtest"
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
