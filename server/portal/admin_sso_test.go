package portal

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// idp is a small OpenID Connect provider on loopback: discovery, JWKS, an
// authorisation endpoint that signs in whoever the test says, and a token
// endpoint that returns an RS256 ID token signed with a real RSA key (or
// with the test's chosen defect). Codes work once.
type idp struct {
	srv   *httptest.Server
	key   *rsa.PrivateKey
	other *rsa.PrivateKey // a key the JWKS does not publish
	now   func() time.Time

	mu    sync.Mutex
	codes map[string]grant
	next  grant // what the next /authorize grants
}

type grant struct {
	email    string
	verified bool
	nonce    string
	aud      string
	exp      time.Duration // from now; negative: already expired
	badSig   bool
	amr      []string
}

func newIDP(t *testing.T, now func() time.Time) *idp {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	o, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	p := &idp{key: k, other: o, now: now, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize",
			"token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		g := p.next
		g.nonce = q.Get("nonce")
		if g.aud == "" {
			g.aud = q.Get("client_id")
		}
		code := randomToken()
		p.codes[code] = g
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		p.mu.Lock()
		g, ok := p.codes[r.Form.Get("code")]
		delete(p.codes, r.Form.Get("code"))
		p.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		signWith := p.key
		if g.badSig {
			signWith = p.other
		}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signWith}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			panic(err)
		}
		now := p.now()
		claims, _ := json.Marshal(map[string]any{"iss": p.srv.URL, "sub": "sub-" + g.email, "aud": g.aud,
			"iat": now.Unix(), "exp": now.Add(g.exp).Unix(), "nonce": g.nonce, "email": g.email, "email_verified": g.verified, "amr": g.amr})
		jws, err := sig.Sign(claims)
		if err != nil {
			panic(err)
		}
		idt, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func TestSingleSignOn(t *testing.T) {
	e := newTestEnv(t)
	now := func() time.Time { return *e.clock }
	provider := newIDP(t, now)
	rp, err := signin.NewSSO(context.Background(), signin.SSOConfig{Issuer: provider.srv.URL, ClientID: "joinedup-portal",
		ClientSecret: "s3cret", RedirectURL: "http://portal.test/portal/login/sso/callback", Now: now})
	must(t, err)
	e.portal.sso = newSSOFlow(rp)
	sup := login(t, "supervisor", 1)
	worker := login(t, "supervisor", 2)
	id := personByEmail(t, worker.Email).ID
	_, err = e.db.DeactivatePerson(context.Background(), id, "admin-01")
	must(t, err)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// start runs the browser's side up to the callback URL the provider sends it back to.
	start := func(c *client, g grant) string {
		t.Helper()
		provider.mu.Lock()
		provider.next = g
		provider.mu.Unlock()
		resp := c.raw("GET", "/portal/login/sso", nil)
		resp.Body.Close()
		auth := resp.Header.Get("Location")
		if !strings.HasPrefix(auth, provider.srv.URL+"/authorize?") {
			t.Fatalf("sso start: %d to %q", resp.StatusCode, auth)
		}
		resp, err := noRedirect.Get(auth)
		must(t, err)
		resp.Body.Close()
		cb, err := url.Parse(resp.Header.Get("Location"))
		must(t, err)
		return cb.RequestURI()
	}
	good := grant{email: strings.ToUpper(sup.Email), verified: true, exp: time.Hour}
	tests := []struct {
		name     string
		g        grant
		tamper   func(cb string) string
		wantIn   string
		wantWhy  string
		fresh    bool // the callback is opened in a browser that did not start the flow
		wantPass bool
	}{
		{name: "active person", g: good, wantPass: true},
		{name: "unknown person", g: grant{email: "stranger@elsewhere.example", verified: true, exp: time.Hour}, wantIn: "no active JoinedUp account", wantWhy: "no such person"},
		{name: "deactivated person", g: grant{email: worker.Email, verified: true, exp: time.Hour}, wantIn: "no active JoinedUp account", wantWhy: "person deactivated"},
		{name: "unverified e-mail", g: grant{email: sup.Email, verified: false, exp: time.Hour}, wantIn: "verified e-mail", wantWhy: "no verified e-mail"},
		{name: "wrong audience", g: grant{email: sup.Email, verified: true, exp: time.Hour, aud: "another-app"}, wantIn: "could not be verified", wantWhy: "id token for another client"},
		{name: "expired token", g: grant{email: sup.Email, verified: true, exp: -time.Minute}, wantIn: "could not be verified", wantWhy: "id token expired"},
		{name: "bad signature", g: grant{email: sup.Email, verified: true, exp: time.Hour, badSig: true}, wantIn: "could not be verified", wantWhy: "id token not verified"},
		{name: "state forged", g: good, tamper: func(cb string) string { return strings.Replace(cb, "state=", "state=x", 1) }, wantIn: "not started in this browser", wantWhy: "state mismatch"},
		{name: "callback in another browser", g: good, fresh: true, wantIn: "not started in this browser", wantWhy: "state mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.anon()
			cb := start(c, tc.g)
			if tc.tamper != nil {
				cb = tc.tamper(cb)
			}
			if tc.fresh {
				c = e.anon()
			}
			status, body := c.get(cb)
			if tc.wantPass {
				if status != http.StatusSeeOther {
					t.Fatalf("callback: %d\n%s", status, trunc(body))
				}
				if status, _ := c.get("/portal/dashboard"); status != http.StatusOK {
					t.Fatalf("dashboard after sso: %d", status)
				}
				return
			}
			if status != http.StatusUnauthorized || !strings.Contains(body, `id="sso-refused"`) || !strings.Contains(body, tc.wantIn) {
				t.Fatalf("status %d, want 401 saying %q\n%s", status, tc.wantIn, trunc(body))
			}
			if c.cookies[sessionCookie] != "" {
				t.Fatal("a refused sign-in left a session cookie")
			}
			audit, err := e.db.Audit(context.Background(), domain.AuditFilter{Action: domain.ActionLogin, Limit: 1})
			must(t, err)
			if len(audit) != 1 || audit[0].Detail["via"] != "sso" || audit[0].Detail["reason"] != tc.wantWhy || audit[0].Detail["ok"] != false {
				t.Fatalf("audit = %+v, want a refused sso sign-in for %q", audit, tc.wantWhy)
			}
		})
	}

	t.Run("replayed state and nonce", func(t *testing.T) {
		c := e.anon()
		cb := start(c, good)
		saved := c.cookies[ssoCookie]
		if status, _ := c.get(cb); status != http.StatusSeeOther {
			t.Fatalf("first use: %d", status)
		}
		// The attacker kept the flow's cookie and replays the callback, to
		// this node and to another node behind the same load balancer (a
		// fresh flow sharing nothing with this one but the database).
		for _, node := range []string{"same node", "another node"} {
			if node == "another node" {
				e.portal.sso = newSSOFlow(rp)
			}
			replay := e.anon()
			replay.cookies[ssoCookie] = saved
			status, body := replay.get(cb)
			if status != http.StatusUnauthorized || !strings.Contains(body, "already been used") {
				t.Fatalf("replayed callback on %s: %d\n%s", node, status, trunc(body))
			}
		}
		// A fresh state with a code issued for another flow's nonce.
		other := e.anon()
		cbOther := start(other, good)
		mine := e.anon()
		cbMine := start(mine, good)
		code := mustQuery(t, cbOther, "code")
		crossed := strings.Replace(cbMine, "code="+url.QueryEscape(mustQuery(t, cbMine, "code")), "code="+url.QueryEscape(code), 1)
		status, body := mine.get(crossed)
		if status != http.StatusUnauthorized || !strings.Contains(body, "could not be verified") {
			t.Fatalf("id token with another flow's nonce: %d\n%s", status, trunc(body))
		}
		audit, err := e.db.Audit(context.Background(), domain.AuditFilter{Action: domain.ActionLogin, Limit: 1})
		must(t, err)
		if len(audit) != 1 || audit[0].Detail["reason"] != "nonce mismatch" {
			t.Fatalf("audit = %+v, want a nonce mismatch", audit)
		}
	})
}

func mustQuery(t *testing.T, u, key string) string {
	t.Helper()
	p, err := url.Parse(u)
	must(t, err)
	return p.Query().Get(key)
}
