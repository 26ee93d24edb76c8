package signin

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/joinedup/joinedup/server/domain"
	"golang.org/x/crypto/bcrypt"
)

// Passwords follow the NCSC's guidance (Password policy: updating your
// approach): a generous minimum length instead of composition rules, a deny
// list of the passwords attackers try first, no forced expiry (nothing here
// ever expires a password), and an admin who can unlock and reset.
const (
	MinPasswordLength = 12 // characters: three random words fit easily
	// MaxPasswordBytes is bcrypt's limit; longer input would be cut silently
	// by older libraries and is refused by this one.
	MaxPasswordBytes = 72
	// LinkTTL is how long a set/reset link works.
	LinkTTL = 72 * time.Hour
)

//go:embed breached.txt
var breachedList string

var breached = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(breachedList))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// CheckPassword says why a new password for p is refused (EINVALID, with a
// message to show on the form), or nil.
func CheckPassword(password string, p domain.Person) error {
	bad := func(format string, args ...any) error {
		return domain.Errorf(domain.EINVALID, "set password", format, args...)
	}
	lower := strings.ToLower(password)
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return bad("use at least %d characters; three random words make a strong password that is easy to remember", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return bad("use at most %d bytes", MaxPasswordBytes)
	case breached[lower] || breached[strings.TrimRight(lower, "0123456789!")]:
		return bad("that password is on a list of passwords known to attackers; choose another")
	case len(strings.Fields(lower)) == 1 && strings.Count(lower, string(lower[0])) == len(lower):
		return bad("that password is one character repeated; choose another")
	}
	if local, _, _ := strings.Cut(strings.ToLower(p.Email), "@"); len(local) >= 4 && strings.Contains(lower, local) {
		return bad("do not use your e-mail address in your password")
	}
	for _, w := range strings.Fields(strings.ToLower(p.Name)) {
		if len(w) >= 4 && strings.Contains(lower, w) && len(lower) < len(w)+MinPasswordLength {
			return bad("do not build your password around your name")
		}
	}
	return nil
}

// AccountKey is the key failed sign-ins for an e-mail address are counted
// under (what an admin's unlock clears).
func AccountKey(email string) []byte { return key("account", normaliseEmail(email)) }

func normaliseEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// LinkStore is what password links need from storage.
type LinkStore interface {
	CreatePasswordToken(ctx context.Context, t domain.PasswordToken) error
	PasswordLink(ctx context.Context, tokenHash []byte) (domain.Person, error)
	UsePasswordToken(ctx context.Context, tokenHash []byte, passwordHash string) (domain.Person, error)
}

// IssueLink makes a one-time set/reset link token for a person: the token
// goes in the link (shown once to the admin), its hash to the store.
func (s *Checker) IssueLink(ctx context.Context, st LinkStore, personID, purpose, by string) (token string, expires time.Time, err error) {
	token = NewToken()
	expires = s.cfg.Now().Add(LinkTTL)
	err = st.CreatePasswordToken(ctx, domain.PasswordToken{TokenHash: HashToken(token), PersonID: personID,
		Purpose: purpose, CreatedBy: by, Expires: expires})
	return token, expires, err
}

// SetPasswordByLink sets the password of the link's person if it passes
// CheckPassword; the link is then used up.
func (s *Checker) SetPasswordByLink(ctx context.Context, st LinkStore, token, password string) (domain.Person, error) {
	p, err := st.PasswordLink(ctx, HashToken(token))
	if err != nil {
		return p, err
	}
	if err := CheckPassword(password, p); err != nil {
		return p, err
	}
	hash, err := s.HashPassword(password)
	if err != nil {
		return p, err
	}
	return st.UsePasswordToken(ctx, HashToken(token), hash)
}

// HashPassword hashes a password at the configured cost.
func (s *Checker) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.Cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewToken is a random URL-safe token (256 bits).
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is what is stored of a token.
func HashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}
