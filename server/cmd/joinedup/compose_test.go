package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
)

// The scale-out example (docs/deploy) stays in step with the binary: the
// environment its nodes get selects the Postgres store the way this build
// reads it, and nginx passes the live channel through unbuffered with a
// read timeout longer than the server's keep-alive.
func TestScaleOutExample(t *testing.T) {
	b, err := os.ReadFile("../../../docs/deploy/compose.postgres.yaml")
	must(t, err)
	env := map[string]string{}
	// The nodes' environment: indented "KEY: value" lines of the x-node block.
	block := string(b)[strings.Index(string(b), "x-node:"):strings.Index(string(b), "\nservices:")]
	for _, m := range regexp.MustCompile(`(?m)^\s{4}([A-Z_]+): (.+)$`).FindAllStringSubmatch(block, -1) {
		env[m[1]] = strings.Trim(m[2], `"`)
	}
	for k, v := range env {
		t.Setenv(k, strings.ReplaceAll(v, "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "secret"))
	}
	c := storeConfigFromEnv()
	if c.Kind != storePostgres || !strings.HasPrefix(c.DatabaseURL, "postgres://joinedup:secret@db:5432/joinedup") {
		t.Fatalf("the example's environment %v selects %+v", env, c)
	}
	must(t, c.Validate())
	if !strings.Contains(string(b), `command: ["-demo=false"]`) {
		t.Error("the example's nodes must run with -demo=false (several nodes must not load demo data)")
	}

	conf, err := os.ReadFile("../../../docs/deploy/nginx.conf")
	must(t, err)
	live := regexp.MustCompile(`(?s)location = /v1/sync/events \{(.*?)\}`).FindStringSubmatch(string(conf))
	if live == nil || !strings.Contains(live[1], "proxy_buffering off;") {
		t.Fatalf("nginx.conf must pass /v1/sync/events through unbuffered")
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(live[1])
	if m == nil {
		t.Fatal("nginx.conf: no proxy_read_timeout for the live channel")
	}
	timeout, _ := time.ParseDuration(m[1] + "s")
	if hb := api.DefaultConfig().SSEHeartbeat; timeout <= 2*hb {
		t.Errorf("nginx's live-channel read timeout %s must outlast a few keep-alives (%s)", timeout, hb)
	}
}
