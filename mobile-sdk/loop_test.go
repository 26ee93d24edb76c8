package mobilesdk

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/internal/faultproxy"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(c *Client, id string) bool {
	_, err := c.Get(id)
	return err == nil
}

// The background loop syncs on a save, on the live channel's poke, on a push
// message and when connectivity returns.
func TestTriggers(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 2, "supervisor", 0)
	a, b := s.enrolPhone(t, sup, s.person(t, 2, "worker", 1)), s.enrolPhone(t, sup, s.person(t, 2, "worker", 2))
	a.Start()
	defer a.Stop()

	// A save is pushed by A's loop without being asked.
	id2 := mustS(t)(a.CreateEncounter(`{"area":"Park","note":"pushed by the loop"}`))
	waitFor(t, "A's loop to push its save", 10*time.Second, func() bool { return status(t, a).PendingChangesets == 0 })
	syncOK(t, b)
	if !has(b, id2) {
		t.Fatal("B did not receive A's save")
	}

	// Offline: nothing moves, the save waits; online again: it goes at once.
	must(t, a.ConnectivityChanged(false))
	id3 := mustS(t)(a.CreateEncounter(`{"area":"Park","note":"saved offline"}`))
	time.Sleep(300 * time.Millisecond)
	if st := status(t, a); st.PendingChangesets != 1 {
		t.Fatalf("offline: pending %d, want 1", st.PendingChangesets)
	}
	must(t, a.ConnectivityChanged(true))
	waitFor(t, "the offline save to go when back online", 10*time.Second, func() bool { return status(t, a).PendingChangesets == 0 })

	// A push message wakes a phone whose live channel is down.
	a.loop.stopLive()
	id4 := mustS(t)(b.CreateEncounter(`{"area":"Park","note":"announced by push"}`))
	syncOK(t, b)
	a.OnPushMessage(`{"type":"sync"}`)
	waitFor(t, "A to pull after a push message", 10*time.Second, func() bool { return has(a, id4) })
	_ = id3
}

// After failures the loop waits with growing, jittered delays (injected
// timer and jitter), and records the error for the UI.
func TestLoopBacksOff(t *testing.T) {
	c := MustOpen(t, t.TempDir(), nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	must(t, setMeta(sq(c).db, "server_url", "http://127.0.0.1:1")) // nothing listens on port 1
	var mu sync.Mutex
	var waits []time.Duration
	fire := make(chan time.Time)
	c.loop.after = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return fire
	}
	c.Start()
	defer c.Stop()
	for i := 0; i < 4; i++ {
		waitFor(t, "a retry to be scheduled", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(waits) > i })
		if i < 3 {
			fire <- time.Time{}
		}
	}
	mu.Lock()
	got := append([]time.Duration(nil), waits[:4]...)
	mu.Unlock()
	// jitter 0.5: 3/4 of 2s, 4s, 8s, 16s.
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	st := status(t, c)
	if st.LastErrorCode != ENETWORK || !strings.Contains(mustS(t)(c.Status()), `"failures":4`) {
		t.Fatalf("status after failures: %s", mustS(t)(c.Status()))
	}
	// Connectivity coming back syncs at once and forgets the backoff: the
	// next wait is the first step again.
	must(t, c.ConnectivityChanged(true))
	waitFor(t, "the sync on reconnection", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(waits) > 4 })
	mu.Lock()
	defer mu.Unlock()
	if waits[4] != want[0] {
		t.Fatalf("wait after reconnecting = %v, want %v", waits[4], want[0])
	}
}

// A save the server refuses is quarantined with the server's reason, and the
// phone goes back to the server's state (the refused change does not linger
// on the phone as if it had been accepted), keeping later good saves.
func TestRefusedSaveIsQuarantinedAndRolledBack(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 2, "supervisor", 0)
	a := s.enrolPhone(t, sup, s.person(t, 2, "worker", 3))
	other := s.demo.Org.Teams[0].ID
	good := mustS(t)(a.CreateEncounter(`{"area":"Park","note":"fine"}`))
	bad := mustS(t)(a.Create("encounter", `{"team_id":"`+other+`","area":"Elsewhere","started_at":"2026-03-02T18:00:00Z","note":"not my team"}`))
	sum := mustS(t)(a.SyncNow())
	if !strings.Contains(sum, `"quarantined":1`) {
		t.Fatalf("sync summary: %s", sum)
	}
	st := status(t, a)
	if st.PendingChangesets != 0 || len(st.Quarantined) != 1 || st.Quarantined[0].Code != "forbidden" || st.Quarantined[0].Message == "" {
		t.Fatalf("status: %+v", st)
	}
	if has(a, bad) {
		t.Error("the refused record is still on the phone")
	}
	if !has(a, good) {
		t.Error("the accepted record is gone")
	}
	sameRecords(t, "phone vs server after a refusal", phoneRecords(t, a), s.serverRecords(t, s.person(t, 2, "worker", 3).TeamID))
}

