package domain

import (
	"errors"
	"net/http"
	"sort"

	"github.com/joinedup/joinedup/syncengine"
)

// Error codes. The server uses the engine's one error type
// (syncengine.Error{Code, Op, Message, Err}); these are every code it can
// return, the engine's and its own, declared once.
const (
	EINVALID      = syncengine.EINVALID
	ENOTFOUND     = syncengine.ENOTFOUND
	ECONFLICT     = syncengine.ECONFLICT
	ETOOLARGE     = syncengine.ETOOLARGE
	EMALFORMED    = syncengine.EMALFORMED
	EMISSINGDEP   = syncengine.EMISSINGDEP
	EERASED       = syncengine.EERASED
	EINTERNAL     = syncengine.EINTERNAL
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EREVOKED      = "revoked"
	ERATELIMITED  = "rate_limited"
	EUNAVAILABLE  = "unavailable"
	// ECURSORAHEAD: the device has pulled further than this server's log goes,
	// which happens after the server was restored from a backup. The device
	// re-sends its own recent work and starts again from a snapshot.
	ECURSORAHEAD = "cursor_ahead"
	// EHELDLIMIT: the device already has as many changesets waiting for
	// missing dependencies as the server keeps for one device. The changeset
	// is not stored; the phone keeps it and sends it again later.
	EHELDLIMIT = "held_limit"
	// ESTORAGEFULL: the server's disk is full; nothing was written. The
	// phone keeps its saves and sends them again later.
	ESTORAGEFULL = "storage_full"
	// ESTORAGE: another storage fault (I/O error) stopped a write.
	ESTORAGE = "storage_fault"
	// EDBCORRUPT: the database failed an integrity check; the server refuses
	// writes until it is restored from a backup (docs/operations.md).
	EDBCORRUPT = "database_corrupt"
)

// codeStatus is the one map from error code to HTTP status, for the API's
// JSON errors and the portal's pages alike.
var codeStatus = map[string]int{
	EINVALID:      http.StatusUnprocessableEntity,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	ETOOLARGE:     http.StatusRequestEntityTooLarge,
	ERATELIMITED:  http.StatusTooManyRequests,
	EMALFORMED:    http.StatusBadRequest,
	EMISSINGDEP:   http.StatusConflict,
	EREVOKED:      http.StatusUnauthorized,
	EINTERNAL:     http.StatusInternalServerError,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	ECURSORAHEAD:  http.StatusConflict,
	EERASED:       http.StatusGone,
	EHELDLIMIT:    http.StatusTooManyRequests,
	ESTORAGEFULL:  http.StatusServiceUnavailable,
	ESTORAGE:      http.StatusServiceUnavailable,
	EDBCORRUPT:    http.StatusServiceUnavailable,
}

// Codes lists every error code the server returns, sorted (for clients
// that word errors themselves: a test holds the field app to the list).
func Codes() []string {
	out := make([]string, 0, len(codeStatus))
	for c := range codeStatus {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ErrorStatus returns the HTTP status for an error code (500 for an unknown one).
func ErrorStatus(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Errorf builds an application error with a code, the operation and a
// message safe to show to the caller. The error keeps its format and
// arguments too (ErrorText), so the portal can word it in the reader's
// language; the API's JSON keeps the English message for machine clients.
func Errorf(code, op, format string, args ...any) error {
	return &textError{err: syncengine.Errorf(code, op, format, args...), format: format, args: args}
}

// textError is an application error that remembers its catalogue key (the
// English printf format) and arguments. It unwraps to the engine's error,
// so ErrorCode, ErrorMessage and errors.Is on a sentinel work unchanged.
type textError struct {
	err    *syncengine.Error
	format string
	args   []any
}

func (e *textError) Error() string { return e.err.Error() }
func (e *textError) Unwrap() error { return e.err }

// ErrorText returns the format and arguments of the first application error
// in err's chain built by Errorf; ok is false for any other error.
func ErrorText(err error) (format string, args []any, ok bool) {
	var te *textError
	if errors.As(err, &te) {
		return te.format, te.args, true
	}
	return "", nil, false
}

// ErrorCode returns err's code (EINTERNAL for errors that are not ours).
func ErrorCode(err error) string { return syncengine.ErrorCode(err) }

// ErrorMessage returns err's human message (a generic one for internal errors).
func ErrorMessage(err error) string { return syncengine.ErrorMessage(err) }

// NotFound is the error for a missing thing.
func NotFound(what, id string) error {
	return Errorf(ENOTFOUND, "", "%s %q not found", what, id)
}
