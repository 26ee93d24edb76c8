package domain

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/syncengine"
)

// Cursor is a parsed pull position: "<generation>.<scope tag>.<seq>" between
// pulls, or "<generation>.<scope tag>.<seq>.<base>.<after>" while a snapshot
// is being paged. The store issues cursors; the HTTP layer only checks their
// syntax. The generation names the server's history the positions belong to
// (a new one after every restore); cursors from before generations existed
// lack it and parse with Gen "" (docs/sync-protocol.md). Any form issued
// with a generation may end in "~<n>": Compacted.
type Cursor struct {
	Gen      string
	Tag      string
	Seq      int64
	Snapshot bool
	Base     int64
	After    string
	// Since > 0: the snapshot being paged is the field subset of records
	// with FieldAt at or after it ("...<base>.<after>.<since>").
	Since int64
	// Done and Total count a whole-scope snapshot's records for progress,
	// counted once when it starts ("...<after>.<since>.<done>.<total>").
	Done, Total int64
	// Compacted is the text compaction position the device has been sent
	// the records of (the store's counter of records whose text a
	// compaction pass rewrote): an incremental pull sends the scope's
	// records compacted after it, so a phone can take their smaller state
	// (protocol.Response.Compacted). 0 in cursors from before it.
	Compacted int64
}

// ParseCursor parses a cursor; ok is false for the empty cursor (first pull).
func ParseCursor(s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	bad := Errorf(EINVALID, "parse cursor", "cursor is not one this server issued")
	if rest, n, found := strings.Cut(s, "~"); found {
		// Digits only, no leading zero and never 0: it prints back the same.
		if n == "" || n[0] < '1' || n[0] > '9' || strings.TrimLeft(n, "0123456789") != "" {
			return c, false, bad
		}
		if c.Compacted, err = strconv.ParseInt(n, 10, 64); err != nil {
			return c, false, bad
		}
		s = rest
	}
	parts := strings.Split(s, ".")
	if len(parts) == 3 || len(parts) == 5 || len(parts) == 6 || len(parts) == 8 {
		if !ValidGeneration(parts[0]) {
			return c, false, bad
		}
		c.Gen, parts = parts[0], parts[1:]
	}
	if len(parts) == 7 && c.Gen == "" {
		return c, false, bad // counts are only ever issued with a generation
	} else if len(parts) == 7 {
		if c.Done, err = strconv.ParseInt(parts[5], 10, 64); err != nil || c.Done < 0 {
			return c, false, bad
		}
		if c.Total, err = strconv.ParseInt(parts[6], 10, 64); err != nil || c.Total <= 0 {
			return c, false, bad
		}
		if c.Since, err = strconv.ParseInt(parts[4], 10, 64); err != nil || c.Since < 0 {
			return c, false, bad
		}
		parts = parts[:4]
	} else if len(parts) == 5 {
		if c.Since, err = strconv.ParseInt(parts[4], 10, 64); err != nil || c.Since <= 0 {
			return c, false, bad
		}
		parts = parts[:4]
	}
	switch len(parts) {
	case 2:
	case 4:
		c.Snapshot = true
		if c.Base, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.Base < 0 {
			return c, false, bad
		}
		c.After = parts[3]
		if c.After != "" && !syncengine.ValidRecordID(c.After) {
			return c, false, bad
		}
	default:
		return c, false, bad
	}
	c.Tag = parts[0]
	if c.Seq, err = strconv.ParseInt(parts[1], 10, 64); err != nil || c.Seq < 0 {
		return c, false, bad
	}
	if c.Compacted > 0 && c.Gen == "" {
		return c, false, bad // only ever issued with a generation
	}
	return c, true, nil
}

// GenerationLen is the length of a history generation id (hex digits).
const GenerationLen = 16

// ValidGeneration reports whether s is a history generation id.
func ValidGeneration(s string) bool {
	if len(s) != GenerationLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ValidateCursor checks a cursor's syntax (the HTTP layer calls it while parsing input).
func ValidateCursor(s string) error {
	_, _, err := ParseCursor(s)
	return err
}

// NormaliseCode upper-cases a typed enrolment code and drops spaces and dashes.
func NormaliseCode(code string) string {
	code = strings.ToUpper(code)
	return strings.NewReplacer(" ", "", "-", "").Replace(code)
}

// String is the cursor as issued to a device (ParseCursor reads it back).
func (c Cursor) String() string {
	s := fmt.Sprintf("%s.%d", c.Tag, c.Seq)
	if c.Snapshot {
		s += fmt.Sprintf(".%d.%s", c.Base, c.After)
		if c.Total > 0 {
			s += fmt.Sprintf(".%d.%d.%d", c.Since, c.Done, c.Total)
		} else if c.Since > 0 {
			s += fmt.Sprintf(".%d", c.Since)
		}
	}
	if c.Gen == "" { // the form from before generations (only ever parsed, never issued)
		return s
	}
	s = c.Gen + "." + s
	if c.Compacted > 0 {
		s += "~" + strconv.FormatInt(c.Compacted, 10)
	}
	return s
}