// The live channel: a "changed" event makes the loop sync. Against a local
// stream that speaks docs/sync-protocol.md's SSE (ready, keep-alives, changed).
func TestLiveChannelPokesTheLoop(t *testing.T) {
	events := make(chan string)
	var mu sync.Mutex
	nSync := 0
	h := http.NewServeMux()
	h.HandleFunc("GET /v1/sync/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret-credential-w1" {
			http.Error(w, `{"code":"unauthorized"}`, 401)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 5000\nevent: ready\ndata: {}\n\n: keep-alive\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-events:
				fmt.Fprintf(w, "event: %s\ndata: {}\n\n", ev)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	h.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		nSync++
		mu.Unlock()
		answerNothingNew(w)
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer ts.CloseClientConnections()

	c := MustOpen(t, t.TempDir(), nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	must(t, setMeta(sq(c).db, "server_url", ts.URL))
	count := func() int { mu.Lock(); defer mu.Unlock(); return nSync }
	c.Start()
	defer c.Stop()
	waitFor(t, "the live channel to connect", 5*time.Second, c.loop.liveUp)
	waitFor(t, "the start-up and ready syncs", 5*time.Second, func() bool { return count() >= 1 })
	time.Sleep(200 * time.Millisecond)
	before := count()
	events <- "changed"
	waitFor(t, "a sync after the changed event", 5*time.Second, func() bool { return count() > before })

	// Going offline closes the channel; coming back reopens it.
	must(t, c.ConnectivityChanged(false))
	waitFor(t, "the live channel to close offline", 5*time.Second, func() bool { return !c.loop.liveUp() })
	must(t, c.ConnectivityChanged(true))
	waitFor(t, "the live channel to reopen", 5*time.Second, c.loop.liveUp)
}

// The real server's live channel: its headers arrive at once (the API's
// request logger once read the streamed body and held them back).
func TestLiveChannelWithRealServer(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 2, "supervisor", 0)
	a, b := s.enrolPhone(t, sup, s.person(t, 2, "worker", 1)), s.enrolPhone(t, sup, s.person(t, 2, "worker", 2))
	cred, err := a.st.Secret("credential")
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/sync/events", nil)
	req.Header.Set("Authorization", "Bearer "+cred)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("server's /v1/sync/events sent no response headers within 3s: %v", err)
	}
	resp.Body.Close()
	a.Start()
	defer a.Stop()
	waitFor(t, "A's live channel", 5*time.Second, a.loop.liveUp)
	id := mustS(t)(b.CreateEncounter(`{"area":"Park","note":"seen over SSE"}`))
	syncOK(t, b)
	waitFor(t, "A to pull B's save after an SSE poke", 10*time.Second, func() bool { return has(a, id) })
}

// The live channel comes back after the network cuts it: the phone
// reconnects (with backoff) and is poked again.
func TestLiveChannelReconnectsAfterACut(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 0, "supervisor", 0)
	a, b := s.enrolPhone(t, sup, s.person(t, 0, "worker", 2)), s.enrolPhone(t, sup, s.person(t, 0, "worker", 3))
	link := slowLink(t, s)
	link.Set(faultproxy.Faults{})
	must(t, setMeta(sq(a).db, "server_url", link.URL()))
	a.Start()
	defer a.Stop()
	waitFor(t, "A's live channel", 10*time.Second, a.loop.liveUp)
	for cut := 0; cut < 2; cut++ {
		before := link.Stats().Conns
		link.CutAll()
		waitFor(t, "A to reconnect its live channel", 15*time.Second, func() bool { return link.Stats().Conns > before && a.loop.liveUp() })
		id := mustS(t)(b.CreateEncounter(fmt.Sprintf(`{"area":"Park","note":"after cut %d"}`, cut)))
		syncOK(t, b)
		waitFor(t, "A to pull B's save after the live channel came back", 15*time.Second, func() bool { return has(a, id) })
	}
}

// A live channel that goes silent (a dead link that sent no reset) is taken
// for dead after liveSilence and reopened.
func TestSilentLiveChannelIsReopened(t *testing.T) {
	var mu sync.Mutex
	opened := 0
	h := http.NewServeMux()
	h.HandleFunc("GET /v1/sync/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		opened++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: ready\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then nothing, not even keep-alives
	})
	h.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) { answerNothingNew(w) })
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer ts.CloseClientConnections()

	c, err := open(t.TempDir(), testKey, "sim", options{jitter: func() float64 { return 0 }, liveSilence: 200 * time.Millisecond})
	must(t, err)
	defer c.Close()
	enrolLocal(t, c, 1, "w1", "team_a")
	must(t, setMeta(sq(c).db, "server_url", ts.URL))
	c.Start()
	defer c.Stop()
	waitFor(t, "the silent channel to be reopened", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return opened >= 2 })
}

