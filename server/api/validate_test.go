package api_test

import (
	"strings"
	"testing"
)

// Validation errors name fields as the client wrote them (the JSON names),
// never Go's field names.
func TestValidationErrorsNameJSONFields(t *testing.T) {
	e := newEnv(t)
	p := e.enrolPhone("w_a")
	long := strings.Repeat("x", 65)
	e.run(t, []scenario{
		{name: "sync page_bytes", method: "POST", url: "/v1/sync", headers: p.auth(), body: []byte(`{"page_bytes":5}`),
			wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"page_bytes"`}, wantNotContains: []string{"pagebytes"}},
		{name: "admin person_id", method: "POST", url: "/v1/admin/enrolment-codes", headers: basic("sup@example.org"), body: []byte(`{"person_id":"` + long + `"}`),
			wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"person_id"`}, wantNotContains: []string{"personid"}},
		{name: "enrol platform", method: "POST", url: "/v1/enrol", headers: jsonCT, body: []byte(`{"code":"ABCDEFGH","platform":"fridge"}`),
			wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"platform"`}},
	})
}
