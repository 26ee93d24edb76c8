package signin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
	"github.com/joinedup/joinedup/server/sqlite"
	"golang.org/x/crypto/bcrypt"
)

var _ signin.LinkStore = (*sqlite.DB)(nil)

func TestCheckPassword(t *testing.T) {
	p := domain.Person{Name: "Priya Sharma", Email: "priya.sharma@council.example"}
	for _, tc := range []struct {
		name, pw string
		wantIn   string // "" accepted
	}{
		{"three random words", "kettle orbit marigold", ""},
		{"too short", "short1!", "at least 12"},
		{"eleven characters", "abcdefghijk", "at least 12"},
		{"breached", "password1234", "known to attackers"},
		{"breached, other case", "PassWord1234", "known to attackers"},
		{"breached with digits after", "qwertyuiop99999", "known to attackers"},
		{"repeated", "aaaaaaaaaaaaaa", "repeated"},
		{"email", "xx-priya.sharma-xx", "e-mail"},
		{"name", "sharma2025!!", "name"},
		{"too long for bcrypt", strings.Repeat("horse ", 13), "at most 72"},
		{"no forced composition", "all lower case words here", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := signin.CheckPassword(tc.pw, p)
			switch {
			case tc.wantIn == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tc.wantIn)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantIn)
			case err != nil && domain.ErrorCode(err) != domain.EINVALID:
				t.Fatalf("code = %q, want invalid", domain.ErrorCode(err))
			}
		})
	}
}

func TestPasswordLinkAndDeactivatedSignIn(t *testing.T) {
	e := newEnv(t, bcrypt.MinCost)
	ctx := context.Background()
	tok, _, err := e.checker.IssueLink(ctx, e.db, "sup_a", domain.PasswordReset, "admin")
	must(t, err)
	if _, err := e.checker.SetPasswordByLink(ctx, e.db, tok, "password1234"); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("breached password through a link: %v, want invalid", err)
	}
	const fresh = "lantern copper meadow"
	if _, err := e.checker.SetPasswordByLink(ctx, e.db, tok, fresh); err != nil {
		t.Fatalf("set password: %v (a refused password must not use the link up)", err)
	}
	if _, err := e.checker.SetPasswordByLink(ctx, e.db, tok, "another fine phrase"); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("link used twice: %v, want not found", err)
	}
	if got := e.try("10.0.0.1", owner, fresh); got != "ok" {
		t.Fatalf("sign in with the new password: %s", got)
	}
	_, err = e.db.DeactivatePerson(ctx, "sup_a", "admin")
	must(t, err)
	_, err = e.checker.Check(ctx, signin.Attempt{Email: owner, Password: fresh, Client: "10.0.0.1", Via: "test"})
	if !errors.Is(err, signin.ErrDeactivated) {
		t.Fatalf("deactivated person signing in: %v, want ErrDeactivated", err)
	}
	_, err = e.checker.Check(ctx, signin.Attempt{Email: owner, Password: "wrong guess here", Client: "10.0.0.1", Via: "test"})
	if !errors.Is(err, signin.ErrWrongPassword) {
		t.Fatalf("deactivated person, wrong password: %v, want the ordinary wrong-password answer", err)
	}
}
