// Package signin is the one way staff sign in, for the portal's form and the
// API's HTTP Basic alike: an e-mail address and a bcrypt-checked password,
// throttled per client address and per account.
//
// What an attacker can learn or do, and what stops it:
//
//   - Which addresses have accounts: an unknown address costs one bcrypt
//     comparison against a decoy of the configured cost, is recorded and
//     throttled under the address typed exactly as a real one is, and gets
//     the same answer (ErrWrongPassword, or a Throttled error).
//   - Guessing passwords fast from one address: a token bucket per client
//     address refuses attempts (429, Retry-After) before any bcrypt work;
//     successful sign-ins give their token back, so a script signing in on
//     every request is not slowed.
//   - Guessing one account's password: after FreeFailures failures for an
//     (account, client) pair that pair waits, doubling each further failure.
//   - Locking the real person out: the back-off is per (account, client), so
//     hammering an account from one address does not stop its owner signing
//     in from another. Many addresses guessing together (a botnet) trip the
//     account's own back-off, which holds only clients that have themselves
//     failed on that account, and is capped at MaxAccountDelay: a client
//     that has not been failing still signs in with the right password.
//
// Everything runs on the injected clock. Failures are kept by the store
// (shared by every process using it); the per-address bucket is in memory.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Store is what sign-in needs from storage.
type Store interface {
	PersonByEmail(ctx context.Context, email string) (domain.Person, error)
	SignInFailures(ctx context.Context, account, client []byte) (domain.SignInFailures, error)
	RecordSignIn(ctx context.Context, a domain.SignInAttempt) error
}

// Config tunes sign-in. Zero fields take DefaultConfig's values.
type Config struct {
	// Cost is the bcrypt cost staff passwords are hashed with; an unknown
	// address is checked against a decoy hash of the same cost.
	Cost int
	// Now is the clock for throttling.
	Now func() time.Time
	// ComparePassword checks a password against a stored bcrypt hash
	// (bcrypt.CompareHashAndPassword). It is a seam for tests, which record
	// the cost of every hash compared: that the work done for an unknown
	// address equals the work for a known one is checked deterministically,
	// never by timing.
	ComparePassword func(hash, password []byte) error

	ClientRate  float64 // attempts per second regained by one client address
	ClientBurst int     // attempts a client address may make at once

	FreeFailures    int           // failures of an (account, client) pair before it waits
	AccountFailures int           // failures of an account from all clients before its back-off
	BaseDelay       time.Duration // the first wait; doubled at each further failure
	MaxDelay        time.Duration // the longest an (account, client) pair waits
	MaxAccountDelay time.Duration // the longest the account back-off holds a failing client
	Forget          time.Duration // failures this old are forgotten
}

