package api

import (
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/httperr"
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
// JSON. What it says is httperr's, shared with the portal's pages.
func ErrorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p := httperr.Describe(c, logger, err)
		return c.Status(p.Status).JSON(p.Body)
	}
}
