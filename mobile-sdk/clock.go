package mobilesdk

import (
	"strconv"
	"time"
)

// clockTrust is how far the phone's clock may differ from the server's
// before the phone goes by the server's. A phone's clock can be days out (set
// by hand, a flat battery, a wrong time zone taken for UTC); its saves are
// stamped with its clock, and the server refuses a stamp more than
// syncengine.MaxSkew (5 min) ahead of its own, while a stamp days behind
// loses every concurrent edit. Well inside that, a phone keeps its own clock.
const clockTrust = time.Minute

// clock is the time saves are stamped with: the phone's clock, corrected by
// the offset to the server's clock learned from its answers (Date header)
// when the two differ by more than clockTrust.
func (c *Client) clock() time.Time { return c.now().Add(time.Duration(c.offset.Load())) }

// observeServerTime learns the offset from a server answer's Date header
// (one-second resolution, and late by the answer's travel time: both far
// below clockTrust).
func (c *Client) observeServerTime(server time.Time) {
	if server.IsZero() || c.ownClock {
		return
	}
	var off time.Duration
	if skew := server.Sub(c.now()); skew > clockTrust || skew < -clockTrust {
		off = skew.Round(time.Second)
	}
	if c.offset.Swap(int64(off)) == int64(off) {
		return
	}
	if st, _, err := c.state(false); err == nil {
		st.SetMeta(map[string]string{"clock_offset_ms": strconv.FormatInt(off.Milliseconds(), 10)})
	}
}

// loadClockOffset restores the offset learned before the app last stopped,
// so an offline save after a restart is stamped right too.
func (c *Client) loadClockOffset() error {
	ms, err := metaInt(c.st, "clock_offset_ms")
	if err != nil {
		return err
	}
	c.offset.Store(int64(time.Duration(ms) * time.Millisecond))
	return nil
}
