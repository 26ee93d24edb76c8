package portal

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// Single sign-on (OpenID Connect) on the portal: /login/sso sends the
// browser to the organisation's provider with a fresh state and nonce (kept
// in a short cookie); /login/sso/callback checks them, verifies the ID token
// (server/signin) and signs in the existing, active person with that e-mail
// address. Every refusal is a clear page and an audit entry.

const ssoCookie = "ju_sso"

// ssoFlow is the portal's single sign-on, when configured. Spent states
// are kept in the store, not here: behind a load balancer the replayed
// callback may reach another node.
type ssoFlow struct {
	rp *signin.SSO
}

func newSSOFlow(rp *signin.SSO) *ssoFlow {
	if rp == nil {
		return nil
	}
	return &ssoFlow{rp: rp}
}

const ssoWindow = 10 * time.Minute

func registerSSORoutes(r fiber.Router, p *Portal) {
	r.Get("/login/sso", p.handleSSOStart)
	r.Get("/login/sso/callback", p.handleSSOCallback)
}

// handleSSOStart serves GET /portal/login/sso.
func (p *Portal) handleSSOStart(c *fiber.Ctx) error {
	if p.sso == nil {
		return errNotFound
	}
	state, nonce := randomToken(), randomToken()
	// The callback is a top-level GET arriving from the provider's site,
	// which SameSite=Strict cookies do not accompany: this one cookie, scoped
	// to the SSO paths and holding nothing that signs anyone in, is Lax.
	c.Cookie(&fiber.Cookie{Name: ssoCookie, Value: state + "." + nonce, Path: p.cfg.Prefix + "/login/sso",
		MaxAge: int(ssoWindow.Seconds()), Secure: !p.cfg.InsecureCookies, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(p.sso.rp.AuthURL(state, nonce), fiber.StatusSeeOther)
}

// handleSSOCallback serves GET /portal/login/sso/callback.
func (p *Portal) handleSSOCallback(c *fiber.Ctx) error {
	if p.sso == nil {
		return errNotFound
	}
	ctx := c.UserContext()
	saved := c.Cookies(ssoCookie)
	c.Cookie(&fiber.Cookie{Name: ssoCookie, Value: "", Path: p.cfg.Prefix + "/login/sso", MaxAge: -1,
		Secure: !p.cfg.InsecureCookies, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	state, nonce, _ := strings.Cut(saved, ".")
	got := c.Query("state")
	switch {
	case c.Query("error") != "":
		return p.ssoRefused(c, "provider refused", "", "Your organisation's sign-in was cancelled or refused.")
	case state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(got)) != 1:
		return p.ssoRefused(c, "state mismatch", "", "This sign-in link was not started in this browser, or has expired. Start again.")
	}
	fresh, err := p.store.SpendSSOState(ctx, hashToken(state), p.now().Add(ssoWindow))
	if err != nil {
		return err
	} else if !fresh {
		return p.ssoRefused(c, "state replayed", "", "This sign-in link has already been used. Start again.")
	}
	id, why, err := p.sso.rp.Exchange(ctx, c.Query("code"), nonce)
	if err != nil {
		return p.ssoRefused(c, why, "", p.errText(c, err)+".")
	}
	person, why, err := signin.SSOPerson(ctx, p.store, id)
	if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
		return p.ssoRefused(c, why, person.ID, p.errText(c, err)+".")
	} else if err != nil {
		return err
	}
	stage := signin.NeedsSecondFactor(person, p.cfg.TwoFactorRoles)
	if id.MFA {
		stage = "" // the organisation's provider already asked for a second factor
	}
	now := p.now()
	tok := randomToken()
	if err := p.store.CreateSession(ctx, domain.StaffSession{TokenHash: hashToken(tok), PersonID: person.ID, CSRF: randomToken(),
		Created: now, LastSeen: now, Expires: now.Add(p.cfg.SessionMax), Stage: stage}); err != nil {
		return err
	}
	if err := p.store.AppendAudit(ctx, domain.AuditEntry{PersonID: person.ID, Action: domain.ActionLogin,
		Detail: map[string]any{"ok": true, "via": "sso", "provider_mfa": id.MFA}}); err != nil {
		return err
	}
	p.setCookie(c, sessionCookie, tok, int(p.cfg.SessionMax.Seconds()))
	if stage != "" {
		return p.redirect(c, "/login/second-factor")
	}
	return p.redirect(c, "/")
}

// ssoRefused audits a refused single sign-on (the reason, never the
// address) and says so plainly.
func (p *Portal) ssoRefused(c *fiber.Ctx, why, personID, msg string) error {
	if err := p.store.AppendAudit(c.UserContext(), domain.AuditEntry{PersonID: personID, Action: domain.ActionLogin,
		Detail: map[string]any{"ok": false, "via": "sso", "reason": why}}); err != nil {
		return err
	}
	c.Status(fiber.StatusUnauthorized)
	return p.render(c, "sso_refused", "Sign-in refused", map[string]any{"Message": p.word(c, msg)})
}
