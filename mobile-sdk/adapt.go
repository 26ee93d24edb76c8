package mobilesdk

import (
	"context"
	"errors"
	"time"
)

// linkSizes adapts how much one sync round trip carries to the link: a round
// trip that times out (or is cut after running long, as a server's read
// timeout does to a slow upload) is tried again at once with half the push
// batch and half the pull page, down to one changeset and the server's
// smallest page; a round trip that finishes in under a quarter of the
// timeout doubles them again, up to the configured sizes. So a 50 kbit/s
// link finishes a first sync and an upload of any size, one piece at a time,
// and a good link goes back to big round trips. The sizes live in memory:
// a restarted app learns again in a round trip or two.
type linkSizes struct {
	maxPush, maxPage int // configured
	push, page       int // now
}

const minPageBytes = 1024 // the server's smallest page (protocol.Request.PageBytes)

func newLinkSizes(push, page int) linkSizes {
	return linkSizes{maxPush: push, maxPage: page, push: push, page: page}
}

// setMaxPage is SetPageBytes: a new ceiling, and a fresh start below it.
func (l *linkSizes) setMaxPage(n int) { l.maxPage, l.page = n, n }

// failed shrinks the sizes after a round trip that may have been too big for
// the link; pushed is the request's outbox bytes (with how many changesets),
// received the answer's bytes that arrived before it broke. It reports
// whether anything shrank (false: already as small as it goes).
func (l *linkSizes) failed(pushed, changesets, received int) bool {
	shrank := false
	if changesets > 1 {
		l.push = max(1, pushed/2) // at least one changeset is always sent
		shrank = true
	}
	page := l.page / 2
	if received > 0 {
		page = min(page, received/2) // what got through in the time allowed, halved
	}
	if page = max(minPageBytes, page); page < l.page {
		l.page = page
		shrank = true
	}
	return shrank
}

// succeeded grows the sizes back after a round trip well within the timeout.
func (l *linkSizes) succeeded(took, timeout time.Duration) {
	if timeout > 0 && took > timeout/4 {
		return
	}
	l.push = min(l.maxPush, l.push*2)
	l.page = min(l.maxPage, l.page*2)
}

// tooSlow reports whether a failed round trip says the link could not carry
// it in time: a timeout, or a connection broken after it had run for half
// the timeout. A refused connection or a server's answer is not.
func tooSlow(err error, took, timeout time.Duration) bool {
	if ErrorCode(err) != ENETWORK {
		return false
	}
	if dialFailed(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || netTimeout(err) {
		return true
	}
	return timeout > 0 && took >= timeout/2
}

// SetRequestTimeout sets how long one sync round trip may take, in
// milliseconds (default 60 s). Round trips adapt their size to fit it.
func (c *Client) SetRequestTimeout(ms int64) {
	c.mu.Lock()
	c.timeout = time.Duration(max(ms, 100)) * time.Millisecond
	c.mu.Unlock()
}

func (c *Client) requestTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timeout
}
