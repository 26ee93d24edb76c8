package portal

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/server/signin"
)

// Accounts is the administration of staff accounts (domain.Accounts) and
// the directory edits admins make.
type Accounts interface {
	SetPersonLanguage(ctx context.Context, personID, lang string) error
	signin.LinkStore
	ClearSignInFailures(ctx context.Context, account []byte, personID, by string) error
	DeactivatePerson(ctx context.Context, personID, by string) (domain.Deactivation, error)
	EndSessions(ctx context.Context, personID string, only, keep []byte, by string) (int, error)
	PersonSessions(ctx context.Context, personID string) ([]domain.StaffSession, error)
	UpsertPerson(ctx context.Context, p domain.Person) error
	UpsertPeople(ctx context.Context, ps []domain.Person) error
	UpsertArea(ctx context.Context, a domain.Area) error
	UpsertTeam(ctx context.Context, t domain.Team) error
	EnrolTOTP(ctx context.Context, personID, secret string, recovery [][]byte) error
	UseTOTPStep(ctx context.Context, personID string, step int64) error
	UseRecoveryCode(ctx context.Context, personID string, codeHash []byte) error
	ResetTOTP(ctx context.Context, personID, by string) error
	SetSessionStage(ctx context.Context, tokenHash []byte, stage string) error
}

// registerPasswordRoutes mounts the one-time set-password link; it is
// reached signed out, so it is registered before the session check.
func registerPasswordRoutes(r fiber.Router, p *Portal) {
	r.Get("/set-password", p.handleSetPasswordForm)
	r.Post("/set-password", p.handleSetPassword)
	r.Get("/login/second-factor", p.handleSecondFactorForm)
	r.Post("/login/second-factor", p.handleSecondFactor)
}

// registerAccountRoutes mounts a person's own sessions page.
func registerAccountRoutes(a fiber.Router, p *Portal) {
	a.Get("/account", p.handleAccount)
	a.Post("/account/sessions/end", p.handleEndOwnSession)
	a.Post("/account/language", p.handleSetLanguage)
}

// handleSetPasswordForm serves GET /portal/set-password?token=.
func (p *Portal) handleSetPasswordForm(c *fiber.Ctx) error {
	return p.setPasswordPage(c, fiber.StatusOK, "")
}

func (p *Portal) setPasswordPage(c *fiber.Ctx, status int, msg string) error {
	token := c.Query("token")
	if token == "" {
		token = c.FormValue("token")
	}
	person, err := p.store.PasswordLink(c.UserContext(), signin.HashToken(token))
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		c.Status(fiber.StatusGone)
		return p.render(c, "set_password", "Set your password", map[string]any{"Dead": true})
	} else if err != nil {
		return err
	}
	tok := randomToken()
	p.setCookie(c, preCookie, tok, 3600)
	c.Locals("precsrf", tok)
	c.Status(status)
	return p.render(c, "set_password", "Set your password", map[string]any{"Error": msg, "Token": token,
		"Name": person.Name, "Email": person.Email, "Min": signin.MinPasswordLength})
}

// handleSetPassword serves POST /portal/set-password: the link's person
// chooses a password (NCSC rules: signin.CheckPassword); the link is used up.
func (p *Portal) handleSetPassword(c *fiber.Ctx) error {
	pre := c.Cookies(preCookie)
	if pre == "" || subtle.ConstantTimeCompare([]byte(pre), []byte(c.FormValue(csrfField))) != 1 {
		return p.setPasswordPage(c, fiber.StatusForbidden, "The form had expired. Please try again.")
	}
	pw := c.FormValue("password")
	if pw != c.FormValue("confirm") {
		return p.setPasswordPage(c, fiber.StatusUnprocessableEntity, "The two passwords are not the same.")
	}
	_, err := p.signin.SetPasswordByLink(c.UserContext(), p.store, c.FormValue("token"), pw)
	switch domain.ErrorCode(err) {
	case "":
	case domain.EINVALID:
		return p.setPasswordPage(c, fiber.StatusUnprocessableEntity, p.tr(c).T("Choose another password: %s.", p.errText(c, err)))
	case domain.ENOTFOUND:
		return p.setPasswordPage(c, fiber.StatusGone, "")
	default:
		return err
	}
	p.setCookie(c, preCookie, "", -1)
	return p.redirect(c, "/login?done=password-set")
}

