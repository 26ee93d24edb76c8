package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/api"
)

// TestMetricsNeedTheToken: /metrics on the API's address is served only
// with the configured bearer token, and not at all when none is configured
// (then it is only on the separate metrics address, see TestMetricsAddress).
func TestMetricsNeedTheToken(t *testing.T) {
	withToken := func(c *api.Config) { c.MetricsToken = "s3cret-token" }
	for _, tc := range []struct {
		name         string
		opts         []func(*api.Config)
		auth         string
		wantStatus   int
		wantContains []string
	}{
		{name: "no token configured", wantStatus: 404},
		{name: "no token configured, one sent", auth: "Bearer anything", wantStatus: 404},
		{name: "no credentials", opts: []func(*api.Config){withToken}, wantStatus: 401, wantContains: []string{`"unauthorized"`}},
		{name: "wrong token", opts: []func(*api.Config){withToken}, auth: "Bearer s3cret-tokeN", wantStatus: 401},
		{name: "token as Basic", opts: []func(*api.Config){withToken}, auth: "Basic s3cret-token", wantStatus: 401},
		{name: "right token", opts: []func(*api.Config){withToken}, auth: "Bearer s3cret-token", wantStatus: 200,
			wantContains: []string{"joinedup_sync_requests_total", "joinedup_quarantine_open 0", "go_goroutines", "process_cpu_seconds_total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			r := e.do("GET", "/metrics", map[string]string{"Authorization": tc.auth}, nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.200s", r.status, tc.wantStatus, r.body)
			}
			for _, want := range tc.wantContains {
				if !strings.Contains(string(r.body), want) {
					t.Errorf("body lacks %q:\n%.300s", want, r.body)
				}
			}
		})
	}
}

// TestMetricsAddress: ServeMetrics serves /metrics (and nothing else) on its
// own listener, the operator's private address, with the token if one is set.
func TestMetricsAddress(t *testing.T) {
	for _, token := range []string{"", "s3cret-token"} {
		t.Run("token "+token, func(t *testing.T) {
			e := newEnv(t, func(c *api.Config) { c.MetricsToken = token })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			must(t, err)
			go e.srv.ServeMetrics(ln)
			t.Cleanup(func() { e.srv.Shutdown(context.Background()) })
			get := func(path, auth string) (int, string) {
				req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			status, body := get("/metrics", "Bearer "+token)
			if status != 200 || !strings.Contains(body, `joinedup_changesets_pushed_total{status="accepted"} 0`) {
				t.Fatalf("/metrics: %d %.200s", status, body)
			}
			if token != "" {
				if status, _ := get("/metrics", ""); status != 401 {
					t.Fatalf("/metrics without the token: %d", status)
				}
			}
			if status, _ := get("/v1/admin/quarantine", basic("sup@example.org")["Authorization"]); status != 404 {
				t.Fatalf("the API on the metrics address: %d", status)
			}
		})
	}
}
