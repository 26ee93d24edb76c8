package api_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
)

// newPushEnv is newEnv with the push-token routes mounted, as Main wires them.
func newPushEnv(tb testing.TB) *env {
	tb.Helper()
	e := newEnv(tb)
	tokens := e.db.Outbox()
	tokens.Now = func() time.Time { return e.now }
	cfg := api.DefaultConfig()
	cfg.BackupDir = filepath.Join(tb.TempDir(), "backups")
	cfg.Now = func() time.Time { return e.now }
	e.srv = api.New(e.db, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e.srv.MountPush(tokens)
	e.srv.NotFound()
	return e
}

func (e *env) tokens(device string) []string {
	e.t.Helper()
	rows, err := e.db.SQL().Query(`SELECT token || '/' || person_id || '/' || platform FROM push_tokens WHERE device_id = ? ORDER BY token`, device)
	must(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		must(e.t, rows.Scan(&s))
		out = append(out, s)
	}
	return out
}

func TestPushTokenRoutes(t *testing.T) {
	e := newPushEnv(t)
	a := e.enrolPhone("w_a")
	h := e.enrolPhone("prac_h")
	revoked := e.enrolPhone("w_a2")
	long := strings.Repeat("x", 4097)
	e.run(t, []scenario{
		{name: "no credential", method: "POST", url: "/v1/push/token", headers: jsonCT, body: []byte(`{"token":"t1","platform":"android"}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "bad credential", method: "POST", url: "/v1/push/token", headers: map[string]string{"Authorization": "Bearer nope", "Content-Type": "application/json"}, body: []byte(`{"token":"t1","platform":"android"}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "malformed", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":`), wantStatus: 400, wantCode: "malformed"},
		{name: "missing token", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"platform":"android"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"token"`}},
		{name: "oversized token", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":"` + long + `","platform":"android"}`), wantStatus: 422, wantCode: "invalid", wantNotContains: []string{"xxxx"}},
		{name: "unknown platform", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":"t1","platform":"nokia"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"platform"`}},
		{name: "register", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":"t1","platform":"android"}`), wantStatus: 200, wantContains: []string{`"registered":true`, a.enrol.DeviceID}},
		{name: "refresh same token", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":"t1","platform":"android"}`), wantStatus: 200},
		{name: "rotated token replaces the old", method: "POST", url: "/v1/push/token", headers: a.auth(), body: []byte(`{"token":"t2","platform":"android"}`), wantStatus: 200},
		{name: "practitioner device", method: "POST", url: "/v1/push/token", headers: h.auth(), body: []byte(`{"token":"th","platform":"ios"}`), wantStatus: 200},
		{name: "revoked device's token", method: "POST", url: "/v1/push/token", headers: revoked.auth(), body: []byte(`{"token":"tr","platform":"android"}`), wantStatus: 200},
		{name: "wrong method", method: "GET", url: "/v1/push/token", headers: a.auth(), wantStatus: 404, wantCode: "not_found"},
	})
	if got := e.tokens(a.enrol.DeviceID); len(got) != 1 || got[0] != "t2/w_a/android" {
		t.Fatalf("worker's tokens = %v", got)
	}
	if got := e.tokens(h.enrol.DeviceID); len(got) != 1 || got[0] != "th/prac_h/ios" {
		t.Fatalf("practitioner's tokens = %v", got)
	}

	// Revocation drops the device's tokens in its own transaction, and the
	// device can no longer register.
	must(t, e.db.RevokeDevice(context.Background(), revoked.enrol.DeviceID, "sup_a", "lost"))
	if got := e.tokens(revoked.enrol.DeviceID); len(got) != 0 {
		t.Fatalf("revoked device still has tokens %v", got)
	}
	e.run(t, []scenario{
		{name: "revoked cannot register", method: "POST", url: "/v1/push/token", headers: revoked.auth(), body: []byte(`{"token":"tr","platform":"android"}`), wantStatus: 401, wantCode: "revoked", wantContains: []string{`"wipe":true`}},
		{name: "unregister", method: "DELETE", url: "/v1/push/token", headers: a.auth(), wantStatus: 200, wantContains: []string{`"registered":false`}},
	})
	if got := e.tokens(a.enrol.DeviceID); len(got) != 0 {
		t.Fatalf("unregistered device still has tokens %v", got)
	}
}
