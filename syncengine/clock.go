package syncengine

import (
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: milliseconds since the Unix
// epoch in the high 48 bits, a logical counter in the low 16.
//
// It only orders things for people (which of two concurrent values is shown
// first, a chronology). It never decides which write supersedes which: that is
// causality, so a phone whose clock is days out cannot make edits vanish.
type Timestamp uint64

func (t Timestamp) Millis() int64   { return int64(t >> 16) }
func (t Timestamp) Logical() uint16 { return uint16(t) }
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Millis()).UTC() }

// MakeTimestamp builds a timestamp from wall time and a logical counter.
func MakeTimestamp(wall time.Time, logical uint16) Timestamp {
	ms := wall.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return Timestamp(uint64(ms)<<16 | uint64(logical))
}

// HLC is a hybrid logical clock over an injected wall clock.
type HLC struct {
	mu   sync.Mutex
	now  func() time.Time
	last Timestamp
}

// NewHLC returns a clock reading now; now must not be nil.
func NewHLC(now func() time.Time) *HLC { return &HLC{now: now} }

// Now returns a timestamp greater than every one returned or observed before.
func (c *HLC) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := MakeTimestamp(c.now(), 0)
	if t <= c.last {
		t = c.last + 1
	}
	c.last = t
	return t
}

// MaxSkew bounds how far a remote clock may drag this one ahead: a phone whose
// clock is days fast must not push every later timestamp days into the future.
const MaxSkew = 5 * time.Minute

// Observe moves the clock past a remote timestamp so that what this replica
// writes next sorts after what it has seen, but never beyond now+MaxSkew.
func (c *HLC) Observe(remote Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ceiling := MakeTimestamp(c.now().Add(MaxSkew), 0); remote > ceiling {
		remote = ceiling
	}
	if remote > c.last {
		c.last = remote
	}
}

// Last returns the latest timestamp issued or observed (to persist across restarts).
func (c *HLC) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