// DefaultConfig returns production settings.
func DefaultConfig() Config {
	return Config{Cost: bcrypt.DefaultCost, Now: time.Now, ComparePassword: bcrypt.CompareHashAndPassword,
		ClientRate: 0.1, ClientBurst: 10,
		FreeFailures: 5, AccountFailures: 20, BaseDelay: time.Minute, MaxDelay: time.Hour,
		MaxAccountDelay: 15 * time.Minute, Forget: 24 * time.Hour}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Cost < bcrypt.MinCost || c.Cost > bcrypt.MaxCost {
		c.Cost = d.Cost
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.ComparePassword == nil {
		c.ComparePassword = d.ComparePassword
	}
	positive(&c.ClientRate, d.ClientRate)
	positive(&c.ClientBurst, d.ClientBurst)
	positive(&c.FreeFailures, d.FreeFailures)
	positive(&c.AccountFailures, d.AccountFailures)
	positive(&c.BaseDelay, d.BaseDelay)
	positive(&c.MaxDelay, d.MaxDelay)
	positive(&c.MaxAccountDelay, d.MaxAccountDelay)
	positive(&c.Forget, d.Forget)
	return c
}

// positive sets *v to def unless it is positive.
func positive[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Errors. The wrong-password answer is the same whether or not the address
// has an account, and so is throttling.
var (
	ErrWrongPassword = domain.Errorf(domain.EUNAUTHORIZED, "sign in", "wrong email or password")
	errThrottled     = domain.Errorf(domain.ERATELIMITED, "sign in", "too many sign-in attempts; try again later")
)

// Throttled refuses an attempt before its password is checked.
type Throttled struct{ Wait time.Duration }

func (t *Throttled) Error() string { return errThrottled.Error() }
func (t *Throttled) Unwrap() error { return errThrottled }

// RetryAfter is how long the client should wait (the Retry-After header).
func (t *Throttled) RetryAfter() time.Duration { return t.Wait }

// Attempt is one sign-in attempt.
type Attempt struct {
	Email    string
	Password string
	Client   string // the client's network address
	Via      string // "api" or "portal", for the audit log
}

// Checker checks staff sign-ins. Use one per process, shared by the API and
// the portal, so that a client's bucket counts attempts on both.
type Checker struct {
	store   Store
	cfg     Config
	clients *buckets
}

// New returns a Checker over store.
func New(store Store, cfg Config) *Checker {
	cfg = cfg.withDefaults()
	return &Checker{store: store, cfg: cfg, clients: newBuckets(cfg.ClientRate, cfg.ClientBurst)}
}

// Check signs a person in: it returns them when the password is theirs, or
// ErrWrongPassword, or a *Throttled error. Every attempt that gets past the
// client's bucket is recorded and audited.
func (s *Checker) Check(ctx context.Context, a Attempt) (domain.Person, error) {
	now := s.cfg.Now()
	email := strings.ToLower(strings.TrimSpace(a.Email))
	token, wait := s.clients.take(a.Client, now)
	if wait > 0 {
		return domain.Person{}, &Throttled{Wait: wait}
	}
	rec := domain.SignInAttempt{Account: key("account", email), Client: key("client", a.Client),
		ForgetBefore: now.Add(-s.cfg.Forget), Via: a.Via}
	p, err := s.store.PersonByEmail(ctx, email)
	switch {
	case err == nil:
		rec.PersonID = p.ID
	case domain.ErrorCode(err) != domain.ENOTFOUND:
		return domain.Person{}, fmt.Errorf("sign in: %w", err)
	}
	f, err := s.store.SignInFailures(ctx, rec.Account, rec.Client)
	if err != nil {
		return domain.Person{}, fmt.Errorf("sign in: %w", err)
	}
	if wait := s.wait(f, now); wait > 0 {
		rec.Throttled = true
		if err := s.store.RecordSignIn(ctx, rec); err != nil {
			return domain.Person{}, fmt.Errorf("sign in: %w", err)
		}
		return domain.Person{}, &Throttled{Wait: wait}
	}
	hash := decoyHash(s.cfg.Cost)
	if rec.PersonID != "" && p.PasswordHash != "" {
		hash = []byte(p.PasswordHash)
	}
	rec.OK = s.cfg.ComparePassword(hash, []byte(a.Password)) == nil && rec.PersonID != "" && p.PasswordHash != ""
	if err := s.store.RecordSignIn(ctx, rec); err != nil {
		return domain.Person{}, fmt.Errorf("sign in: %w", err)
	}
	if !rec.OK {
		return domain.Person{}, ErrWrongPassword
	}
	token.giveBack(now)
	return p, nil
}

// wait is how long the pair must still wait: its own back-off, and the
// account's when this client is one of those failing on it.
func (s *Checker) wait(f domain.SignInFailures, now time.Time) time.Duration {
	forget := now.Add(-s.cfg.Forget)
	var until time.Time
	if f.Pair >= s.cfg.FreeFailures && f.PairLast.After(forget) {
		until = f.PairLast.Add(backoff(s.cfg.BaseDelay, f.Pair-s.cfg.FreeFailures, s.cfg.MaxDelay))
	}
	failing := f.Pair > 0 && f.PairLast.After(forget)
	if failing && f.Account >= s.cfg.AccountFailures && f.AccountLast.After(forget) {
		if u := f.AccountLast.Add(backoff(s.cfg.BaseDelay, f.Account-s.cfg.AccountFailures, s.cfg.MaxAccountDelay)); u.After(until) {
			until = u
		}
	}
	return until.Sub(now)
}

// backoff is base·2^n, at most limit.
func backoff(base time.Duration, n int, limit time.Duration) time.Duration {
	if n >= 62 || float64(base)*math.Pow(2, float64(n)) >= float64(limit) {
		return limit
	}
	return base << n
}

// key hashes an account name or client address: the store needs only to
// tell them apart, and a copy of it should not list who tried what from where.
func key(kind, s string) []byte {
	h := sha256.Sum256([]byte("joinedup sign-in " + kind + "\x00" + s))
	return h[:]
}

var decoys sync.Map // bcrypt cost -> []byte

// decoyHash is a bcrypt hash of a random secret at the given cost, made once
// per cost. Comparing against it costs what comparing against a stored hash
// of that cost does; a malformed or cheaper decoy would fail fast and tell
// an attacker which addresses exist.
func decoyHash(cost int) []byte {
	if h, ok := decoys.Load(cost); ok {
		return h.([]byte)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	h, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		panic(err) // only for a cost out of range, excluded by withDefaults
	}
	actual, _ := decoys.LoadOrStore(cost, h)
	return actual.([]byte)
}

// buckets is a token bucket per client address (golang.org/x/time/rate on
// the injected clock). Buckets that have refilled are dropped, so the map
// holds only clients seen lately.
type buckets struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
	swept time.Time
}

func newBuckets(r float64, burst int) *buckets {
	return &buckets{rate: rate.Limit(r), burst: burst, m: map[string]*rate.Limiter{}}
}

// token is one attempt's token, returned after a successful sign-in.
type token struct{ r *rate.Reservation }

func (t token) giveBack(now time.Time) {
	if t.r != nil {
		t.r.CancelAt(now)
	}
}

// take takes a token for client, or says how long until one is free.
func (b *buckets) take(client string, now time.Time) (token, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	full := time.Duration(float64(b.burst) / float64(b.rate) * float64(time.Second))
	if now.Sub(b.swept) > full {
		for k, l := range b.m {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.m, k)
			}
		}
		b.swept = now
	}
	l, ok := b.m[client]
	if !ok {
		l = rate.NewLimiter(b.rate, b.burst)
		b.m[client] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return token{}, d
	}
	return token{r}, 0
}

// IsThrottled reports whether err is a throttling refusal, and how long to wait.
func IsThrottled(err error) (time.Duration, bool) {
	var t *Throttled
	if errors.As(err, &t) {
		return t.Wait, true
	}
	return 0, false
}
