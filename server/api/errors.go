package api

import (
	"errors"
	"github.com/joinedup/joinedup/server/sqlite"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/syncengine"
)

// Error codes the HTTP layer adds to the engine's.
const (
	EINVALID      = syncengine.EINVALID
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = syncengine.ENOTFOUND
	ECONFLICT     = syncengine.ECONFLICT
	ETOOLARGE     = syncengine.ETOOLARGE
	ERATELIMITED  = "rate_limited"
	EMALFORMED    = syncengine.EMALFORMED
	EMISSINGDEP   = syncengine.EMISSINGDEP
	EREVOKED      = "revoked"
	EINTERNAL     = syncengine.EINTERNAL
	EUNAVAILABLE  = "unavailable"
	ECURSORAHEAD  = sqlite.ECURSORAHEAD
)

// codeStatus is the one map from error code to HTTP status.
var codeStatus = map[string]int{
	EINVALID:           http.StatusUnprocessableEntity,
	EUNAUTHORIZED:      http.StatusUnauthorized,
	EFORBIDDEN:         http.StatusForbidden,
	ENOTFOUND:          http.StatusNotFound,
	ECONFLICT:          http.StatusConflict,
	ETOOLARGE:          http.StatusRequestEntityTooLarge,
	ERATELIMITED:       http.StatusTooManyRequests,
	EMALFORMED:         http.StatusBadRequest,
	EMISSINGDEP:        http.StatusConflict,
	EREVOKED:           http.StatusUnauthorized,
	EINTERNAL:          http.StatusInternalServerError,
	EUNAVAILABLE:       http.StatusServiceUnavailable,
	ECURSORAHEAD:       http.StatusConflict,
	syncengine.EERASED: http.StatusGone,
}

// fiberCodes maps Fiber's own errors (routing, body limit) onto our codes.
var fiberCodes = map[int]string{
	fiber.StatusNotFound:              ENOTFOUND,
	fiber.StatusMethodNotAllowed:      ENOTFOUND,
	fiber.StatusRequestEntityTooLarge: ETOOLARGE,
	fiber.StatusTooManyRequests:       ERATELIMITED,
	fiber.StatusBadRequest:            EMALFORMED,
	fiber.StatusUnauthorized:          EUNAUTHORIZED,
	fiber.StatusServiceUnavailable:    EUNAVAILABLE,
}

// ErrorStatus returns the HTTP status for an error code.
func ErrorStatus(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
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
				body.Code = EINTERNAL
				if fe.Code < 500 {
					body.Code = EINVALID
				}
			}
			body.Message = fe.Message
		}
		var de *DetailedError
		if errors.As(err, &de) {
			body.Details = de.Details
		}
		status := ErrorStatus(body.Code)
		if fe != nil {
			status = fe.Code
		}
		if body.Code == EINTERNAL {
			body.Message = "internal error"
			logger.Error("request failed", "method", c.Method(), "path", c.Route().Path, "err", err.Error())
		}
		if body.Code == ERATELIMITED {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return c.Status(status).JSON(body)
	}
}
