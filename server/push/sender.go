package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// Outbox is what a Deliverer needs from storage (the store's push outbox).
type Outbox interface {
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Claimed, error)
	Targets(ctx context.Context, cs []Claimed) (map[string]Target, error)
	Complete(ctx context.Context, owner string, outcomes []Outcome) error
}

// Deliverer drains the outbox: Sender (FCM) or LogSender (FCM not configured).
type Deliverer interface {
	// Run sends due notifications every PollInterval until ctx is done; it returns nil then.
	Run(ctx context.Context) error
	// SendDue sends everything due now and returns how many notifications were completed as sent.
	SendDue(ctx context.Context) (sent int, err error)
	// Stats returns counters since start.
	Stats() Stats
}

// Stats are a Deliverer's counters since it started.
type Stats struct {
	Sent          int64 // notifications marked sent
	Retried       int64 // notifications released for a later attempt
	Dead          int64 // notifications given up after MaxAttempts
	Messages      int64 // FCM messages accepted (one per token)
	TokensRemoved int64 // tokens FCM reported unregistered or invalid
}

// Config configures delivery. FCM is used when ProjectID and CredentialsFile (or, in tests,
// Endpoint) are set; otherwise New returns a LogSender.
type Config struct {
	ProjectID       string
	CredentialsFile string // service-account JSON
	// Endpoint replaces https://fcm.googleapis.com (the root, without /v1): a local fake FCM in
	// tests and benchmarks. With Endpoint and no CredentialsFile, no authentication is sent
	// unless Options supply it.
	Endpoint    string
	BatchSize   int           // notifications claimed and FCM messages per SendEach; ≤500 (default 500)
	Lease       time.Duration // how long a claim is exclusive (default 2m); sends time out at Lease/2
	MaxAttempts int           // claims before a notification is dead (default 12)
	Now         func() time.Time

	Owner        string        // lease owner name; default host-pid-random
	PollInterval time.Duration // Run's tick (default 5s)
	BaseBackoff  time.Duration // first retry delay (default 30s), doubled per attempt
	MaxBackoff   time.Duration // cap on the retry delay (default 1h); Retry-After may exceed it
	Concurrency  int           // batches in flight within SendDue (default 2)
	Rand         func() float64
	Logger       *slog.Logger
	Options      []option.ClientOption // extra Google API client options (tests: token source)
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 || c.BatchSize > 500 {
		c.BatchSize = 500
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 12
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Enabled reports whether c configures real FCM delivery.
func (c Config) Enabled() bool {
	return c.ProjectID != "" && (c.CredentialsFile != "" || c.Endpoint != "")
}

// New returns the Deliverer for cfg and a one-line description of the mode for the server to
// log at start.
func New(ctx context.Context, cfg Config, ob Outbox) (Deliverer, string, error) {
	if !cfg.Enabled() {
		return NewLogSender(cfg, ob), "push: FCM not configured (no project id or service-account file): notifications are logged, not sent", nil
	}
	s, err := NewSender(ctx, cfg, ob)
	if err != nil {
		return nil, "", err
	}
	desc := fmt.Sprintf("push: FCM HTTP v1, project %s", cfg.ProjectID)
	if cfg.Endpoint != "" {
		desc += ", endpoint " + cfg.Endpoint
	}
	return s, desc, nil
}

// Sender delivers the outbox through FCM with the Firebase Admin SDK.
type Sender struct {
	cfg    Config
	ob     Outbox
	client *messaging.Client
	stats  stats

	mu          sync.Mutex
	pausedUntil time.Time // set by a 429 with Retry-After: FCM asked the whole project to slow down
}

type stats struct{ sent, retried, dead, messages, removed atomic.Int64 }

func (s *stats) snapshot() Stats {
	return Stats{Sent: s.sent.Load(), Retried: s.retried.Load(), Dead: s.dead.Load(),
		Messages: s.messages.Load(), TokensRemoved: s.removed.Load()}
}

// NewSender builds a Sender with the real FCM client.
func NewSender(ctx context.Context, cfg Config, ob Outbox) (*Sender, error) {
	cfg.defaults()
	if cfg.ProjectID == "" {
		return nil, errors.New("push: FCM needs a project id")
	}
	var opts []option.ClientOption
	if cfg.CredentialsFile != "" {
		if _, err := os.Stat(cfg.CredentialsFile); err != nil {
			return nil, fmt.Errorf("push: FCM credentials file: %w", err)
		}
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, cfg.CredentialsFile))
	}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/")+"/v1"))
		if cfg.CredentialsFile == "" && len(cfg.Options) == 0 {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	opts = append(opts, cfg.Options...)
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: cfg.ProjectID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("push: firebase app: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: firebase messaging client: %w", err)
	}
	return &Sender{cfg: cfg, ob: ob, client: client}, nil
}

