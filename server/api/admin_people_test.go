package api_test

import (
	"context"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

func TestAdminPeopleAPI(t *testing.T) {
	e := newEnv(t)
	w := e.enrolPhone("w_a2")
	snapshot := func() int {
		ps, err := e.db.People(context.Background(), domain.PeopleFilter{})
		must(t, err)
		return len(ps)
	}
	before := snapshot()
	e.run(t, []scenario{
		{name: "supervisor may not list people", method: "GET", url: "/v1/admin/people", headers: basic("sup@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor may not create", method: "POST", url: "/v1/admin/people", headers: basic("sup@example.org"),
			body: []byte(`{"name":"X","role":"admin","email":"x@example.org"}`), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor may not deactivate", method: "POST", url: "/v1/admin/people/w_a/deactivate", headers: basic("sup@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "no credentials", method: "POST", url: "/v1/admin/people", headers: jsonCT, body: []byte(`{}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "duplicate e-mail", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body: []byte(`{"name":"Dup","role":"supervisor","email":"SUP@example.org","team_id":"team_a"}`), wantStatus: 409, wantCode: "conflict", wantContains: []string{"already the e-mail"}},
		{name: "unknown team", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body: []byte(`{"name":"W","role":"worker","team_id":"team_z"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{"no team"}},
		{name: "supervisor of no team", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body: []byte(`{"name":"S","role":"supervisor","email":"s2@example.org"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{"at least one team"}},
		{name: "overlapping hours", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body:       []byte(`{"name":"W","role":"worker","team_id":"team_a","hours":[{"Weekday":1,"Start":"09:00","End":"12:00"},{"Weekday":1,"Start":"11:00","End":"13:00"}]}`),
			wantStatus: 422, wantCode: "invalid", wantContains: []string{"overlaps"}},
		{name: "unknown role", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body: []byte(`{"name":"W","role":"root"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "malformed", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"), body: []byte(`{"name":`), wantStatus: 400, wantCode: "malformed"},
	})
	if after := snapshot(); after != before {
		t.Fatalf("refused requests changed the people: %d -> %d", before, after)
	}
	e.run(t, []scenario{
		{name: "admin creates a supervisor", method: "POST", url: "/v1/admin/people", headers: basic("admin@example.org"),
			body:       []byte(`{"name":"New Sup","role":"supervisor","email":"new.sup@example.org","team_id":"team_b","supervises":["team_b"]}`),
			wantStatus: 201, wantContains: []string{`"set_password_path":"/portal/set-password?token=`}, wantNotContains: []string{"password_hash", "PasswordHash"}},
		{name: "admin deactivates a worker", method: "POST", url: "/v1/admin/people/w_a2/deactivate", headers: basic("admin@example.org"),
			wantStatus: 200, wantContains: []string{`"devices_revoked":1`}},
		{name: "twice is a conflict", method: "POST", url: "/v1/admin/people/w_a2/deactivate", headers: basic("admin@example.org"), wantStatus: 409, wantCode: "conflict"},
		{name: "unknown person", method: "POST", url: "/v1/admin/people/nobody/deactivate", headers: basic("admin@example.org"), wantStatus: 404, wantCode: "not_found"},
	})
	e.run(t, []scenario{
		{name: "the leaver's phone is told to wipe", method: "POST", url: "/v1/sync", headers: w.auth(), body: []byte(`{}`),
			wantStatus: 401, wantCode: "revoked", wantContains: []string{`"wipe":true`}},
	})
}
