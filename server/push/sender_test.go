package push_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
)

// More than 500 messages: claims are batches of BatchSize notifications and SendEach calls
// are split at 500 messages even when a batch fans out to several tokens per recipient.
func TestBatching(t *testing.T) {
	e := newEnv(t)
	const people, devices = 400, 3 // 1200 messages in one 400-row claim
	var ns []push.Notification
	for i := range people {
		p := fmt.Sprintf("p%d", i)
		for d := range devices {
			e.token(t, fmt.Sprintf("d%d-%d", i, d), p, fmt.Sprintf("tok-%d-%d", i, d))
		}
		ns = append(ns, note(id(i), p))
	}
	// And 700 single-device notifications, more than one claim batch.
	for i := people; i < people+700; i++ {
		ns = append(ns, note(id(i), "p0"))
	}
	e.enqueue(t, ns...)
	s := e.sender(t, func(c *push.Config) { c.BatchSize = 400 })
	if n := sendDue(t, s); n != len(ns) {
		t.Fatalf("sent %d, want %d", n, len(ns))
	}
	want := people*devices + 700*devices
	if got := e.fake.Count(); got != int64(want) {
		t.Fatalf("fake received %d messages, want %d", got, want)
	}
	if c := e.counts(t); c[push.StateSent] != len(ns) {
		t.Fatalf("counts %v", c)
	}
	if st := s.Stats(); st.Messages != int64(want) || st.Sent != int64(len(ns)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetryAndBackoff(t *testing.T) {
	backoff1 := 7500 * time.Millisecond // BaseBackoff 10s, attempt 1, jitter 0.5: d/2 + 0.5*d/2
	tests := []struct {
		name      string
		script    []fcmfake.Response
		wantDelay time.Duration
		wantPause bool // a 429 pauses the whole sender until Retry-After
	}{
		{"429 with Retry-After", []fcmfake.Response{fcmfake.Quota("120")}, 120 * time.Second, true},
		{"429 without Retry-After", []fcmfake.Response{fcmfake.Quota("")}, backoff1, false},
		{"500", []fcmfake.Response{fcmfake.Internal}, backoff1, false},
		// The SDK retries 503 itself unless Retry-After exceeds its 2-minute cap; then we do.
		{"503 with long Retry-After", []fcmfake.Response{withRetryAfter(fcmfake.Unavailable, "3600")}, time.Hour, false},
		{"Retry-After shorter than backoff", []fcmfake.Response{withRetryAfter(fcmfake.Internal, "1")}, backoff1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.token(t, "d1", "p1", "tok-1")
			e.token(t, "d2", "p2", "tok-2")
			e.fake.Script("tok-1", tc.script...)
			e.enqueue(t, note("nRetry", "p1"))
			s := e.sender(t, func(c *push.Config) { c.Concurrency = 1 })
			if n := sendDue(t, s); n != 0 {
				t.Fatalf("sent %d, want 0", n)
			}
			r := e.row(t, "nRetry")
			if r.State != push.StatePending || r.Attempts != 1 || !r.NextAttempt.Equal(t0.Add(tc.wantDelay)) || r.LeaseOwner.Valid {
				t.Fatalf("after failure: %+v, want pending, next attempt at +%v, no lease", r, tc.wantDelay)
			}
			// Something else due now: held back while FCM asked us to pause.
			e.enqueue(t, note("nOther", "p2"))
			e.clock.Advance(time.Second)
			n := sendDue(t, s)
			if tc.wantPause && n != 0 || !tc.wantPause && n != 1 {
				t.Fatalf("during Retry-After: sent %d (pause expected: %v)", n, tc.wantPause)
			}
			e.clock.Advance(tc.wantDelay)
			sendDue(t, s)
			if r := e.row(t, "nRetry"); r.State != push.StateSent || r.Attempts != 2 {
				t.Fatalf("after retry: %+v", r)
			}
			if got := tokensReceived(e.fake)["tok-1"]; got != 2 {
				t.Fatalf("tok-1 got %d requests, want 2", got)
			}
		})
	}
}

func withRetryAfter(r fcmfake.Response, v string) fcmfake.Response { r.RetryAfter = v; return r }

// A 503 without Retry-After is retried inside the SDK at once; the notification goes out in
// the same SendDue.
func TestSDKRetries503(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-1")
	e.fake.Script("tok-1", fcmfake.Unavailable)
	e.enqueue(t, note("n1", "p1"))
	if n := sendDue(t, e.sender(t)); n != 1 {
		t.Fatalf("sent %d", n)
	}
	if got := tokensReceived(e.fake)["tok-1"]; got != 2 {
		t.Fatalf("requests %d, want 2", got)
	}
}

// Network errors: the SDK retries them with 1s, 2s, 4s waits; our send timeout (Lease/2) cuts
// that short and the outbox retries later.
func TestNetworkErrorRetried(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-1")
	e.fake.Script("tok-1", fcmfake.Response{Drop: true}, fcmfake.Response{Drop: true}, fcmfake.Response{Drop: true})
	e.enqueue(t, note("n1", "p1"))
	s := e.sender(t, func(c *push.Config) { c.Lease = 400 * time.Millisecond })
	start := time.Now()
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("sent %d", n)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("SendDue took %v", el)
	}
	if r := e.row(t, "n1"); r.State != push.StatePending || !r.NextAttempt.Equal(t0.Add(7500*time.Millisecond)) {
		t.Fatalf("after network error: %+v", r)
	}
	e.fake.Fallback(fcmfake.OK)
	e.clock.Advance(time.Minute)
	// Whatever Drop responses are left are consumed by SDK retries or another round.
	for range 3 {
		sendDue(t, s)
		e.clock.Advance(time.Hour)
	}
	if r := e.row(t, "n1"); r.State != push.StateSent {
		t.Fatalf("never sent: %+v", r)
	}
}

func TestDeadAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-1")
	e.fake.Fallback(fcmfake.Internal)
	e.enqueue(t, note("n1", "p1"))
	var logs bytes.Buffer
	s := e.sender(t, func(c *push.Config) {
		c.MaxAttempts = 3
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	var delays []time.Duration
	for range 3 {
		before := e.clock.Now()
		sendDue(t, s)
		r := e.row(t, "n1")
		delays = append(delays, r.NextAttempt.Sub(before))
		e.clock.Advance(2 * time.Hour)
	}
	if r := e.row(t, "n1"); r.State != push.StateDead || r.Attempts != 3 {
		t.Fatalf("row %+v, want dead after 3 attempts", r)
	}
	if delays[0] != 7500*time.Millisecond || delays[1] != 15*time.Second {
		t.Errorf("backoff %v, want 7.5s then 15s", delays[:2])
	}
	if st := s.Stats(); st.Dead != 1 || st.Retried != 2 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "notification dead") || !strings.Contains(logs.String(), "n1") {
		t.Errorf("dead not logged: %s", logs.String())
	}
	if sendDue(t, s); e.fake.Count() != 3 {
		t.Errorf("dead notification sent again: %d requests", e.fake.Count())
	}
}

func TestUnregisteredTokenRemoved(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-good")
	e.token(t, "d2", "p1", "tok-gone")
	e.token(t, "d3", "p2", "tok-only-gone")
	e.token(t, "d4", "p3", "tok-invalid")
	e.fake.Script("tok-gone", fcmfake.Unregistered)
	e.fake.Script("tok-only-gone", fcmfake.Unregistered)
	e.fake.Script("tok-invalid", fcmfake.Invalid)
	e.enqueue(t, note("n1", "p1"), note("n2", "p2"), note("n3", "p3"))
	s := e.sender(t)
	if n := sendDue(t, s); n != 1 {
		t.Fatalf("sent %d, want 1", n)
	}
	if got := e.tokens(t, "p1"); fmt.Sprint(got) != "[tok-good]" {
		t.Errorf("p1 tokens %v", got)
	}
	if got := e.tokens(t, "p2"); len(got) != 0 {
		t.Errorf("p2 tokens %v", got)
	}
	if got := e.tokens(t, "p3"); len(got) != 0 {
		t.Errorf("p3 tokens %v", got)
	}
	if r := e.row(t, "n1"); r.State != push.StateSent {
		t.Errorf("n1 %+v", r)
	}
	// No device left: kept, retried later (a phone may register again).
	if r := e.row(t, "n2"); r.State != push.StatePending || r.LastError != "no registered device" {
		t.Errorf("n2 %+v", r)
	}
	if st := s.Stats(); st.TokensRemoved != 3 {
		t.Errorf("stats %+v", st)
	}
	e.token(t, "d5", "p2", "tok-new")
	e.clock.Advance(time.Hour)
	sendDue(t, s)
	if r := e.row(t, "n2"); r.State != push.StateSent {
		t.Errorf("n2 after re-registration %+v", r)
	}
}

