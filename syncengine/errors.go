package syncengine

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. The server maps them to HTTP status in one place.
const (
	ECONFLICT   = "conflict"           // a write that cannot be reconciled with current state
	EINTERNAL   = "internal"           // anything that is not an application error
	EINVALID    = "invalid"            // a well-formed request that breaks a domain rule
	EMALFORMED  = "malformed"          // bytes that do not decode
	EMISSINGDEP = "missing_dependency" // a changeset whose causal context is not here yet
	ENOTFOUND   = "not_found"
	ETOOLARGE   = "too_large"
	EERASED     = "erased" // the record was erased; its content is gone for good
)

// Error is the engine's application error. Op names the operation that failed,
// Message is safe to show to a user (it never contains note text), Err is the cause.
type Error struct {
	Code    string
	Op      string
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with a formatted human message.
func Errorf(code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of an application error, or a generic one.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
