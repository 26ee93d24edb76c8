package api_test

import (
	"context"
	"strings"
	"testing"
)

// TestWebPushTokenHostile: the field app's browser registers its FCM token
// with its device credential at POST /v1/push/token (platform "web"), the
// endpoint the native apps use. A hostile client forges what the app never
// sends: another team's credential acting on a phone's token, a revoked
// device, overlong or garbage tokens, tokens of the wrong JSON type, a
// forged device or person id in the body. Each gets a clear error (or acts
// on its own device only), and nothing it sent is stored.
func TestWebPushTokenHostile(t *testing.T) {
	e := newPushEnv(t)
	web := e.enrolPhone("w_a")   // the field app in a browser
	other := e.enrolPhone("w_b") // another team's phone
	revoked := e.enrolPhone("w_a2")
	// An FCM web token: base64url with one colon, ~160 characters.
	tok := "fQ3p0xW7Tn2c-_kY9aBcDe:APA91bH" + strings.Repeat("x0_-Z", 26)
	e.run(t, []scenario{
		{name: "web phone registers", method: "POST", url: "/v1/push/token", headers: web.auth(), body: []byte(`{"token":"` + tok + `","platform":"web"}`), wantStatus: 200, wantContains: []string{`"registered":true`}},
	})
	must(t, e.db.RevokeDevice(context.Background(), revoked.enrol.DeviceID, "sup_a", "lost"))
	garbage := []struct{ name, token string }{
		{"space", "abc def"},
		{"quote and angle brackets", `abc\"<script>`},
		{"newline", `abc\ndef`},
		{"control character", `abc\u0001def`},
		{"non-ASCII", "tökén"},
		{"a URL", "https://evil.example/steal"},
	}
	var scs []scenario
	for _, g := range garbage {
		scs = append(scs, scenario{name: "garbage token: " + g.name, method: "POST", url: "/v1/push/token", headers: other.auth(),
			body: []byte(`{"token":"` + g.token + `","platform":"web"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"token"`}})
	}
	scs = append(scs, []scenario{
		{name: "overlong token", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":"` + strings.Repeat("A", 4097) + `","platform":"web"}`), wantStatus: 422, wantCode: "invalid", wantNotContains: []string{"AAAA"}},
		{name: "token is a number", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":12345,"platform":"web"}`), wantStatus: 400, wantCode: "malformed"},
		{name: "token is an array", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":["a","b"],"platform":"web"}`), wantStatus: 400, wantCode: "malformed"},
		{name: "token is null", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":null,"platform":"web"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "empty token", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":"","platform":"web"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "platform in capitals", method: "POST", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"token":"abc","platform":"WEB"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"platform"`}},
		{name: "revoked web device", method: "POST", url: "/v1/push/token", headers: revoked.auth(), body: []byte(`{"token":"` + tok + `x","platform":"web"}`), wantStatus: 401, wantCode: "revoked", wantContains: []string{`"wipe":true`}},
		{name: "revoked device unregisters", method: "DELETE", url: "/v1/push/token", headers: revoked.auth(), wantStatus: 401, wantCode: "revoked"},
		{name: "the web phone's credential as a query parameter", method: "POST", url: "/v1/push/token?credential=" + web.enrol.Credential, headers: jsonCT, body: []byte(`{"token":"abc","platform":"web"}`), wantStatus: 401, wantCode: "unauthorized"},
		// Another team's credential: a forged device and person id in the
		// body are ignored; the token is filed under the caller's own device.
		{name: "forged device and person ids", method: "POST", url: "/v1/push/token", headers: other.auth(),
			body: []byte(`{"token":"other-tok","platform":"web","device_id":"` + web.enrol.DeviceID + `","person_id":"w_a"}`), wantStatus: 200, wantContains: []string{other.enrol.DeviceID}, wantNotContains: []string{web.enrol.DeviceID}},
		// Its DELETE forgets only its own token, never the web phone's.
		{name: "another team's credential unregisters", method: "DELETE", url: "/v1/push/token", headers: other.auth(), body: []byte(`{"device_id":"` + web.enrol.DeviceID + `"}`), wantStatus: 200, wantContains: []string{other.enrol.DeviceID}},
	}...)
	e.run(t, scs)
	if got := e.tokens(web.enrol.DeviceID); len(got) != 1 || got[0] != tok+"/w_a/web" {
		t.Fatalf("the web phone's tokens = %v, want only its own, untouched", got)
	}
	for _, d := range []*phone{other, revoked} {
		if got := e.tokens(d.enrol.DeviceID); len(got) != 0 {
			t.Errorf("device of %s holds tokens %v after refused or withdrawn registrations", d.person, got)
		}
	}
	var n int
	must(t, e.db.SQL().QueryRow(`SELECT count(*) FROM push_tokens`).Scan(&n))
	if n != 1 {
		t.Fatalf("%d tokens stored, want only the web phone's", n)
	}
}

// FuzzPushTokenBody posts untrusted bodies to POST /v1/push/token as an
// enrolled phone: the answer is a documented error ({code, message}, 4xx)
// or a registration; a registered token is exactly one the body held, made
// only of token characters; a refused body leaves the stored token as it was.
func FuzzPushTokenBody(f *testing.F) {
	e := newPushEnv(f)
	p := e.enrolPhone("w_a")
	f.Add([]byte(`{"token":"fQ3p0xW7:APA91bH-_x","platform":"web"}`))
	f.Add([]byte(`{"token":"a b","platform":"web"}`))
	f.Add([]byte(`{"token":"\u00e9","platform":"android"}`))
	f.Add([]byte(`{"token":["x"],"platform":"ios"}`))
	f.Add([]byte(`{"platform":"web","token":"x","token":"y z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		before := e.tokens(p.enrol.DeviceID)
		r := e.untrusted(t, "/v1/push/token", p.auth()["Authorization"], body, false)
		after := e.tokens(p.enrol.DeviceID)
		if r.status != 200 {
			if strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Fatalf("a refused body changed the stored token from %v to %v", before, after)
			}
			return
		}
		if len(after) != 1 {
			t.Fatalf("registered, but the device holds %v", after)
		}
		tok, _, _ := strings.Cut(after[0], "/")
		if tok == "" || !strings.Contains(string(body), tok) || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.") != "" {
			t.Fatalf("stored token %q from body %q", tok, body)
		}
	})
}
