package sqlite

import (
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
)

// cursor is the parsed pull position: "<scope tag>.<seq>" between pulls, or
// "<scope tag>.<seq>.<base>.<after>" while a snapshot is being paged.
type cursor struct {
	tag      string
	seq      int64
	snapshot bool
	base     int64
	after    string
}

func (c cursor) String() string {
	if c.snapshot {
		return fmt.Sprintf("%s.%d.%d.%s", c.tag, c.seq, c.base, c.after)
	}
	return fmt.Sprintf("%s.%d", c.tag, c.seq)
}

func parseCursor(s string) (cursor, bool, error) {
	c, ok, err := domain.ParseCursor(s)
	return cursor{tag: c.Tag, seq: c.Seq, snapshot: c.Snapshot, base: c.Base, after: c.After}, ok, err
}

// cursorSeq extracts the log position of a cursor for display (0 if none).
func cursorSeq(s string) int64 {
	c, ok, err := parseCursor(s)
	if !ok || err != nil {
		return 0
	}
	if c.snapshot {
		return c.base
	}
	return c.seq
}
