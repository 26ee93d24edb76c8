package mobilesdk

import (
	"context"
	"errors"
	"io"
	"time"
)

// link is how the client reaches the server: net/http in the native apps
// (link_native.go), the browser's fetch in the field app (link_js.go). The
// browser build leaves net/http out: it would bring its own TLS and
// certificate code, which the browser already has, and 1.6 MB of gzip to
// every first load on a phone.
type link interface {
	// send makes a request (POST, or DELETE for the push token) and reads
	// the whole answer. A network failure is an error; an answer cut short
	// is a reply with what arrived and readErr. lang ("" none) is sent as
	// Accept-Language: the server words its refusals in it when it can.
	send(ctx context.Context, method, url, cred, contentType, lang string, body []byte) (*reply, error)
	// events opens the server-sent event stream (no deadline: it is long-lived).
	events(ctx context.Context, url, cred string) (status int, body io.ReadCloser, err error)
}

type reply struct {
	status  int
	date    time.Time // the Date header; zero when missing
	lang    string    // the Content-Language header: the language of an error's message
	body    []byte
	readErr error
}

// errBadAddress: the server address does not make a request.
var errBadAddress = errors.New("bad server address")

// maxAnswer bounds what one answer may hold.
const maxAnswer = 64 << 20

// httpDate parses an HTTP Date header (RFC 7231's preferred form).
func httpDate(v string) time.Time {
	t, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", v)
	if err != nil {
		return time.Time{}
	}
	return t
}
