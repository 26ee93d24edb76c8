package api_test

import (
	"context"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestIssueCodeByEmailAndEnrol: a supervisor names the worker by person id
// or by email; the phone's enrolment answer says who it belongs to.
func TestIssueCodeByEmailAndEnrol(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Worker A", Email: "wa@example.org", Role: "worker", TeamID: "team_a"}))
	must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "w_b", Name: "Worker B", Email: "wb@example.org", Role: "worker", TeamID: "team_b"}))
	const url = "/v1/admin/devices/enrol-code"
	sup := basic("sup@example.org")
	e.run(t, []scenario{
		{name: "by email", method: "POST", url: url, headers: sup, body: []byte(`{"email":"wa@example.org"}`), wantStatus: 201,
			wantContains: []string{`"code"`, `"person_id":"w_a"`, `"team_id":"team_a"`, `"role":"worker"`}},
		{name: "by person id", method: "POST", url: url, headers: sup, body: []byte(`{"person_id":"w_a"}`), wantStatus: 201, wantContains: []string{`"person_id":"w_a"`}},
		{name: "old route name", method: "POST", url: "/v1/admin/enrolment-codes", headers: sup, body: []byte(`{"email":"wa@example.org"}`), wantStatus: 201},
		{name: "email in a team not supervised", method: "POST", url: url, headers: sup, body: []byte(`{"email":"wb@example.org"}`), wantStatus: 403, wantCode: "forbidden"},
		{name: "unknown email", method: "POST", url: url, headers: sup, body: []byte(`{"email":"nobody@example.org"}`), wantStatus: 404, wantCode: "not_found"},
		{name: "neither", method: "POST", url: url, headers: sup, body: []byte(`{}`), wantStatus: 422, wantCode: "invalid"},
		{name: "both", method: "POST", url: url, headers: sup, body: []byte(`{"person_id":"w_a","email":"wa@example.org"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "not an email", method: "POST", url: url, headers: sup, body: []byte(`{"email":"wa"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "no staff credentials", method: "POST", url: url, headers: map[string]string{"Content-Type": "application/json"}, body: []byte(`{"email":"wa@example.org"}`), wantStatus: 401, wantCode: "unauthorized"},
	})
	r := e.do("POST", url, sup, []byte(`{"email":"wa@example.org"}`))
	var issued struct{ Code string }
	r.json(t, &issued)
	r = e.do("POST", "/v1/enrol", map[string]string{"Content-Type": "application/json"}, []byte(`{"code":"`+issued.Code+`","platform":"sim"}`))
	var en domain.Enrolment
	r.json(t, &en)
	if r.status != 201 || en.PersonID != "w_a" || en.TeamID != "team_a" || en.Role != "worker" || en.Credential == "" {
		t.Fatalf("enrol: %d %s", r.status, r.body)
	}
	// A practitioner's enrolment names their service.
	code, _, err := e.db.IssueEnrolmentCode(ctx, "prac_h", "admin")
	must(t, err)
	r = e.do("POST", "/v1/enrol", map[string]string{"Content-Type": "application/json"}, []byte(`{"code":"`+code+`","platform":"sim"}`))
	r.json(t, &en)
	if r.status != 201 || en.Role != "practitioner" || en.ServiceID != "svc_housing" || en.TeamID != "" {
		t.Fatalf("practitioner enrol: %d %s", r.status, r.body)
	}
}
