package api

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// fiberCodes maps Fiber's own errors (routing, body limit) onto our codes.
var fiberCodes = map[int]string{
	fiber.StatusNotFound:              domain.ENOTFOUND,
	fiber.StatusMethodNotAllowed:      domain.ENOTFOUND,
	fiber.StatusRequestEntityTooLarge: domain.ETOOLARGE,
	fiber.StatusTooManyRequests:       domain.ERATELIMITED,
	fiber.StatusBadRequest:            domain.EMALFORMED,
	fiber.StatusUnauthorized:          domain.EUNAUTHORIZED,
	fiber.StatusServiceUnavailable:    domain.EUNAVAILABLE,
}

// ErrorBody is the one shape of every error response.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// DetailedError carries structured details for the response body (e.g. the
// revoked device's {"wipe": true}). Its code and message come from Err.
type DetailedError struct {
	Err     error
	Details any
}

func (e *DetailedError) Error() string { return e.Err.Error() }
func (e *DetailedError) Unwrap() error { return e.Err }

// Errorf builds an application error.
func Errorf(code, format string, args ...any) error {
	return syncengine.Errorf(code, "", format, args...)
}

// ErrorHandler is Fiber's error handler: every error leaves through here.
// Internal errors are logged with their detail and sent with a generic message.
func ErrorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		body := ErrorBody{Code: syncengine.ErrorCode(err), Message: syncengine.ErrorMessage(err)}
		var fe *fiber.Error
		if errors.As(err, &fe) {
			body.Code = fiberCodes[fe.Code]
			if body.Code == "" {
				body.Code = domain.EINTERNAL
				if fe.Code < 500 {
					body.Code = domain.EINVALID
				}
			}
			body.Message = fe.Message
		}
		var de *DetailedError
		if errors.As(err, &de) {
			body.Details = de.Details
		}
		status := domain.ErrorStatus(body.Code)
		if fe != nil {
			status = fe.Code
		}
		if body.Code == domain.EINTERNAL {
			body.Message = "internal error"
			logger.Error("request failed", "method", c.Method(), "path", c.Route().Path, "err", err.Error())
		}
		if body.Code == domain.ERATELIMITED {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return c.Status(status).JSON(body)
	}
}
