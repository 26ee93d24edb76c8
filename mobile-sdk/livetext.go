package mobilesdk

import "github.com/joinedup/joinedup/syncengine"

// EditText is the live editor's save: the editor last agreed with the store
// when the field read base, and now shows text. Its change (base -> text) is
// written as a delete and an insert, moved past whatever the store took in
// since (another worker's words pulled by the background sync), in the same
// transaction that reads the store, so nothing arriving between the read and
// the write can shift the positions. It returns the field's text afterwards,
// which the editor merges around its caret.
func (c *Client) EditText(id, field, base, text string) (string, error) {
	var out string
	err := c.edit(func(tx *syncengine.Txn, me string) error {
		rec, err := tx.Record(syncengine.RecordID(id))
		if err != nil {
			return err
		}
		if rec == nil {
			return errorf(syncengine.ENOTFOUND, "edit", "record %s not found", id)
		}
		b, cur := []rune(base), []rune(rec.String(field))
		for _, op := range rebase(span(b, []rune(text)), span(b, cur)) {
			if op.del > 0 {
				if err := tx.DeleteText(syncengine.RecordID(id), field, op.pos, op.del); err != nil {
					return err
				}
			}
			if op.ins != "" {
				if err := tx.InsertText(syncengine.RecordID(id), field, op.pos, op.ins); err != nil {
					return err
				}
			}
		}
		rec, err = tx.Record(syncengine.RecordID(id))
		if err != nil {
			return err
		}
		out = rec.String(field)
		return nil
	})
	return out, err
}

// textOp deletes del runes at pos, then inserts ins there.
type textOp struct {
	pos, del int
	ins      string
}

// span is the one stretch where a and b differ, as an edit of a.
func span(a, b []rune) textOp {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	q := 0
	for q < len(a)-p && q < len(b)-p && a[len(a)-1-q] == b[len(b)-1-q] {
		q++
	}
	return textOp{pos: p, del: len(a) - p - q, ins: string(b[p : len(b)-q])}
}

// rebase moves the local edit l (of base) onto the text the remote edit r
// (of the same base) made, in order. Where both changed the same stretch the
// remote text stays and the local insert follows it: a worker's words are
// never deleted by someone else's keystroke.
func rebase(l, r textOp) []textOp {
	if r.del == 0 && r.ins == "" {
		return []textOp{l}
	}
	lEnd, rEnd, rIns := l.pos+l.del, r.pos+r.del, len([]rune(r.ins))
	shift := rIns - r.del
	var ops []textOp
	// Deleted after the remote stretch: shifted; inside it: already changed.
	if from := max(l.pos, rEnd); lEnd > from {
		ops = append(ops, textOp{pos: from + shift, del: lEnd - from})
	}
	if n := min(lEnd, r.pos) - l.pos; n > 0 {
		ops = append(ops, textOp{pos: l.pos, del: n})
	}
	at := l.pos
	switch {
	case l.pos >= rEnd:
		at = l.pos + shift
	case l.pos > r.pos:
		at = r.pos + rIns
	}
	if l.pos == r.pos && r.del > 0 {
		at = r.pos + rIns
	}
	return append(ops, textOp{pos: at, ins: l.ins})
}