// If FCM rejects an entire batch as invalid, the fault is our payload, not every token.
func TestWholeBatchInvalidKeepsTokens(t *testing.T) {
	e := newEnv(t)
	var ns []push.Notification
	for i := range 12 {
		e.token(t, fmt.Sprintf("d%d", i), fmt.Sprintf("p%d", i), fmt.Sprintf("tok-%d", i))
		ns = append(ns, note(id(i), fmt.Sprintf("p%d", i)))
	}
	e.fake.Fallback(fcmfake.Invalid)
	e.enqueue(t, ns...)
	sendDue(t, e.sender(t))
	if got := e.tokens(t, "p3"); len(got) != 1 {
		t.Fatalf("tokens removed on a whole-batch INVALID_ARGUMENT: %v", got)
	}
}

// A retry resends only to the tokens that failed; the one already delivered is skipped.
func TestPartialFailureResendsOnlyFailedTokens(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-a")
	e.token(t, "d2", "p1", "tok-b")
	e.fake.Script("tok-b", fcmfake.Internal)
	e.enqueue(t, note("n1", "p1"))
	s := e.sender(t)
	sendDue(t, s)
	e.clock.Advance(time.Minute)
	sendDue(t, s)
	if got := tokensReceived(e.fake); got["tok-a"] != 1 || got["tok-b"] != 2 {
		t.Fatalf("requests per token %v, want tok-a 1, tok-b 2", got)
	}
	if r := e.row(t, "n1"); r.State != push.StateSent {
		t.Fatalf("row %+v", r)
	}
}

// Quiet hours end to end: a notification planned outside the recipient's hours is not sent
// until the injected clock reaches them; an urgent one goes at once.
func TestQuietHoursWithClock(t *testing.T) {
	e := newEnv(t)
	e.clock = newClock(utc(6, 20, 0)) // Friday 20:00
	e.store.Now = e.clock.Now
	e.token(t, "d1", "pracA", "tok-prac")
	p := push.DefaultPlanner()
	normal := p.ReferralSubmitted(push.Referral{ID: "ref1", Submitted: e.clock.Now(), Referrer: worker, Practitioners: []push.Recipient{practA}})
	urgent := p.ReferralSubmitted(push.Referral{ID: "ref2", Submitted: e.clock.Now(), Urgent: true, Referrer: worker, Practitioners: []push.Recipient{practA}})
	e.enqueue(t, pick(normal, push.KindHandoff, "pracA")...)
	e.enqueue(t, pick(urgent, push.KindHandoff, "pracA")...)
	s := e.sender(t)
	if n := sendDue(t, s); n != 1 {
		t.Fatalf("friday evening: sent %d, want the urgent one only", n)
	}
	e.clock.Advance(60 * time.Hour) // Monday 08:00
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("monday 08:00: sent %d, want 0", n)
	}
	e.clock.Advance(time.Hour)
	if n := sendDue(t, s); n != 1 {
		t.Fatalf("monday 09:00: sent %d, want 1", n)
	}
}

