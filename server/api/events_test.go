package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sseClient is a live-channel connection read line by line.
type sseClient struct {
	resp   *http.Response
	events chan string // event names, in order; closed at end of stream
	cancel context.CancelFunc
}

func openSSE(t *testing.T, base string, p *phone) *sseClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/sync/events", nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+p.enrol.Credential)
	// The headers must arrive before any event: a stream that is only
	// flushed at the end (the bug) times out here.
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	defer hcancel()
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() { r, err := http.DefaultClient.Do(req); got <- result{r, err} }()
	var resp *http.Response
	select {
	case r := <-got:
		if r.err != nil {
			cancel()
			t.Fatalf("events: %v", r.err)
		}
		resp = r.resp
	case <-hctx.Done():
		cancel()
		t.Fatal("GET /v1/sync/events sent no response headers within 5s")
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, events: make(chan string, 16), cancel: cancel}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				c.events <- name
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return c
}

// next waits for the next event; "" means the stream ended.
func (c *sseClient) next(t *testing.T) string {
	t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no live-channel event within 10s")
		return ""
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveChannel: a phone on the live channel over real HTTP gets "ready",
// then "changed" when another device of its team pushes, nothing for another
// team's push; disconnecting frees the subscription; and a shutdown with a
// client still connected completes, telling it "bye".
func TestLiveChannel(t *testing.T) {
	e := newEnv(t)
	e.srv.Config.SSEHeartbeat = 50 * time.Millisecond // notice a gone client quickly
	base := e.serve(t)
	listener, teammate, other := e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_b")

	c := openSSE(t, base, listener)
	if ev := c.next(t); ev != "ready" {
		t.Fatalf("first event %q, want ready", ev)
	}
	other.newEncounter("team_b", "not for team A")
	if r := other.sync(0); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	teammate.newEncounter("team_a", "for team A")
	if r := teammate.sync(0); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
	if ev := c.next(t); ev != "changed" {
		t.Fatalf("event %q, want changed", ev)
	}
	select {
	case ev := <-c.events:
		t.Fatalf("unexpected second event %q (team B's push must not poke team A)", ev)
	case <-time.After(200 * time.Millisecond):
	}

	// Disconnect: the server notices at its next write and lets go.
	waitFor(t, "one SSE client", func() bool { return testutil.ToFloat64(e.srv.Metrics.SSEClients) == 1 })
	c.cancel()
	c.resp.Body.Close()
	waitFor(t, "the SSE client to be released", func() bool { return testutil.ToFloat64(e.srv.Metrics.SSEClients) == 0 })

	// Shutdown with a connected client completes and says bye.
	e.srv.Config.SSEHeartbeat = time.Hour
	c2 := openSSE(t, base, listener)
	if ev := c2.next(t); ev != "ready" {
		t.Fatalf("first event %q, want ready", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	must(t, e.srv.Shutdown(ctx))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown with a live client took %s", d)
	}
	if ev := c2.next(t); ev != "bye" {
		t.Fatalf("event %q at shutdown, want bye", ev)
	}
}

// The live channel outlives the server's connection timeouts: a stream that
// is open for many times the write, read and idle timeouts still carries a
// "changed" event (the production timeouts are 60/60/120 s and the stream
// used to be cut after 60-75 s; here they are scaled down to keep it fast).
func TestLiveChannelOutlivesServerTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, func(c *api.Config) {
		c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = timeout, timeout, timeout
		c.SSEHeartbeat = timeout / 3
	})
	base := e.serve(t)
	listener, teammate := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	c := openSSE(t, base, listener)
	if ev := c.next(t); ev != "ready" {
		t.Fatalf("first event %q, want ready", ev)
	}
	for round := 0; round < 3; round++ {
		// Quiet for longer than every timeout: only keep-alives flow.
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("round %d: the stream ended during a quiet spell", round)
			}
			t.Fatalf("round %d: unexpected event %q", round, ev)
		case <-time.After(5 * timeout):
		}
		teammate.newEncounter("team_a", fmt.Sprintf("round %d", round))
		if r := teammate.sync(0); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.raw)
		}
		if ev := c.next(t); ev != "changed" {
			t.Fatalf("round %d: event %q, want changed (\"\" = the stream was cut)", round, ev)
		}
	}
}
