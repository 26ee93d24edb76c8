package sqlite

import "github.com/joinedup/joinedup/syncengine"

// The store uses the engine's one error type; these are the codes it adds.
const (
	EINVALID      = syncengine.EINVALID
	ENOTFOUND     = syncengine.ENOTFOUND
	ECONFLICT     = syncengine.ECONFLICT
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EREVOKED      = "revoked"
)

// Errorf is syncengine.Errorf with an empty op filled by the caller's context.
func Errorf(code, op, format string, args ...any) error {
	return syncengine.Errorf(code, op, format, args...)
}
