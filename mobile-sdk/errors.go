package mobilesdk

import (
	"encoding/json"

	"github.com/joinedup/joinedup/syncengine"
)

// Error codes the SDK adds to the engine's and the server's (unauthorized,
// revoked, forbidden, rate_limited...). Hosts switch on ErrorCode(err).
const (
	EUNSYNCED    = "unsynced_work" // logout refused: changesets not yet on the server
	ENOTENROLLED = "not_enrolled"  // the phone has no credential yet
	EOFFLINE     = "offline"       // the host said there is no connectivity
	ENETWORK     = "network"       // the server could not be reached
	EWIPED       = "wiped"         // the device was wiped; open a new client
	EWRONGKEY    = "wrong_key"     // the local database does not decrypt with the key given
	ECORRUPT     = "corrupt"       // the local database holds something unreadable
	EREVOKED     = "revoked"       // the server revoked this device (and asks for a wipe)
	// The server does not know this device's credential (it was restored
	// from an older backup, or the enrolment was re-issued): enrol again with
	// a new code; the phone keeps and re-sends its work.
	EUNAUTHORIZED = "unauthorized"
	ECURSORAHEAD  = "cursor_ahead" // the server holds less than this phone has seen: it was restored from a backup
	EPROTOCOL     = "protocol"     // the server answered something this SDK does not understand
)

// ErrorCode returns the machine-readable code of an error returned by this
// package ("" for nil, "internal" for anything unexpected).
func ErrorCode(err error) string { return syncengine.ErrorCode(err) }

// ErrorMessage returns an error's message that is safe to show to a worker
// (it never contains note text).
func ErrorMessage(err error) string { return syncengine.ErrorMessage(err) }

func errorf(code, op, format string, args ...any) error {
	return syncengine.Errorf(code, op, format, args...)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
