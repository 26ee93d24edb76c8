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
	// ECURSORAHEAD: the device has pulled further than this server's log goes,
	// which happens after the server was restored from a backup. The device
	// re-sends its own recent work and starts again from a snapshot.
	ECURSORAHEAD = "cursor_ahead"
)

// Errorf is syncengine.Errorf with an empty op filled by the caller's context.
func Errorf(code, op, format string, args ...any) error {
	return syncengine.Errorf(code, op, format, args...)
}