// Escalation timing through the outbox: the follow-up reaches the worker, and the supervisors
// only if it is still open after the grace; closing it cancels the escalation.
func TestEscalationThroughOutbox(t *testing.T) {
	ctx := context.Background()
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("closed=%v", closed), func(t *testing.T) {
			e := newEnv(t)
			e.clock = newClock(utc(3, 10, 0)) // Tuesday
			e.store.Now = e.clock.Now
			e.token(t, "d1", "worker1", "tok-w")
			e.token(t, "d2", "super1", "tok-s")
			p := push.Planner{EscalateAfter: 24 * time.Hour}
			e.enqueue(t, p.FollowUp(push.FollowUp{ID: "fu1", Due: utc(3, 10, 0), Assignee: worker, Supervisors: []push.Recipient{supervisor}})...)
			s2 := e.sender(t)
			e.clock.Advance(31 * time.Hour) // Wednesday 17:00, the worker's evening
			if n := sendDue(t, s2); n != 1 || tokensReceived(e.fake)["tok-w"] != 1 {
				t.Fatalf("worker not told: sent %d", n)
			}
			if closed {
				e.store.Cancel(ctx, "fu1", push.CancelWhenFollowUpClosed...)
			}
			e.clock.Advance(40 * time.Hour) // Friday 09:00
			sendDue(t, s2)
			if got, want := tokensReceived(e.fake)["tok-s"], map[bool]int{false: 1, true: 0}[closed]; got != want {
				t.Fatalf("supervisor got %d, want %d", got, want)
			}
		})
	}
}

func TestNewModes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var logs bytes.Buffer
	d, desc, err := push.New(ctx, push.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: e.clock.Now}, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*push.LogSender); !ok || !strings.Contains(desc, "not configured") {
		t.Fatalf("unconfigured: %T %q", d, desc)
	}
	e.enqueue(t, note("nLog", "p1"))
	if n := sendDue(t, d); n != 1 || e.row(t, "nLog").State != push.StateSent {
		t.Fatalf("log sender sent %d", n)
	}
	if !strings.Contains(logs.String(), "nLog") || !strings.Contains(logs.String(), "followup_due") {
		t.Errorf("log: %s", logs.String())
	}
	if _, _, err := push.New(ctx, push.Config{ProjectID: "p", CredentialsFile: "/nonexistent.json"}, e.store); err == nil {
		t.Error("missing credentials file accepted")
	}
	d, desc, err = push.New(ctx, e.config(), e.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*push.Sender); !ok || !strings.Contains(desc, "FCM") {
		t.Fatalf("configured: %T %q", d, desc)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-1")
	e.enqueue(t, note("n1", "p1"))
	s := e.sender(t, func(c *push.Config) { c.PollInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for e.row(t, "n1").State != push.StateSent && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e.row(t, "n1").State != push.StateSent {
		t.Fatal("Run did not send")
	}
}

// slowTargets is an outbox whose token lookup takes a while (a busy
// database): time the sender spends after claiming, before it sends.
type slowTargets struct {
	push.Outbox
	delay time.Duration
}

func (s slowTargets) Targets(ctx context.Context, cs []push.Claimed) (map[string]push.Target, error) {
	time.Sleep(s.delay)
	return s.Outbox.Targets(ctx, cs)
}

// A sender sends only within the first half of its lease, counted from the
// claim, so it records the outcome before the lease can pass to another
// node (which would send the same notification again). Here the token
// lookup alone outlasts half the lease: nothing is sent, and the
// notification waits for a later attempt.
func TestNoSendPastHalfTheLease(t *testing.T) {
	e := newEnv(t)
	e.token(t, "d1", "p1", "tok-1")
	e.fake.Fallback(fcmfake.Response{Delay: 300 * time.Millisecond})
	e.enqueue(t, note("n1", "p1"))
	cfg := e.config(func(c *push.Config) { c.Lease = time.Second })
	s, err := push.NewSender(context.Background(), cfg, slowTargets{e.store, 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("sent %d", n)
	}
	if got := e.fake.Count(); got != 0 {
		t.Fatalf("FCM received %d sends started 700 ms into a 1 s lease; want none", got)
	}
	if r := e.row(t, "n1"); r.State != push.StatePending {
		t.Fatalf("after a send given up: %+v", r)
	}
}