// Stats implements Deliverer.
func (s *Sender) Stats() Stats { return s.stats.snapshot() }

// Run implements Deliverer.
func (s *Sender) Run(ctx context.Context) error {
	return runLoop(ctx, s.cfg.PollInterval, s.cfg.Logger, s.SendDue)
}

func runLoop(ctx context.Context, every time.Duration, log *slog.Logger, sendDue func(context.Context) (int, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := sendDue(ctx); err != nil && ctx.Err() == nil {
			log.Error("push: send due notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SendDue implements Deliverer: it claims and sends batches until nothing is due (or FCM asked
// to pause), with Concurrency batches in flight.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, s.cfg.Concurrency)
	for w := range s.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				now := s.cfg.Now()
				if s.paused(now) {
					return
				}
				// The send deadline counts from the claim, on the real clock
				// (cfg.Now may be a test's): a batch slow to start must not
				// send so late that its lease ends before it is recorded.
				claimed := time.Now()
				cs, err := s.ob.Claim(ctx, s.cfg.Owner, now, s.cfg.Lease, s.cfg.BatchSize)
				if err != nil {
					errs[w] = err
					return
				}
				if len(cs) == 0 {
					return
				}
				n, err := s.sendBatch(ctx, cs, claimed.Add(s.cfg.Lease/2))
				total.Add(int64(n))
				if err != nil {
					errs[w] = err
					return
				}
				if len(cs) < s.cfg.BatchSize {
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(total.Load()), errors.Join(errs...)
}

func (s *Sender) paused(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.pausedUntil)
}

func (s *Sender) pause(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.pausedUntil) {
		s.pausedUntil = until
	}
}

// claimState accumulates the per-token results of one claimed notification.
type claimState struct {
	c          Claimed
	delivered  int // earlier attempts
	ok         int
	retry      int
	retryAfter time.Duration
	lastErr    string
	out        Outcome
}

type msgRef struct {
	claim int
	token string
}

// sendBatch sends the claimed notifications, none after sendBy, and records
// the outcomes.
func (s *Sender) sendBatch(ctx context.Context, cs []Claimed, sendBy time.Time) (int, error) {
	targets, err := s.ob.Targets(ctx, cs)
	if err != nil {
		return 0, err
	}
	states := make([]*claimState, len(cs))
	var msgs []*messaging.Message
	var refs []msgRef
	for i, c := range cs {
		t := targets[c.ID]
		states[i] = &claimState{c: c, delivered: t.Delivered, out: Outcome{ID: c.ID}}
		for _, tok := range t.Tokens {
			msgs = append(msgs, BuildMessage(c.Notification, tok, t.Lang))
			refs = append(refs, msgRef{i, tok})
		}
	}
	for lo := 0; lo < len(msgs); lo += s.cfg.BatchSize {
		hi := min(lo+s.cfg.BatchSize, len(msgs))
		s.sendEach(ctx, msgs[lo:hi], refs[lo:hi], states, sendBy)
	}
	now := s.cfg.Now()
	outcomes := make([]Outcome, len(states))
	sent := 0
	for i, st := range states {
		s.decide(now, st)
		outcomes[i] = st.out
		if st.out.State == StateSent {
			sent++
		}
	}
	// A fresh context: the sends happened, so their outcome must be recorded even if the
	// caller's context was cancelled meanwhile (otherwise everything is resent after the lease).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.ob.Complete(cctx, s.cfg.Owner, outcomes); err != nil {
		return 0, err
	}
	for _, o := range outcomes {
		switch o.State {
		case StateSent:
			s.stats.sent.Add(1)
		case StatePending:
			s.stats.retried.Add(1)
		case StateDead:
			s.stats.dead.Add(1)
			s.cfg.Logger.Warn("push: notification dead", "id", o.ID, "attempts", s.cfg.MaxAttempts, "err", o.Error)
		}
		s.stats.removed.Add(int64(len(o.RemoveTokens)))
	}
	return sent, nil
}

// sendEach sends one SendEach call's worth of messages and folds the results into states.
func (s *Sender) sendEach(ctx context.Context, msgs []*messaging.Message, refs []msgRef, states []*claimState, sendBy time.Time) {
	// Bounded so that we record outcomes well before our lease can expire (half of it from
	// the claim): past it, another sender may claim the same notifications and send them
	// again. The SDK itself retries 503 and network errors with backoff inside this call.
	sctx, cancel := context.WithDeadline(ctx, sendBy)
	br, err := s.client.SendEach(sctx, msgs)
	cancel()
	if err != nil {
		for _, r := range refs {
			st := states[r.claim]
			st.retry++
			st.lastErr = "send: " + err.Error()
			st.out.Deliveries = append(st.out.Deliveries, Delivery{Token: r.token, Status: DeliveryRetry})
		}
		return
	}
	invalid := 0
	for _, r := range br.Responses {
		if !r.Success && (messaging.IsInvalidArgument(r.Error) || messaging.IsSenderIDMismatch(r.Error)) {
			invalid++
		}
	}
	// Every message of a sizeable batch "invalid" means our payload is wrong, not the tokens:
	// removing them all would silence every phone.
	suspect := invalid == len(msgs) && invalid >= 10
	if suspect {
		s.cfg.Logger.Error("push: FCM rejected a whole batch as invalid; keeping tokens", "messages", len(msgs))
	}
	for i, r := range br.Responses {
		st := states[refs[i].claim]
		tok := refs[i].token
		switch {
		case r.Success:
			st.ok++
			s.stats.messages.Add(1)
			st.out.Deliveries = append(st.out.Deliveries, Delivery{Token: tok, MessageID: r.MessageID, Status: DeliverySent})
		case messaging.IsUnregistered(r.Error):
			st.out.RemoveTokens = append(st.out.RemoveTokens, tok)
			st.out.Deliveries = append(st.out.Deliveries, Delivery{Token: tok, Status: DeliveryUnregistered})
		case !suspect && (messaging.IsInvalidArgument(r.Error) || messaging.IsSenderIDMismatch(r.Error)):
			st.out.RemoveTokens = append(st.out.RemoveTokens, tok)
			st.out.Deliveries = append(st.out.Deliveries, Delivery{Token: tok, Status: DeliveryInvalid})
		default:
			// 429, 500, 503, network, timeouts: retryable. Anything else (auth, permission) is
			// a configuration problem: retried too, and dead after MaxAttempts if it persists.
			st.retry++
			st.lastErr = r.Error.Error()
			status := DeliveryRetry
			if !retryable(r.Error) {
				status = DeliveryFailed
			}
			st.out.Deliveries = append(st.out.Deliveries, Delivery{Token: tok, Status: status})
			if ra := retryAfter(r.Error, s.cfg.Now()); ra > st.retryAfter {
				st.retryAfter = ra
			}
			if ra := retryAfter(r.Error, s.cfg.Now()); ra > 0 && messaging.IsQuotaExceeded(r.Error) {
				s.pause(s.cfg.Now().Add(ra))
			}
		}
	}
}

// decide turns a claim's per-token results into its outcome.
func (s *Sender) decide(now time.Time, st *claimState) {
	switch {
	case st.retry > 0:
		// Tokens already delivered to are skipped on the next attempt (push_deliveries).
	case st.ok > 0 || st.delivered > 0:
		st.out.State = StateSent
		return
	case st.c.Kind == KindSync:
		st.out.State = StateSent // nothing to wake
		return
	default:
		// No device (never registered, or every token just turned out unregistered): keep
		// trying with backoff, a phone may register soon; dead after MaxAttempts.
		st.lastErr = "no registered device"
	}
	st.out.Error = st.lastErr
	if st.c.Attempts >= s.cfg.MaxAttempts {
		st.out.State = StateDead
		return
	}
	st.out.State = StatePending
	st.out.NextAttempt = now.Add(max(s.backoff(st.c.Attempts), st.retryAfter))
}

// backoff is exponential in the attempt number with jitter in [d/2, d).
func (s *Sender) backoff(attempt int) time.Duration {
	d := float64(s.cfg.BaseBackoff) * math.Pow(2, float64(attempt-1))
	if d > float64(s.cfg.MaxBackoff) {
		d = float64(s.cfg.MaxBackoff)
	}
	return time.Duration(d/2 + s.cfg.Rand()*d/2)
}

func retryable(err error) bool {
	return messaging.IsQuotaExceeded(err) || messaging.IsUnavailable(err) || messaging.IsInternal(err) ||
		errorutils.IsResourceExhausted(err) || errorutils.IsUnavailable(err) || errorutils.IsInternal(err) ||
		errorutils.IsDeadlineExceeded(err) || errorutils.IsUnknown(err) ||
		errors.Is(err, context.DeadlineExceeded) || errorutils.HTTPResponse(err) == nil
}

// retryAfter reads the Retry-After header (seconds or HTTP date) of a failed FCM response.
func retryAfter(err error, now time.Time) time.Duration {
	resp := errorutils.HTTPResponse(err)
	if resp == nil {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if sec, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && sec > 0 {
		return time.Duration(sec) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// LogSender stands in for FCM when it is not configured (the `make run` default): it logs each
// due notification (ids and kind only) and marks it sent.
type LogSender struct {
	cfg   Config
	ob    Outbox
	stats stats
}

// NewLogSender returns a LogSender.
func NewLogSender(cfg Config, ob Outbox) *LogSender {
	cfg.defaults()
	return &LogSender{cfg: cfg, ob: ob}
}

// Stats implements Deliverer.
func (l *LogSender) Stats() Stats { return l.stats.snapshot() }

// Run implements Deliverer.
func (l *LogSender) Run(ctx context.Context) error {
	return runLoop(ctx, l.cfg.PollInterval, l.cfg.Logger, l.SendDue)
}

// SendDue implements Deliverer.
func (l *LogSender) SendDue(ctx context.Context) (int, error) {
	total := 0
	for {
		cs, err := l.ob.Claim(ctx, l.cfg.Owner, l.cfg.Now(), l.cfg.Lease, l.cfg.BatchSize)
		if err != nil || len(cs) == 0 {
			return total, err
		}
		outcomes := make([]Outcome, len(cs))
		for i, c := range cs {
			l.cfg.Logger.Info("push (not sent: FCM not configured)", "id", c.ID, "kind", c.Kind,
				"recipient_kind", c.RecipientKind, "recipient", c.RecipientID, "record", c.RecordID, "urgent", c.Urgent)
			outcomes[i] = Outcome{ID: c.ID, State: StateSent}
		}
		if err := l.ob.Complete(ctx, l.cfg.Owner, outcomes); err != nil {
			return total, err
		}
		total += len(cs)
		l.stats.sent.Add(int64(len(cs)))
		if len(cs) < l.cfg.BatchSize {
			return total, nil
		}
	}
}
