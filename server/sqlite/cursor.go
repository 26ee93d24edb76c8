package sqlite

import (
	"github.com/joinedup/joinedup/server/domain"
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
	since    int64 // > 0: a field-subset snapshot (domain.Cursor.Since)
	done     int64 // records of the snapshot sent and in all (progress)
	total    int64
	// compacted: the text compaction pass the device was last sent
	// records up to (domain.Cursor.Compacted).
	compacted int64
}

func (c cursor) String() string {
	return domain.Cursor{Gen: c.gen, Tag: c.tag, Seq: c.seq, Snapshot: c.snapshot, Base: c.base, After: c.after, Since: c.since, Done: c.done, Total: c.total, Compacted: c.compacted}.String()
}

func parseCursor(s string) (cursor, bool, error) {
	c, ok, err := domain.ParseCursor(s)
	return cursor{gen: c.Gen, tag: c.Tag, seq: c.Seq, snapshot: c.Snapshot, base: c.Base, after: c.After, since: c.Since, done: c.Done, total: c.Total, compacted: c.Compacted}, ok, err
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
