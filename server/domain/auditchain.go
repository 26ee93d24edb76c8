package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// The audit log is a hash chain: row n carries prev_hash = hash of row n-1
// and hash = SHA-256 over prev_hash and row n's own columns. Editing a row
// breaks its hash; deleting one breaks the next row's prev_hash; deleting
// the newest rows leaves the store's record of the last position ahead of
// the last row. Both stores chain and verify with these; each keeps its
// rows in its own SQL.

// AuditRow is one audit row as the chain sees it. Pos is its place in the
// chain (increasing with no gaps; a report's "rows a to b" are positions);
// ID is the row's id, named as the first bad row.
// The text columns are as the store returns them, so a store hashes the
// same bytes it will read back.
type AuditRow struct {
	Pos, ID                                    int64
	At, Person, Device, Action, Record, Detail string
	PrevHash, Hash                             string
	Chained                                    bool // the row has a hash
}

// Digest is the row's hash after prev.
func (r AuditRow) Digest(prev string) string {
	b, ok := r.digestInput(prev)
	if !ok {
		b, _ = json.Marshal([]any{prev, r.ID, r.At, r.Person, r.Device, r.Action, r.Record, r.Detail})
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// digestInput is what json.Marshal makes of the row's hashed columns, for
// rows whose text is printable ASCII without the characters it escapes as
// HTML (ok false otherwise). Each pushed changeset writes an audit row, and
// the reflection over eight values was most of its hash's cost.
func (r AuditRow) digestInput(prev string) (b []byte, ok bool) {
	b = make([]byte, 0, 64+len(prev)+len(r.At)+len(r.Person)+len(r.Device)+len(r.Action)+len(r.Record)+len(r.Detail)*5/4)
	b = append(b, '[')
	if b, ok = appendQuoted(b, prev); !ok {
		return nil, false
	}
	b = strconv.AppendInt(append(b, ','), r.ID, 10)
	for _, s := range []string{r.At, r.Person, r.Device, r.Action, r.Record, r.Detail} {
		if b, ok = appendQuoted(append(b, ','), s); !ok {
			return nil, false
		}
	}
	return append(b, ']'), true
}

// appendQuoted appends s as json.Marshal quotes it, if s is printable ASCII
// other than <, > and & (which it escapes as \u003c...).
func appendQuoted(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&':
			return b, false
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"'), true
}

// AuditChecker walks a chain in order and finds the first row that does
// not verify.
type AuditChecker struct {
	res     AuditVerify
	prev    string
	lastPos int64
	lastID  int64
	broken  bool
}

// Next checks the next row; it returns false once the chain is broken (the
// rest need not be read).
func (c *AuditChecker) Next(r AuditRow) bool {
	if c.broken {
		return false
	}
	c.res.Rows++
	bad := func(why string) bool {
		c.res.BadID, c.res.Why, c.broken = r.ID, why, true
		return false
	}
	switch {
	case !r.Chained:
		return bad("row has no hash (never chained, or its hash was removed)")
	case r.PrevHash != c.prev:
		if c.lastPos != 0 && r.Pos != c.lastPos+1 {
			return bad(fmt.Sprintf("rows %d to %d were deleted", c.lastPos+1, r.Pos-1))
		}
		return bad("the previous row was deleted or changed (prev_hash does not match)")
	case r.Digest(c.prev) != r.Hash:
		return bad("row content was changed (hash does not match)")
	}
	c.prev, c.lastPos, c.lastID = r.Hash, r.Pos, r.ID
	return true
}

// Result is the verdict; lastPos is the highest position the store ever
// issued (0: unknown), so deleting the newest rows shows.
func (c *AuditChecker) Result(lastPos int64) AuditVerify {
	if c.broken {
		return c.res
	}
	if lastPos > c.lastPos {
		c.res.BadID, c.res.Why = c.lastID+1, fmt.Sprintf("rows %d to %d were deleted (the newest rows)", c.lastPos+1, lastPos)
		return c.res
	}
	c.res.OK = true
	return c.res
}
