package portal

import (
	"crypto/subtle"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/httperr"
	"github.com/joinedup/joinedup/server/signin"
)

// The second step of sign-in: a TOTP code (or a recovery code), or, for a
// role that must have one, enrolling an authenticator app first. The
// session exists from the password step but opens nothing until its stage
// is cleared here.

// pendingSession is the signed-in-by-password session waiting for its
// second factor, or nil (then the caller sends the browser to sign in).
func (p *Portal) pendingSession(c *fiber.Ctx) (*session, string, error) {
	tok := c.Cookies(sessionCookie)
	if tok == "" {
		return nil, "", nil
	}
	stored, err := p.store.Session(c.UserContext(), hashToken(tok))
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return nil, "", nil
	} else if err != nil {
		return nil, "", err
	}
	now := p.now()
	if stored.Stage == "" || !stored.Expires.After(now) || !stored.LastSeen.After(now.Add(-p.cfg.SessionIdle)) {
		return nil, "", nil
	}
	person, err := p.store.Person(c.UserContext(), stored.PersonID)
	if err != nil || !person.Deactivated.IsZero() {
		return nil, "", err
	}
	return &session{Person: person, CSRF: stored.CSRF, tokenHash: stored.TokenHash}, stored.Stage, nil
}

// handleSecondFactorForm serves GET /portal/login/second-factor.
func (p *Portal) handleSecondFactorForm(c *fiber.Ctx) error {
	return p.secondFactorPage(c, fiber.StatusOK, "", "")
}

func (p *Portal) secondFactorPage(c *fiber.Ctx, status int, msg, secret string) error {
	s, stage, err := p.pendingSession(c)
	if err != nil {
		return err
	}
	if s == nil {
		return p.redirect(c, "/login")
	}
	c.Locals("precsrf", s.CSRF)
	data := map[string]any{"Stage": stage, "Error": msg, "Next": safeNext(p.cfg.Prefix, c.Query("next", c.FormValue("next")))}
	if stage == domain.StageEnrol {
		var otpURL string
		if secret == "" {
			if secret, otpURL, err = p.signin.NewTOTP(s.Person, "JoinedUp"); err != nil {
				return err
			}
		} else {
			otpURL = (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/JoinedUp:" + s.Person.Email,
				RawQuery: url.Values{"secret": {secret}, "issuer": {"JoinedUp"}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}.Encode()}).String()
		}
		svg, err := qrSVG(otpURL, p.tr(c).T("QR code for your authenticator app"))
		if err != nil {
			return err
		}
		data["Secret"], data["QR"] = secret, svg
	}
	c.Status(status)
	return p.render(c, "second_factor", "Two-step sign-in", data)
}

// handleSecondFactor serves POST /portal/login/second-factor.
func (p *Portal) handleSecondFactor(c *fiber.Ctx) error {
	s, stage, err := p.pendingSession(c)
	if err != nil {
		return err
	}
	if s == nil {
		return p.redirect(c, "/login")
	}
	if subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(c.FormValue(csrfField))) != 1 {
		return p.secondFactorPage(c, fiber.StatusForbidden, "The form had expired. Please try again.", "")
	}
	ctx, code := c.UserContext(), c.FormValue("code")
	next := safeNext(p.cfg.Prefix, c.FormValue("next"))
	switch stage {
	case domain.StageTOTP:
		err := p.signin.CheckSecondFactor(ctx, p.store, s.Person, code, c.IP())
		if wait, ok := signin.IsThrottled(err); ok {
			httperr.SetRetryAfter(c, wait)
			return p.secondFactorPage(c, fiber.StatusTooManyRequests, p.tr(c).T("Too many wrong codes. Please wait %s.", waitText(p.tr(c), wait)), "")
		} else if err != nil && domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			return p.secondFactorPage(c, fiber.StatusUnauthorized, p.errText(c, err)+".", "")
		} else if err != nil {
			return err
		}
	case domain.StageEnrol:
		secret := c.FormValue("secret")
		step, ok := p.signin.ValidTOTP(secret, code)
		if !ok || len(secret) < 16 {
			return p.secondFactorPage(c, fiber.StatusUnprocessableEntity,
				"That code does not match. Scan the QR code again and enter the code your app shows now.", secret)
		}
		codes, hashes := signin.RecoveryCodes()
		if err := p.store.EnrolTOTP(ctx, s.Person.ID, secret, hashes); err != nil {
			return err
		}
		if err := p.store.UseTOTPStep(ctx, s.Person.ID, step); err != nil {
			return err
		}
		if err := p.store.SetSessionStage(ctx, s.tokenHash, ""); err != nil {
			return err
		}
		c.Locals("session", s)
		return p.render(c, "recovery_codes", "Recovery codes", map[string]any{"Codes": codes, "Next": next})
	default:
		return p.redirect(c, "/login")
	}
	if err := p.store.SetSessionStage(ctx, s.tokenHash, ""); err != nil {
		return err
	}
	if next != "" {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	return p.redirect(c, "/")
}

// handleAdminResetTwoFactor serves POST /portal/admin/people/:id/reset-two-factor
// (a lost phone): the person enrols again at their next sign-in.
func (p *Portal) handleAdminResetTwoFactor(c *fiber.Ctx) error {
	person, err := p.adminTarget(c)
	if err != nil {
		return err
	}
	if err := p.store.ResetTOTP(c.UserContext(), person.ID, sess(c).Person.ID); err != nil {
		return err
	}
	return p.redirect(c, "/admin/people/"+person.ID+"?done=two-factor-reset")
}
