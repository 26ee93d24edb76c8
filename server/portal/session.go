package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"golang.org/x/crypto/bcrypt"
)

const (
	sessionCookie = "ju_session"
	preCookie     = "ju_pre" // double-submit CSRF token for the sign-in form
	csrfField     = "_csrf"
)

// session is the signed-in person for one request.
type session struct {
	Person    domain.Person
	Scope     domain.Scope
	CSRF      string
	tokenHash []byte
}

func sess(c *fiber.Ctx) *session {
	s, _ := c.Locals("session").(*session)
	return s
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func (p *Portal) setCookie(c *fiber.Ctx, name, value string, maxAge int) {
	c.Cookie(&fiber.Cookie{Name: name, Value: value, Path: p.cfg.Prefix, MaxAge: maxAge, Secure: !p.cfg.InsecureCookies,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
}

// dummyHash keeps a sign-in for an unknown address as slow as a real one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

// handleLoginForm serves GET /portal/login.
func (p *Portal) handleLoginForm(c *fiber.Ctx) error {
	return p.loginPage(c, fiber.StatusOK, "")
}

func (p *Portal) loginPage(c *fiber.Ctx, status int, msg string) error {
	tok := randomToken()
	p.setCookie(c, preCookie, tok, 3600)
	c.Locals("precsrf", tok)
	c.Status(status)
	next := c.Query("next")
	if next == "" {
		next = c.FormValue("next")
	}
	return p.render(c, "login", "Sign in", map[string]any{"Error": msg, "Next": safeNext(p.cfg.Prefix, next), "Email": c.FormValue("email")})
}

// safeNext keeps a post-sign-in redirect inside the portal.
func safeNext(prefix, next string) string {
	if !strings.HasPrefix(next, prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return ""
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return next
}

const badLogin = "That e-mail address and password do not match an account."

// handleLogin serves POST /portal/login: bcrypt check, lockout after
// MaxFailures failures for LockFor (per address, known or not, and per account).
func (p *Portal) handleLogin(c *fiber.Ctx) error {
	pre := c.Cookies(preCookie)
	if pre == "" || subtle.ConstantTimeCompare([]byte(pre), []byte(c.FormValue(csrfField))) != 1 {
		return p.loginPage(c, fiber.StatusForbidden, "Your sign-in form had expired. Please try again.")
	}
	ctx := c.UserContext()
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	password := c.FormValue("password")
	now := p.now()
	if email == "" || password == "" {
		return p.loginPage(c, fiber.StatusUnprocessableEntity, "Enter your e-mail address and password.")
	}
	emailHash := hashToken("login:" + email)
	lockedUntil, err := p.store.SignInLockedUntil(ctx, emailHash)
	if err != nil {
		return err
	}
	person, perr := p.store.PersonByEmail(ctx, email)
	known := perr == nil
	if perr != nil && syncengine.ErrorCode(perr) != domain.ENOTFOUND {
		return perr
	}
	locked := lockedUntil.After(now) || known && person.LockedUntil.After(now)
	if locked {
		if known {
			if err := p.store.AppendAudit(ctx, domain.AuditEntry{PersonID: person.ID, Action: domain.ActionLogin,
				Detail: map[string]any{"ok": false, "locked": true, "via": "portal"}}); err != nil {
				return err
			}
		}
		return p.loginPage(c, fiber.StatusTooManyRequests, "Too many failed sign-in attempts. The account is locked for 15 minutes; ask an admin if you need access sooner.")
	}
	hash := dummyHash
	if known && person.PasswordHash != "" {
		hash = []byte(person.PasswordHash)
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && known && person.PasswordHash != ""
	if known {
		if err := p.store.RecordLogin(ctx, person.ID, ok, p.cfg.MaxFailures, p.cfg.LockFor); err != nil {
			return err
		}
	}
	if !ok {
		if err := p.store.RecordFailedSignIn(ctx, emailHash, now, p.cfg.MaxFailures, p.cfg.LockFor); err != nil {
			return err
		}
		return p.loginPage(c, fiber.StatusUnauthorized, badLogin)
	}
	if err := p.store.ClearFailedSignIns(ctx, emailHash); err != nil {
		return err
	}
	// A fresh token at every sign-in: a token planted before sign-in is useless.
	tok := randomToken()
	if err := p.store.CreateSession(ctx, domain.StaffSession{TokenHash: hashToken(tok), PersonID: person.ID, CSRF: randomToken(),
		Created: now, LastSeen: now, Expires: now.Add(p.cfg.SessionMax)}); err != nil {
		return err
	}
	p.setCookie(c, sessionCookie, tok, int(p.cfg.SessionMax.Seconds()))
	p.setCookie(c, preCookie, "", -1)
	if next := safeNext(p.cfg.Prefix, c.FormValue("next")); next != "" {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	return p.redirect(c, "/")
}

// handleLogout serves POST /portal/logout.
func (p *Portal) handleLogout(c *fiber.Ctx) error {
	if err := p.store.DeleteSession(c.UserContext(), sess(c).tokenHash); err != nil {
		return err
	}
	p.setCookie(c, sessionCookie, "", -1)
	return p.redirect(c, "/login?done=signed-out")
}

// authenticate loads the session, the person and their current scope (read
// afresh on every request, so a role or team change applies at once).
func (p *Portal) authenticate(c *fiber.Ctx) error {
	tok := c.Cookies(sessionCookie)
	toLogin := func() error {
		if c.Method() == fiber.MethodGet {
			return c.Redirect(p.cfg.Prefix+"/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		return p.redirect(c, "/login")
	}
	if tok == "" {
		return toLogin()
	}
	ctx := c.UserContext()
	now := p.now()
	s := &session{tokenHash: hashToken(tok)}
	stored, err := p.store.Session(ctx, s.tokenHash)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return toLogin()
	} else if err != nil {
		return err
	}
	s.CSRF = stored.CSRF
	if !stored.Expires.After(now) || !stored.LastSeen.After(now.Add(-p.cfg.SessionIdle)) {
		if err := p.store.DeleteSession(ctx, s.tokenHash); err != nil {
			return err
		}
		return toLogin()
	}
	if stored.LastSeen.Before(now.Add(-time.Minute)) {
		if err := p.store.TouchSession(ctx, s.tokenHash, now); err != nil {
			return err
		}
	}
	if s.Person, err = p.store.Person(ctx, stored.PersonID); err != nil {
		return err
	}
	if s.Scope, err = p.store.ScopeOf(ctx, s.Person); err != nil {
		return err
	}
	c.Locals("session", s)
	return c.Next()
}

// checkCSRF refuses a state-changing request whose form does not carry the
// session's token, or that comes from another origin.
func (p *Portal) checkCSRF(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		return c.Next()
	}
	if o := c.Get("Origin"); o != "" && o != "null" && o != c.BaseURL() {
		return &syncengine.Error{Code: domain.EFORBIDDEN, Message: "This form came from another site and was refused."}
	}
	s := sess(c)
	if subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(c.FormValue(csrfField))) != 1 {
		return &syncengine.Error{Code: domain.EFORBIDDEN, Message: "The form had expired or was not sent from this portal. Go back, reload the page and try again."}
	}
	return c.Next()
}

// requireRole lets only the given roles through.
func (p *Portal) requireRole(roles ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !slices.Contains(roles, sess(c).Person.Role) {
			return errForbidden
		}
		return c.Next()
	}
}

// handleHome serves GET /portal/: each role starts on its own page.
func (p *Portal) handleHome(c *fiber.Ctx) error {
	switch sess(c).Person.Role {
	case domain.RoleSupervisor, domain.RoleAdmin:
		return p.redirect(c, "/dashboard")
	case domain.RolePractitioner:
		return p.redirect(c, "/service")
	}
	return p.redirect(c, "/worker")
}

// handleWorkerHome serves GET /portal/worker: youth workers use the phone app.
func (p *Portal) handleWorkerHome(c *fiber.Ctx) error {
	return p.render(c, "worker", "JoinedUp", nil)
}
