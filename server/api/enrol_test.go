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

// TestEnrolCodeIssuerRules: a code is the person's identity on a phone, so
// it never gives the phone more than its issuer has. Supervisors issue codes
// for the people of the teams they supervise (and supervisors whose teams
// are all among theirs); practitioners' and admins' only an admin does.
func TestEnrolCodeIssuerRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "sup_a2", Name: "Sup A2", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}}))
	must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "sup_ab", Name: "Sup AB", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a", "team_b"}}))
	const url = "/v1/admin/devices/enrol-code"
	sup, admin := basic("sup@example.org"), basic("admin@example.org")
	body := func(id string) []byte { return []byte(`{"person_id":"` + id + `"}`) }
	e.run(t, []scenario{
		{name: "supervisor: worker of own team", method: "POST", url: url, headers: sup, body: body("w_a"), wantStatus: 201},
		{name: "supervisor: supervisor of own team only", method: "POST", url: url, headers: sup, body: body("sup_a2"), wantStatus: 201},
		{name: "supervisor: worker of another team", method: "POST", url: url, headers: sup, body: body("w_b"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor: practitioner", method: "POST", url: url, headers: sup, body: body("prac_h"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor: another practitioner", method: "POST", url: url, headers: sup, body: body("prac_c"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor: admin", method: "POST", url: url, headers: sup, body: body("admin"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor: supervisor of more teams", method: "POST", url: url, headers: sup, body: body("sup_ab"), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor: forged id", method: "POST", url: url, headers: sup, body: body("nobody"), wantStatus: 404, wantCode: "not_found"},
		{name: "admin: practitioner", method: "POST", url: url, headers: admin, body: body("prac_h"), wantStatus: 201},
		{name: "admin: worker of any team", method: "POST", url: url, headers: admin, body: body("w_b"), wantStatus: 201},
	})
	if n := e.auditCount(domain.ActionIssue); n != 4 {
		t.Fatalf("issue_code audit rows = %d, want 4 (refusals issue nothing)", n)
	}
}
