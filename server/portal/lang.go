package portal

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// lang is the language of this request's pages: the signed-in person's own
// choice, else the browser's Accept-Language, else English.
func (p *Portal) lang(c *fiber.Ctx) string {
	if l, ok := c.Locals("lang").(string); ok {
		return l
	}
	setting := ""
	if s := sess(c); s != nil {
		setting = s.Person.Lang
	}
	l := i18n.Match(setting, c.Get(fiber.HeaderAcceptLanguage))
	c.Locals("lang", l)
	return l
}

// tr is the printer of this request's language, for text made in Go
// (titles, timeline entries, report notes).
func (p *Portal) tr(c *fiber.Ctx) *i18n.Printer { return i18n.For(p.lang(c)) }

// userError is a refusal whose message is a catalogue key and its
// arguments, so the error page can word it in the reader's language. It
// unwraps to the *syncengine.Error that httperr maps to a status.
type userError struct {
	err  *syncengine.Error
	key  string
	args []any
}

func (e *userError) Error() string { return e.err.Error() }
func (e *userError) Unwrap() error { return e.err }

// refusal is an error with a code whose message is translated on the page.
func refusal(code, format string, args ...any) error {
	return &userError{err: &syncengine.Error{Code: code, Message: fmt.Sprintf(format, args...)}, key: format, args: args}
}

func invalid(format string, args ...any) error { return refusal(domain.EINVALID, format, args...) }

// message words err for the reader: a portal refusal from the catalogue; a
// store's or the engine's message when the catalogue knows it; otherwise
// as the error says it.
func (p *Portal) message(c *fiber.Ctx, err error, fallback string) string {
	pr := p.tr(c)
	var ue *userError
	if errors.As(err, &ue) {
		return pr.T(ue.key, ue.args...)
	}
	if key, args, ok := domain.ErrorText(err); ok && domain.ErrorCode(err) != domain.EINTERNAL {
		return pr.Refusal(key, args)
	}
	if i18n.Has(pr.Lang, fallback) || pr.Lang == i18n.English {
		return pr.T(fallback)
	}
	return fallback
}

// errText words err for a form's message: as message does, with the
// store's English message as the last resort.
func (p *Portal) errText(c *fiber.Ctx, err error) string {
	return p.message(c, err, domain.ErrorMessage(err))
}

// word translates s when the catalogue holds it (a portal message, or one
// of the store's refusals that has been translated), else shows it as it is.
func (p *Portal) word(c *fiber.Ctx, s string) string {
	pr := p.tr(c)
	if i18n.Has(pr.Lang, s) {
		return pr.T(s)
	}
	return s
}

// handleSetLanguage serves POST /portal/account/language: the person's own
// choice of language for the portal and their phone notifications.
func (p *Portal) handleSetLanguage(c *fiber.Ctx) error {
	l := c.FormValue("lang")
	if l != "" && !i18n.Valid(l) {
		return invalid("Choose English or Cymraeg.")
	}
	if err := p.store.SetPersonLanguage(c.UserContext(), sess(c).Person.ID, l); err != nil {
		return err
	}
	return p.redirect(c, "/account?done=language-saved")
}
