package postgres_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
)

// One-time things stay one-time when the same request reaches two nodes at
// the same instant (a replayed TOTP code, a recovery code, a password link,
// an enrolment code, a single sign-on state): exactly one node accepts, many
// rounds over.
func TestOneTimeThingsOnceAcrossNodes(t *testing.T) {
	ns := nodes(t, 2)
	ctx := context.Background()
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	const rounds = 40
	race := func(t *testing.T, do func(node int) error) int {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errs[i] = do(i) }()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if c := domain.ErrorCode(err); c != domain.ECONFLICT && c != domain.ENOTFOUND && c != domain.EINVALID && c != domain.EUNAUTHORIZED {
				t.Fatalf("unexpected error: %v", err)
			}
		}
		return ok
	}
	for _, tc := range []struct {
		name  string
		setup func(i int)
		do    func(i, node int) error
	}{
		{"totp step", func(i int) {
			if i == 0 {
				must(t, ns[0].EnrolTOTP(ctx, "sup_a", "JBSWY3DPEHPK3PXP", nil))
			}
		}, func(i, node int) error { return ns[node].UseTOTPStep(ctx, "sup_a", int64(1000+i)) }},
		{"recovery code", func(i int) {
			codes := [][]byte{}
			for j := range rounds {
				codes = append(codes, h(string(rune('a'+j))))
			}
			if i == 0 {
				must(t, ns[0].EnrolTOTP(ctx, "sup_a", "JBSWY3DPEHPK3PXP", codes))
			}
		}, func(i, node int) error { return ns[node].UseRecoveryCode(ctx, "sup_a", h(string(rune('a'+i)))) }},
		{"password link", func(i int) {
			must(t, ns[0].CreatePasswordToken(ctx, domain.PasswordToken{TokenHash: h("link" + string(rune('a'+i))), PersonID: "w_a",
				Purpose: domain.PasswordReset, CreatedBy: "sup_a", Expires: time.Now().Add(time.Hour)}))
		}, func(i, node int) error {
			_, err := ns[node].UsePasswordToken(ctx, h("link"+string(rune('a'+i))), "$2a$x")
			return err
		}},
		{"sso state", func(int) {}, func(i, node int) error {
			fresh, err := ns[node].SpendSSOState(ctx, h("state"+string(rune('a'+i))), time.Now().Add(10*time.Minute))
			if err == nil && !fresh {
				return domain.Errorf(domain.ECONFLICT, "spend sso state", "already spent")
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range rounds {
				tc.setup(i)
				if n := race(t, func(node int) error { return tc.do(i, node) }); n != 1 {
					t.Fatalf("round %d: %d nodes accepted, want exactly 1", i, n)
				}
			}
		})
	}
	t.Run("enrolment code", func(t *testing.T) {
		for i := range rounds {
			code, _, err := ns[0].IssueEnrolmentCode(ctx, "w_a", "sup_a")
			must(t, err)
			if n := race(t, func(node int) error { _, err := ns[node].Enrol(ctx, code, "sim"); return err }); n != 1 {
				t.Fatalf("round %d: %d phones enrolled with one code", i, n)
			}
		}
	})
}
