package signin_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/server/sqlite"
	"golang.org/x/crypto/bcrypt"
)

var _ signin.Store = (*sqlite.DB)(nil)

const (
	owner    = "sup@example.org"
	password = "the right one"
)

// env is a Checker over a real SQLite file holding one supervisor, on a
// clock the test moves.
type env struct {
	t        testing.TB
	db       *sqlite.DB
	now      time.Time
	checker  *signin.Checker
	compared []int // bcrypt cost of each hash compared, -1 for a malformed one
}

func newEnv(tb testing.TB, cost int, opts ...func(*signin.Config)) *env {
	tb.Helper()
	e := &env{t: tb, now: time.Date(2025, 10, 20, 9, 0, 0, 0, time.UTC)}
	e.db = sqlite.NewDB(filepath.Join(tb.TempDir(), "db.sqlite"))
	e.db.Now = func() time.Time { return e.now }
	must(tb, e.db.Open())
	tb.Cleanup(func() { e.db.Close() })
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	must(tb, err)
	ctx := context.Background()
	must(tb, e.db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(tb, e.db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(tb, e.db.UpsertPerson(ctx, domain.Person{ID: "sup_a", Name: "Sup A", Email: owner, Role: domain.RoleSupervisor,
		TeamID: "team_a", Supervises: []string{"team_a"}, PasswordHash: string(hash)}))
	cfg := signin.DefaultConfig()
	cfg.Cost = cost
	cfg.Now = func() time.Time { return e.now }
	cfg.ComparePassword = func(hash, pw []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			c = -1
		}
		e.compared = append(e.compared, c)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.checker = signin.New(e.db, cfg)
	return e
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// outcome is how an attempt ended: "ok", "wrong" or "throttled".
func (e *env) try(client, email, pw string) string {
	e.t.Helper()
	p, err := e.checker.Check(context.Background(), signin.Attempt{Email: email, Password: pw, Client: client, Via: "test"})
	switch _, throttled := signin.IsThrottled(err); {
	case err == nil:
		if p.ID != "sup_a" {
			e.t.Fatalf("signed in as %+v", p)
		}
		return "ok"
	case throttled:
		if domain.ErrorCode(err) != domain.ERATELIMITED {
			e.t.Fatalf("throttled with code %s", domain.ErrorCode(err))
		}
		return "throttled"
	case errors.Is(err, signin.ErrWrongPassword):
		return "wrong"
	default:
		e.t.Fatalf("sign in: %v", err)
		return ""
	}
}

// TestUnknownEmailCostsAsMuchAsAKnownOne: signing in with an unknown email
// does the same work as a wrong password for a real account: exactly one
// bcrypt comparison, against a hash of the configured cost (a decoy of
// another cost, a malformed one that fails fast, or no comparison at all
// would reveal which emails exist). It counts the work instead of timing it,
// so it cannot flake on a loaded machine; BenchmarkSignInUnknownVsKnownEmail
// prints the time ratio.
func TestUnknownEmailCostsAsMuchAsAKnownOne(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, 5} { // not the default: the decoy must follow the configuration
		t.Run(fmt.Sprintf("cost %d", cost), func(t *testing.T) {
			e := newEnv(t, cost)
			work := func(email string) []int {
				e.compared = nil
				if got := e.try("10.0.0.1", email, "wrong"); got != "wrong" {
					t.Fatalf("%s: %s", email, got)
				}
				return e.compared
			}
			known, unknown := work(owner), work("nobody@example.org")
			want := []int{cost}
			if !slices.Equal(known, want) || !slices.Equal(unknown, want) {
				t.Fatalf("bcrypt comparisons (their costs): known email %v, unknown email %v; want %v for both", known, unknown, want)
			}
		})
	}
}

// BenchmarkSignInUnknownVsKnownEmail times wrong-password sign-ins for a
// known and an unknown email, interleaved, and reports unknown/known: it
// should be close to 1 (a timing claim is a benchmark, never a test).
func BenchmarkSignInUnknownVsKnownEmail(b *testing.B) {
	e := newEnv(b, 8)
	attempt := func(i int, email string) time.Duration {
		start := time.Now()
		// A fresh client each time and a moving clock: throttling would
		// skip the work being measured.
		_, err := e.checker.Check(context.Background(), signin.Attempt{Email: email, Password: "wrong", Client: fmt.Sprint(i, email)})
		if !errors.Is(err, signin.ErrWrongPassword) {
			b.Fatal(err)
		}
		e.now = e.now.Add(time.Hour)
		return time.Since(start)
	}
	attempt(-1, "nobody@example.org") // the decoy is made on first use
	var known, unknown time.Duration
	for i := 0; i < b.N; i++ {
		known += attempt(i, owner)
		unknown += attempt(i, "nobody@example.org")
	}
	b.ReportMetric(float64(unknown)/float64(known), "unknown/known")
}

// TestHostileClientThrottledBeforeBcrypt: one address guessing as fast as it
// can gets its burst, then is refused with a wait and no bcrypt work, over
// any number of accounts; its bucket refills on the clock.
func TestHostileClientThrottledBeforeBcrypt(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	var outcomes []string
	for i := 0; i < 30; i++ {
		outcomes = append(outcomes, e.try("10.0.0.1", fmt.Sprintf("guess%d@example.org", i), "x"))
	}
	burst := signin.DefaultConfig().ClientBurst
	if n := len(e.compared); n != burst {
		t.Fatalf("30 rapid attempts did %d bcrypt comparisons, want the burst, %d; outcomes %v", n, burst, outcomes)
	}
	_, err := e.checker.Check(context.Background(), signin.Attempt{Email: owner, Password: password, Client: "10.0.0.1"})
	wait, ok := signin.IsThrottled(err)
	if !ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("right password from the throttled address: %v (wait %v)", err, wait)
	}
	if got := e.try("10.0.0.2", owner, password); got != "ok" {
		t.Fatalf("another address: %s", got)
	}
	e.now = e.now.Add(wait)
	if got := e.try("10.0.0.1", owner, password); got != "ok" {
		t.Fatalf("after the wait: %s", got)
	}
}

// TestSuccessfulSignInsAreNotThrottled: a client that signs in on every
// request (the API's HTTP Basic) gets its token back each time.
func TestSuccessfulSignInsAreNotThrottled(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	for i := 0; i < 100; i++ {
		if got := e.try("10.0.0.1", owner, password); got != "ok" {
			t.Fatalf("sign-in %d: %s", i+1, got)
		}
	}
}

// TestPairBackOff: after FreeFailures wrong passwords an (account, client)
// pair waits BaseDelay, doubling at each further failure up to MaxDelay;
// the right password from that client waits too (it might be the attacker's
// next guess), and ends the back-off once it gets through. Unknown addresses
// go through exactly the same steps.
func TestPairBackOff(t *testing.T) {
	for _, email := range []string{owner, "nobody@example.org"} {
		t.Run(email, func(t *testing.T) {
			e := newEnv(t, bcrypt.MinCost)
			cfg := signin.DefaultConfig()
			var got []string
			for i := 0; i < cfg.FreeFailures; i++ {
				got = append(got, e.try("10.0.0.1", email, "x"))
			}
			for n, wait := 0, cfg.BaseDelay; n < 9; n, wait = n+1, min(2*wait, cfg.MaxDelay) {
				e.now = e.now.Add(wait - time.Second)
				got = append(got, e.try("10.0.0.1", email, password))
				e.now = e.now.Add(time.Second)
				got = append(got, e.try("10.0.0.1", email, "x"))
			}
			want := slices.Repeat([]string{"wrong"}, cfg.FreeFailures)
			want = append(want, slices.Repeat([]string{"throttled", "wrong"}, 9)...)
			if !slices.Equal(got, want) {
				t.Fatalf("outcomes\n got %v\nwant %v", got, want)
			}
			e.now = e.now.Add(cfg.MaxDelay)
			if email == owner {
				if o := e.try("10.0.0.1", email, password); o != "ok" {
					t.Fatalf("after the back-off: %s", o)
				}
				if o := e.try("10.0.0.1", email, "x"); o != "wrong" {
					t.Fatalf("one failure after a success: %s", o)
				}
			}
		})
	}
}

// TestFailuresAreForgotten: a day after the last failure, a pair starts
// again with its free failures.
func TestFailuresAreForgotten(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	cfg := signin.DefaultConfig()
	for i := 0; i < cfg.FreeFailures; i++ {
		e.try("10.0.0.1", owner, "x")
	}
	e.now = e.now.Add(cfg.Forget + time.Minute)
	for i := 0; i < cfg.FreeFailures; i++ {
		if got := e.try("10.0.0.1", owner, "x"); got != "wrong" {
			t.Fatalf("failure %d on the next day: %s", i+1, got)
		}
	}
}

// TestAttackersCannotLockTheOwnerOut: however many addresses guess an
// account's password, however long, the owner signing in from an address
// that has not been failing gets in with the right password; and an owner
// who mistyped is held at most MaxAccountDelay.
func TestAttackersCannotLockTheOwnerOut(t *testing.T) {
	for _, attackers := range []int{1, 3, 60} {
		t.Run(fmt.Sprintf("%d attacking addresses", attackers), func(t *testing.T) {
			e := newEnv(t, bcrypt.MinCost)
			cfg := signin.DefaultConfig()
			for round := 0; round < 20; round++ {
				for a := 0; a < attackers; a++ {
					e.try(fmt.Sprintf("10.1.%d.%d", a/250, a%250), owner, fmt.Sprint("guess", round, a))
				}
				if got := e.try("192.168.0.1", owner, password); got != "ok" {
					t.Fatalf("round %d: the owner got %s", round, got)
				}
				e.now = e.now.Add(time.Minute)
			}
			// The owner mistypes from another address while the attack goes on.
			e.try("192.168.0.2", owner, "typo")
			for a := 0; a < attackers; a++ {
				e.try(fmt.Sprintf("10.1.%d.%d", a/250, a%250), owner, "again")
			}
			e.now = e.now.Add(cfg.MaxAccountDelay)
			if got := e.try("192.168.0.2", owner, password); got != "ok" {
				t.Fatalf("the owner who mistyped, %v later: %s", cfg.MaxAccountDelay, got)
			}
		})
	}
}

// TestAccountBackOffHoldsFailingClients: many addresses guessing one account
// trip its back-off, which refuses further guesses from any of them (and
// any new address after its first failure) without bcrypt work.
func TestAccountBackOffHoldsFailingClients(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	cfg := signin.DefaultConfig()
	for a := 0; a < cfg.AccountFailures; a++ {
		if got := e.try(fmt.Sprint("10.2.0.", a), owner, "x"); got != "wrong" {
			t.Fatalf("address %d: %s", a, got)
		}
	}
	e.compared = nil
	for a := 0; a < cfg.AccountFailures; a++ {
		if got := e.try(fmt.Sprint("10.2.0.", a), owner, "y"); got != "throttled" {
			t.Fatalf("address %d, second guess: %s", a, got)
		}
	}
	if len(e.compared) != 0 {
		t.Fatalf("%d bcrypt comparisons for held clients", len(e.compared))
	}
}

// TestOwnerAlwaysGetsInFromACleanAddress is a property: random attacks (any
// number of addresses, guesses, pauses) never stop the owner signing in
// from an address that has not failed.
func TestOwnerAlwaysGetsInFromACleanAddress(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r := rand.New(rand.NewPCG(seed, seed))
		e := newEnv(t, bcrypt.MinCost)
		for step := 0; step < 300; step++ {
			switch r.IntN(10) {
			default:
				e.try(fmt.Sprint("10.3.0.", r.IntN(40)), owner, "guess")
			case 0, 1:
				e.now = e.now.Add(time.Duration(r.IntN(600)) * time.Second)
			case 2:
				if got := e.try(fmt.Sprint("192.168.1.", step), owner, password); got != "ok" {
					t.Fatalf("seed %d step %d: the owner got %s", seed, step, got)
				}
			}
		}
	}
}

// TestSignInAudit: every checked attempt is audited as a login with ids and
// outcome only (never the address typed, the client or the password); an
// unknown address is audited like a failure, without a person.
func TestSignInAudit(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	e.try("10.0.0.1", owner, password)
	e.try("10.0.0.1", owner, "x")
	e.try("10.0.0.1", "nobody@example.org", "x")
	got, err := e.db.Audit(context.Background(), domain.AuditFilter{Action: domain.ActionLogin})
	must(t, err)
	var summary []string
	for _, a := range got {
		summary = append(summary, fmt.Sprintf("%s %v", a.PersonID, a.Detail))
	}
	want := []string{" map[account:unknown ok:false via:test]", "sup_a map[ok:false via:test]", "sup_a map[ok:true via:test]"}
	if !slices.Equal(summary, want) {
		t.Fatalf("audit\n got %q\nwant %q", summary, want)
	}
}
