package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// cursor is the parsed pull position: "<generation>.<scope tag>.<seq>"
// between pulls, or "<generation>.<scope tag>.<seq>.<base>.<after>" while a
// snapshot is being paged. The generation (generation.go) says which history
// the positions belong to. Cursors issued before generations existed have no
// first part ("<tag>.<seq>", "<tag>.<seq>.<base>.<after>"); they parse with
// gen "" and, like any cursor of another generation, are answered
// cursor_ahead: the server cannot tell whether it was restored since.
type cursor struct {
	gen      string
	tag      string
	seq      int64
	snapshot bool
	base     int64
	after    string
}

func (c cursor) String() string {
	if c.snapshot {
		return fmt.Sprintf("%s.%s.%d.%d.%s", c.gen, c.tag, c.seq, c.base, c.after)
	}
	return fmt.Sprintf("%s.%s.%d", c.gen, c.tag, c.seq)
}

func parseCursor(s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	bad := domain.Errorf(domain.EINVALID, "parse cursor", "cursor is not one this server issued")
	parts := strings.Split(s, ".")
	var c cursor
	if len(parts) == 3 || len(parts) == 5 {
		if !validGeneration(parts[0]) {
			return c, false, bad
		}
		c.gen, parts = parts[0], parts[1:]
	}
	var err error
	switch len(parts) {
	case 2:
	case 4:
		c.snapshot = true
		if c.base, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.base < 0 {
			return c, false, bad
		}
		c.after = parts[3]
		if c.after != "" && !syncengine.ValidRecordID(c.after) {
			return c, false, bad
		}
	default:
		return c, false, bad
	}
	c.tag = parts[0]
	if c.seq, err = strconv.ParseInt(parts[1], 10, 64); err != nil || c.seq < 0 {
		return c, false, bad
	}
	return c, true, nil
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

// ValidateCursor checks a cursor's syntax (the HTTP layer calls it while parsing input).
func ValidateCursor(s string) error {
	_, _, err := parseCursor(s)
	return err
}
