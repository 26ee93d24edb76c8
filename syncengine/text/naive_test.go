package text

import (
	"bytes"
	"fmt"
)

// naive is a one-item-per-char transliteration of the eg-walker / reference-
// crdts yjsmod integration, used as an oracle for the run-length version.
type naive struct {
	items []nitem
}

type nitem struct {
	id, left, right ID
	ch              rune
	del             bool
}

func (n *naive) idx(id ID) int {
	if id.IsZero() {
		return -1
	}
	for i := range n.items {
		if n.items[i].id == id {
			return i
		}
	}
	panic(fmt.Sprintf("naive: missing %v", id))
}

func (n *naive) String() string {
	var s []rune
	for _, it := range n.items {
		if !it.del {
			s = append(s, it.ch)
		}
	}
	return string(s)
}

func (n *naive) has(id ID) bool {
	for i := range n.items {
		if n.items[i].id == id {
			return true
		}
	}
	return false
}

func (n *naive) apply(op Insert) {
	if n.has(op.ID) {
		return
	}
	left, right := op.OriginLeft, op.OriginRight
	for k, ch := range []rune(op.Text) {
		it := nitem{id: ID{op.ID.Replica, op.ID.Seq + uint64(k)}, left: left, right: right, ch: ch}
		n.integrate(it)
		left = it.id
	}
}

func (n *naive) integrate(it nitem) {
	left := n.idx(it.left)
	right := len(n.items)
	if !it.right.IsZero() {
		right = n.idx(it.right)
	}
	dest := left + 1
	scanning := false
	for i := left + 1; ; i++ {
		if !scanning {
			dest = i
		}
		if i == len(n.items) || i == right {
			break
		}
		o := n.items[i]
		oleft := n.idx(o.left)
		oright := len(n.items)
		if !o.right.IsZero() {
			oright = n.idx(o.right)
		}
		if oleft < left || (oleft == left && oright == right && less(it.id, o.id)) {
			break
		}
		if oleft == left {
			scanning = oright < right
		}
	}
	n.items = append(n.items, nitem{})
	copy(n.items[dest+1:], n.items[dest:])
	n.items[dest] = it
}

func (n *naive) del(op Delete) {
	for _, sp := range op.Spans {
		for k := uint64(0); k < sp.Len; k++ {
			n.items[n.idx(ID{sp.ID.Replica, sp.ID.Seq + k})].del = true
		}
	}
}

func (n *naive) visIdx(pos int) int {
	for i := range n.items {
		if !n.items[i].del {
			if pos == 0 {
				return i
			}
			pos--
		}
	}
	panic("naive: bad pos")
}

func (n *naive) localInsert(id ID, pos int, s string) Insert {
	op := Insert{ID: id, Text: s}
	li := -1
	if pos > 0 {
		li = n.visIdx(pos - 1)
		op.OriginLeft = n.items[li].id
	}
	if li+1 < len(n.items) {
		op.OriginRight = n.items[li+1].id
	}
	n.apply(op)
	return op
}

func (n *naive) localDelete(pos, k int) Delete {
	var op Delete
	for ; k > 0; k-- {
		i := n.visIdx(pos)
		n.items[i].del = true
		op.Spans = appendSpan(op.Spans, Span{n.items[i].id, 1})
	}
	return op
}

func (n *naive) clone() *naive { return &naive{items: append([]nitem(nil), n.items...)} }

func less(a, b ID) bool {
	if c := bytes.Compare(a.Replica[:], b.Replica[:]); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}
