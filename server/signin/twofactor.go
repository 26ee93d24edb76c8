package signin

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Two-factor sign-in: TOTP (RFC 6238: 6 digits, 30-second steps, SHA-1, the
// parameters every authenticator app reads from the QR code) through
// github.com/pquerna/otp, plus one-time recovery codes.

// TwoFactorRoles must enrol a second factor before they can use the portal.
var TwoFactorRoles = []string{domain.RoleSupervisor, domain.RoleAdmin}

const (
	totpPeriod    = 30
	recoveryCount = 10
)

// TwoFactorStore is what second-factor checks need from storage.
type TwoFactorStore interface {
	Store
	UseTOTPStep(ctx context.Context, personID string, step int64) error
	UseRecoveryCode(ctx context.Context, personID string, codeHash []byte) error
}

// ErrWrongCode answers a wrong, reused or expired code.
var ErrWrongCode = domain.Errorf(domain.EUNAUTHORIZED, "two-factor", "that code is not right; enter the current code from your authenticator app")

// NewTOTP makes a new secret for p and its otpauth:// URL (for the QR code).
func (s *Checker) NewTOTP(p domain.Person, issuer string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: p.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("totp: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// ValidTOTP reports which time step (now, or one either side for clock
// drift) code belongs to for secret.
func (s *Checker) ValidTOTP(secret, code string) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	now := s.cfg.Now()
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && want == code {
			return at.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// CheckSecondFactor checks a TOTP code, or a recovery code, for p (who has
// enrolled). Failures are throttled and audited as sign-in attempts, under
// an account key of their own, so six digits cannot be guessed quickly; a
// code is accepted once.
func (s *Checker) CheckSecondFactor(ctx context.Context, st TwoFactorStore, p domain.Person, code, client string) error {
	now := s.cfg.Now()
	rec := domain.SignInAttempt{Account: key("second factor", p.ID), Client: key("client", client), PersonID: p.ID,
		ForgetBefore: now.Add(-s.cfg.Forget), Via: "portal second factor"}
	f, err := st.SignInFailures(ctx, rec.Account, rec.Client)
	if err != nil {
		return fmt.Errorf("second factor: %w", err)
	}
	if wait := s.wait(f, now); wait > 0 {
		rec.Throttled = true
		if err := st.RecordSignIn(ctx, rec); err != nil {
			return err
		}
		return &Throttled{Wait: wait}
	}
	if step, ok := s.ValidTOTP(p.TOTPSecret, code); ok && p.TOTPSecret != "" {
		err := st.UseTOTPStep(ctx, p.ID, step)
		rec.OK = err == nil
		if err != nil && domain.ErrorCode(err) != domain.ECONFLICT {
			return err
		}
	} else if rc := normaliseRecovery(code); len(rc) == 16 {
		err := st.UseRecoveryCode(ctx, p.ID, HashToken(rc))
		rec.OK = err == nil
		if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
			return err
		}
	}
	if err := st.RecordSignIn(ctx, rec); err != nil {
		return err
	}
	if !rec.OK {
		return ErrWrongCode
	}
	return nil
}

// RecoveryCodes makes fresh recovery codes (shown once) and their hashes (stored).
func RecoveryCodes() (codes []string, hashes [][]byte) {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789" // no 0/o, 1/l/i
	for range recoveryCount {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		c := string(b)
		codes = append(codes, c[:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:])
		hashes = append(hashes, HashToken(c))
	}
	return codes, hashes
}

func normaliseRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// NeedsSecondFactor is the stage a password sign-in of p leads to: a code
// (enrolled), enrolment (a role that must have one), or "" (signed in).
func NeedsSecondFactor(p domain.Person, roles []string) string {
	switch {
	case p.TOTPSecret != "":
		return domain.StageTOTP
	case slices.Contains(roles, p.Role):
		return domain.StageEnrol
	}
	return ""
}
