package api

import (
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/httperr"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// ErrorBody is the one shape of every error response.
type ErrorBody = httperr.Body

// DetailedError carries structured details for the response body (e.g. the
// revoked device's {"wipe": true}). Its code and message come from Err.
type DetailedError = httperr.Detailed

// Errorf builds an application error.
func Errorf(code, format string, args ...any) error {
	return syncengine.Errorf(code, "", format, args...)
}

// ErrorHandler is Fiber's error handler: every error leaves through here, as
// JSON. What it says is httperr's, shared with the portal's pages. The
// message is English, what machine clients expect, unless the request asks
// for another language (the field app sends its own) and the catalogue
// words the refusal in it: then it says so in Content-Language. The code
// never changes, so a client can always word the error itself.
func ErrorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p := httperr.Describe(c, logger, err)
		if lang := c.Get(fiber.HeaderAcceptLanguage); lang != "" && p.Code != domain.EINTERNAL {
			if l := i18n.Match("", lang); l != i18n.English {
				if key, args, ok := domain.ErrorText(err); ok && i18n.Has(l, key) {
					p.Message = i18n.For(l).Refusal(key, args)
					c.Set(fiber.HeaderContentLanguage, l)
				}
			}
		}
		return c.Status(p.Status).JSON(p.Body)
	}
}