// sessionRow is one session as a person or an admin sees it: the id is a
// prefix of the token's hash, which cannot be used to sign in.
type sessionRow struct {
	ID      string
	Current bool
	domain.StaffSession
}

func (p *Portal) sessionRows(c *fiber.Ctx, personID string) ([]sessionRow, error) {
	ss, err := p.store.PersonSessions(c.UserContext(), personID)
	if err != nil {
		return nil, err
	}
	out := make([]sessionRow, len(ss))
	for i, s := range ss {
		out[i] = sessionRow{ID: hex.EncodeToString(s.TokenHash[:8]), StaffSession: s,
			Current: sess(c) != nil && subtle.ConstantTimeCompare(s.TokenHash, sess(c).tokenHash) == 1}
	}
	return out, nil
}

// sessionByID finds one of personID's sessions by its row id.
func (p *Portal) sessionByID(c *fiber.Ctx, personID, id string) ([]byte, error) {
	rows, err := p.sessionRows(c, personID)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if id != "" && r.ID == strings.ToLower(id) {
			return r.TokenHash, nil
		}
	}
	return nil, errNotFound
}

// handleAccount serves GET /portal/account: the person's own sessions.
func (p *Portal) handleAccount(c *fiber.Ctx) error {
	rows, err := p.sessionRows(c, sess(c).Person.ID)
	if err != nil {
		return err
	}
	type choice struct{ Code, Name string }
	var langs []choice
	for _, l := range i18n.Languages {
		langs = append(langs, choice{l, i18n.Name[l]})
	}
	return p.render(c, "account", "Your account", map[string]any{"Sessions": rows, "Languages": langs, "Lang": sess(c).Person.Lang})
}

// handleEndOwnSession serves POST /portal/account/sessions/end: end one of
// your own sessions (id), or all others (all=1).
func (p *Portal) handleEndOwnSession(c *fiber.Ctx) error {
	me := sess(c)
	if c.FormValue("all") == "1" {
		if _, err := p.store.EndSessions(c.UserContext(), me.Person.ID, nil, me.tokenHash, me.Person.ID); err != nil {
			return err
		}
		return p.redirect(c, "/account?done=signed-out-elsewhere")
	}
	h, err := p.sessionByID(c, me.Person.ID, c.FormValue("id"))
	if err != nil {
		return err
	}
	if _, err := p.store.EndSessions(c.UserContext(), me.Person.ID, h, nil, me.Person.ID); err != nil {
		return err
	}
	return p.redirect(c, "/account?done=session-ended")
}

// isFormError is a refusal to show on the form (bad input, a clash), as
// opposed to a fault.
func isFormError(err error) bool {
	var code = domain.ErrorCode(err)
	return err != nil && !errors.Is(err, errNotFound) && (code == domain.EINVALID || code == domain.ECONFLICT)
}

// The banners of account administration (see flash.go), kept here so the
// shared table is not edited by every feature.
func init() {
	for k, v := range map[string]string{
		"password-set":         "Your password is set. Sign in with it.",
		"session-ended":        "That session is ended.",
		"signed-out-elsewhere": "You are signed out everywhere else.",
		"sessions-ended":       "Sessions ended.",
		"unlocked":             "Unlocked: failed sign-ins are forgotten.",
		"two-factor-reset":     "Two-step sign-in reset: they enrol again at their next sign-in.",
		"team-created":         "Team added.",
		"service-created":      "Service added.",
		"language-saved":       "Language saved.",
	} {
		flashMessages[k] = v
	}
}
