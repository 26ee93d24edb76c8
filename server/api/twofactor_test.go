package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/pquerna/otp/totp"
)

// TestAdminAPINeedsTheSecondFactor: where two-factor sign-in is mandatory,
// the admin API's HTTP Basic sign-in is no way around it. A supervisor who
// enrolled TOTP must send the current code (or a recovery code) in
// X-JoinedUp-OTP; one who has not enrolled is refused until they do (in the
// portal); a code is accepted once; a worker role is unaffected either way.
func TestAdminAPINeedsTheSecondFactor(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.TwoFactorRoles = signin.TwoFactorRoles })
	ctx := context.Background()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "JoinedUp", AccountName: "sup@example.org"})
	must(t, err)
	_, hashes := signin.RecoveryCodes()
	must(t, e.db.EnrolTOTP(ctx, "sup_a", key.Secret(), hashes))
	code, err := totp.GenerateCode(key.Secret(), e.now)
	must(t, err)
	withCode := func(user, code string) map[string]string {
		h := basic(user)
		h["X-JoinedUp-OTP"] = code
		return h
	}
	for _, tc := range []struct {
		name       string
		headers    map[string]string
		wantStatus int
		wantCode   string
	}{
		{"enrolled supervisor, password only", basic("sup@example.org"), 401, "unauthorized"},
		{"enrolled supervisor, wrong code", withCode("sup@example.org", "000000"), 401, "unauthorized"},
		{"enrolled supervisor, current code", withCode("sup@example.org", code), 200, ""},
		{"enrolled supervisor, the same code again", withCode("sup@example.org", code), 401, "unauthorized"},
		{"admin who never enrolled", basic("admin@example.org"), 403, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/v1/admin/quarantine", tc.headers, nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" {
				var body struct{ Code, Message string }
				r.json(t, &body)
				if body.Code != tc.wantCode || body.Message == "" {
					t.Fatalf("body %s, want code %s and a message", r.body, tc.wantCode)
				}
			}
		})
		e.now = e.now.Add(time.Second) // the throttle's clock moves; the TOTP step does not
	}
}

// TestAdminAPIWithoutMandatorySecondFactor: with no roles required to use a
// second factor (the demo), a password alone still signs in, unless the
// person enrolled one, in which case it is asked for.
func TestAdminAPIWithoutMandatorySecondFactor(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/v1/admin/quarantine", basic("admin@example.org"), nil); r.status != 200 {
		t.Fatalf("admin, password only, nothing mandatory: %d %s", r.status, r.body)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "JoinedUp", AccountName: "sup@example.org"})
	must(t, err)
	_, hashes := signin.RecoveryCodes()
	must(t, e.db.EnrolTOTP(context.Background(), "sup_a", key.Secret(), hashes))
	if r := e.do("GET", "/v1/admin/quarantine", basic("sup@example.org"), nil); r.status != 401 {
		t.Fatalf("enrolled supervisor, password only: %d %s", r.status, r.body)
	}
}
