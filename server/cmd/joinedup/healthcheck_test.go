package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	m := NewMain()
	m.Out = io.Discard
	m.Config.DataDir = t.TempDir()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.Demo = false
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	probe := NewMain()
	probe.Config.Addr = m.Addr()
	if err := probe.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := probe.Healthcheck(context.Background()); err == nil {
		t.Fatal("a stopped server reported healthy")
	}
}

// The container's health check asks whether the server can serve (/readyz:
// database reachable and sound), not only whether the process answers.
func TestHealthcheckAsksReadiness(t *testing.T) {
	for _, tc := range []struct {
		name           string
		healthz, ready int
		wantErr        bool
	}{
		{"ready", 200, 200, false},
		{"alive but not ready", 200, 503, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.healthz) })
			mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.ready) })
			ts := httptest.NewServer(mux)
			defer ts.Close()
			probe := NewMain()
			probe.Config.Addr = strings.TrimPrefix(ts.URL, "http://")
			if err := probe.Healthcheck(context.Background()); (err != nil) != tc.wantErr {
				t.Fatalf("healthcheck = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
