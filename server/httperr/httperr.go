// Package httperr turns an error a handler returned into what the client is
// told, once for the API's JSON and the portal's HTML pages: the code, the
// HTTP status (domain.ErrorStatus), a message safe to show and any details.
// Internal errors are logged here with their detail and described to the
// client only generically.
package httperr

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// Body is the one shape of every JSON error response.
type Body struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Problem is what the client is told about an error.
type Problem struct {
	Status int
	Body
	// RetryAfter, for rate_limited: how long to wait (the Retry-After header).
	RetryAfter time.Duration
}

// Detailed carries structured details for the response body (e.g. the
// revoked device's {"wipe": true}). Its code and message come from Err.
type Detailed struct {
	Err     error
	Details any
}

func (e *Detailed) Error() string { return e.Err.Error() }
func (e *Detailed) Unwrap() error { return e.Err }

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

// InternalMessage is all a client learns of an internal error.
const InternalMessage = "internal error"

// Describe says what the client is told about err, logging internal errors
// (with the request's method and route, never its body) on logger, and sets
// the Retry-After header of a rate_limited answer.
func Describe(c *fiber.Ctx, logger *slog.Logger, err error) Problem {
	p := Problem{Body: Body{Code: domain.ErrorCode(err), Message: domain.ErrorMessage(err)}}
	p.Status = domain.ErrorStatus(p.Code)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		p.Code, p.Status, p.Message = fiberCodes[fe.Code], fe.Code, fe.Message
		if p.Code == "" {
			p.Code = domain.EINVALID
			if fe.Code >= 500 {
				p.Code = domain.EINTERNAL
			}
		}
	}
	var de *Detailed
	if errors.As(err, &de) {
		p.Details = de.Details
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		p.RetryAfter = ra.RetryAfter()
	}
	if p.Code == domain.EINTERNAL {
		p.Status, p.Message, p.Details = http.StatusInternalServerError, InternalMessage, nil
		logger.Error("request failed", "method", c.Method(), "path", c.Route().Path, "err", err.Error())
	}
	if p.Code == domain.ERATELIMITED {
		SetRetryAfter(c, p.RetryAfter)
	}
	return p
}

// SetRetryAfter sets the Retry-After header: whole seconds, at least one (a
// client told 0 would retry at once).
func SetRetryAfter(c *fiber.Ctx, d time.Duration) {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}
