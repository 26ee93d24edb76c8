package api_test

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestShutdownRightAfterServe: Shutdown called before the Serve goroutine has
// registered its listener with fasthttp must still make Serve return (it used
// to block in Accept for ever, and Main.Close with it).
func TestShutdownRightAfterServe(t *testing.T) {
	for i := 0; i < 50; i++ {
		e := newEnv(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		served := make(chan error, 1)
		go func() { served <- e.srv.Serve(ln) }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		must(t, e.srv.Shutdown(ctx))
		cancel()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			ln.Close() // unblock the leaked Serve so the run can end
			t.Fatalf("iteration %d: Serve did not return after Shutdown", i)
		}
	}
}

// serve runs the env's server on loopback and returns its base URL. It is
// shut down (within a deadline) when the test ends.
func (e *env) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return "http://" + ln.Addr().String()
}
