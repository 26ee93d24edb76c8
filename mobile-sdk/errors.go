package mobilesdk

import (
	"encoding/json"
	"errors"
	"strings"

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

// ErrorLanguage is the language a server's refusal is worded in, as the
// server said (Content-Language: "cy" after SetLanguage("cy") when its
// catalogue has the refusal), "" for English and for errors raised on the
// phone. An app words an error itself, by ErrorCode, when the language is
// not its own.
func ErrorLanguage(err error) string {
	var se *serverError
	if errors.As(err, &se) {
		return se.lang
	}
	return ""
}

// ErrorFields lists the schema rules a save broke, for an app to word in
// its own language: a JSON array of {"field","rule"} (rule as the schema's
// validate tag: required, max, oneof, nocoords, ...), "[]" when err is not a
// validation error.
func ErrorFields(err error) string {
	var ve *syncengine.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) == 0 {
		return "[]"
	}
	return mustJSON(ve.Fields)
}

// SetLanguage is the language the app shows ("cy", "en"; "" none), sent
// with every request as Accept-Language so the server words its refusals
// in it where it can. Anything but letters and hyphens is refused.
func (c *Client) SetLanguage(lang string) error {
	if len(lang) > 35 || strings.Trim(lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
		return errorf(syncengine.EINVALID, "set language", "%q is not a language tag", lang)
	}
	c.lang.Store(lang)
	return nil
}

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