// answerNothingNew answers a sync with nothing to acknowledge or send.
func answerNothingNew(w http.ResponseWriter) {
	body, _ := protocol.Encode(protocol.Response{Results: []protocol.PushResult{}, Drop: []string{}, Cursor: "t.1"}, nil, nil)
	w.Header().Set("Content-Type", protocol.ContentType)
	w.Write(body)
}

// The server binary with its connection timeouts scaled down (-read-timeout,
// -write-timeout, -idle-timeout of a second against 60/60/120 s in
// production): a phone's live channel stays on one connection for several
// times every timeout and still carries the poke for a teammate's save.
func TestLiveChannelOutlivesTheServersTimeouts(t *testing.T) {
	shared := startServer(t)
	r := newChaosRun(t, shared, 1, "-read-timeout", "1s", "-write-timeout", "1s", "-idle-timeout", "1s", "-sse-heartbeat", "300ms")
	r.enrol(4) // p00 and p03: two in-process phones of the same team
	a, b := r.phones[0].c, r.phones[3].c
	a.Start()
	defer a.Stop()
	waitFor(t, "A's live channel", 10*time.Second, a.loop.liveUp)
	syncOK(t, b)
	time.Sleep(500 * time.Millisecond) // let the start-up syncs finish
	conns := r.proxy.Stats().Conns
	time.Sleep(5 * time.Second) // five write, read and idle timeouts
	if !a.loop.liveUp() {
		t.Fatal("the live channel is down after the server's timeouts")
	}
	id := mustS(t)(b.CreateEncounter(`{"area":"Park","note":"after a long quiet spell"}`))
	syncOK(t, b)
	waitFor(t, "A to pull B's save after the poke", 10*time.Second, func() bool { return has(a, id) })
	// B's sync used connections of its own; A's stream was never reopened:
	// at most one new connection for B's sync and one for A's pull.
	if got := r.proxy.Stats().Conns - conns; got > 2 {
		t.Fatalf("%d new connections through the quiet spell: the live channel was cut and reopened", got)
	}
}

// A refused save stays shown as refused while it waits for review, even
// once the phone has saved past it to the same record (its version then
// covers the refused one without holding it), and after a reviewer
// discards it: the worker is never told a save went through that the
// server did not apply. (A release, which the phone then shows as applied,
// is TestRefusedSaveReleasedOnlyWhenTheServerAppliedIt: no refusal a
// phone can cause here may be released.)
func TestRefusedSaveStaysRefusedUntilReleased(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 1, "supervisor", 0)
	a := s.enrolPhone(t, sup, s.person(t, 1, "worker", 3))
	other := s.demo.Org.Teams[0].ID
	device, err := a.st.Meta("device_id")
	must(t, err)
	enc := mustS(t)(a.CreateEncounter(`{"area":"Park","note":"Met by the gate."}`))
	syncOK(t, a)
	// A move to another team is a transfer, not an edit: refused.
	must(t, a.Update(enc, `{"team_id":"`+other+`","area":"Moved"}`))
	syncOK(t, a)
	if st := status(t, a); len(st.Quarantined) != 1 {
		t.Fatalf("the move was not refused: %+v", st)
	}
	must(t, a.InsertText(enc, "note", 0, "Later: "))
	syncOK(t, a)
	must(t, a.FetchRecord(enc)) // the record as the server sends it
	syncOK(t, a)
	if st := status(t, a); len(st.Quarantined) != 1 {
		t.Fatalf("after a later save to the same record, the refused save is no longer shown, though nobody reviewed it: %+v", st)
	}
	items := s.quarantine(t, sup, device)
	if len(items) != 1 {
		t.Fatalf("the server's open quarantine for the phone: %+v", items)
	}
	s.admin(t, sup, fmt.Sprintf("/v1/admin/quarantine/%d/review", items[0].ID), map[string]string{"resolution": "discard"})
	syncOK(t, a)
	must(t, a.FetchRecord(enc))
	syncOK(t, a)
	if st := status(t, a); len(st.Quarantined) != 1 {
		t.Fatalf("a discarded save is no longer shown as refused: %+v", st)
	}
	if v := view(t, a, enc); str(t, v, "area") != "Park" || !strings.HasPrefix(str(t, v, "note"), "Later: ") {
		t.Fatalf("the record after the discard: %+v", v)
	}
}
