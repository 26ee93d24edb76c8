package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/httperr"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/server/signin"
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
	return p.render(c, "login", "Sign in", map[string]any{"Error": msg, "Next": safeNext(p.cfg.Prefix, next), "Email": c.FormValue("email"),
		"SSO": p.sso != nil})
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

// handleLogin serves POST /portal/login through the one staff sign-in
// (server/signin, shared with the API's HTTP Basic): the same answers for
// addresses with and without accounts, throttled per client and account.
func (p *Portal) handleLogin(c *fiber.Ctx) error {
	pre := c.Cookies(preCookie)
	if pre == "" || subtle.ConstantTimeCompare([]byte(pre), []byte(c.FormValue(csrfField))) != 1 {
		return p.loginPage(c, fiber.StatusForbidden, "Your sign-in form had expired. Please try again.")
	}
	ctx := c.UserContext()
	email, password := c.FormValue("email"), c.FormValue("password")
	if strings.TrimSpace(email) == "" || password == "" {
		return p.loginPage(c, fiber.StatusUnprocessableEntity, "Enter your e-mail address and password.")
	}
	person, err := p.signin.Check(ctx, signin.Attempt{Email: email, Password: password, Client: c.IP(), Via: "portal"})
	if wait, ok := signin.IsThrottled(err); ok {
		httperr.SetRetryAfter(c, wait)
		return p.loginPage(c, fiber.StatusTooManyRequests, p.tr(c).T("Too many sign-in attempts. Please wait %s and try again; ask an admin if you need access sooner.", waitText(p.tr(c), wait)))
	} else if errors.Is(err, signin.ErrDeactivated) {
		return p.loginPage(c, fiber.StatusUnauthorized, "This account has been deactivated. Ask an admin if you think this is a mistake.")
	} else if errors.Is(err, signin.ErrWrongPassword) {
		return p.loginPage(c, fiber.StatusUnauthorized, badLogin)
	} else if err != nil {
		return err
	}
	now := p.now()
	// A fresh token at every sign-in: a token planted before sign-in is useless.
	tok := randomToken()
	stage := signin.NeedsSecondFactor(person, p.cfg.TwoFactorRoles)
	if err := p.store.CreateSession(ctx, domain.StaffSession{TokenHash: hashToken(tok), PersonID: person.ID, CSRF: randomToken(),
		Created: now, LastSeen: now, Expires: now.Add(p.cfg.SessionMax), Stage: stage}); err != nil {
		return err
	}
	p.setCookie(c, sessionCookie, tok, int(p.cfg.SessionMax.Seconds()))
	p.setCookie(c, preCookie, "", -1)
	if stage != "" {
		return c.Redirect(p.cfg.Prefix+"/login/second-factor?next="+url.QueryEscape(c.FormValue("next")), fiber.StatusSeeOther)
	}
	if next := safeNext(p.cfg.Prefix, c.FormValue("next")); next != "" {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	return p.redirect(c, "/")
}

// waitText says how long to wait, in words, rounded up to a minute.
func waitText(pr *i18n.Printer, d time.Duration) string {
	return pr.T("%d minutes", max(int(math.Ceil(d.Minutes())), 1))
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
	if stored.Stage != "" { // password given, second factor not yet
		return c.Redirect(p.cfg.Prefix+"/login/second-factor", fiber.StatusSeeOther)
	}
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
	if !s.Person.Deactivated.IsZero() { // deactivation ends sessions; this is the backstop
		if err := p.store.DeleteSession(ctx, s.tokenHash); err != nil {
			return err
		}
		return toLogin()
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
		return refusal(domain.EFORBIDDEN, "This form came from another site and was refused.")
	}
	s := sess(c)
	if subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(c.FormValue(csrfField))) != 1 {
		return refusal(domain.EFORBIDDEN, "The form had expired or was not sent from this portal. Go back, reload the page and try again.")
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
	return p.render(c, "worker", "Welcome", nil)
}
