package text

import "testing"

// egwalk is a direct transliteration of the eg-walker reference (LV order,
// retreat/advance), used to debug conformance differences.
func egwalk(h *confHistory) string {
	type ev struct {
		parents []int
		ins     bool
		pos     int
		ch      rune
		agent   string
	}
	var evs []ev
	for _, tx := range h.Txns {
		first := true
		for _, p := range tx.Ops {
			pos := p.Pos
			add := func(e ev) {
				if first {
					e.parents = tx.Parents
					first = false
				} else {
					e.parents = []int{len(evs) - 1}
				}
				e.agent = tx.Agent
				evs = append(evs, e)
			}
			for k := 0; k < p.Del; k++ {
				add(ev{pos: pos})
			}
			for _, c := range p.Ins {
				add(ev{ins: true, pos: pos, ch: c})
				pos++
			}
		}
	}
	n := len(evs)
	anc := make([][]bool, n) // inclusive ancestors
	for i, e := range evs {
		anc[i] = make([]bool, n)
		anc[i][i] = true
		for _, p := range e.parents {
			for j, in := range anc[p] {
				anc[i][j] = anc[i][j] || in
			}
		}
	}
	type item struct {
		lv, ol, or int
		deleted    bool
		state      int
	}
	var items []*item
	byLV := map[int]*item{}
	delTarget := map[int]int{}
	cur := make([]bool, n)
	idxOf := func(lv int) int {
		for i, it := range items {
			if it.lv == lv {
				return i
			}
		}
		panic("missing")
	}
	target := func(lv int) *item {
		if evs[lv].ins {
			return byLV[lv]
		}
		return byLV[delTarget[lv]]
	}
	for lv, e := range evs {
		want := make([]bool, n)
		for _, p := range e.parents {
			for j, in := range anc[p] {
				want[j] = want[j] || in
			}
		}
		for j := n - 1; j >= 0; j-- {
			if cur[j] && !want[j] {
				target(j).state--
			}
		}
		for j := 0; j < n; j++ {
			if !cur[j] && want[j] {
				target(j).state++
			}
		}
		// find by current pos
		idx, curPos := 0, 0
		for curPos < e.pos {
			if items[idx].state == 0 {
				curPos++
			}
			idx++
		}
		if !e.ins {
			for items[idx].state != 0 {
				idx++
			}
			it := items[idx]
			it.deleted = true
			it.state = 1
			delTarget[lv] = it.lv
		} else {
			ol := -1
			if idx > 0 {
				ol = items[idx-1].lv
			}
			or := -1
			for i := idx; i < len(items); i++ {
				if items[i].state != -1 {
					or = items[i].lv
					break
				}
			}
			ni := &item{lv: lv, ol: ol, or: or}
			byLV[lv] = ni
			left := idx - 1
			right := len(items)
			if or != -1 {
				right = idxOf(or)
			}
			scanning := false
			scan := idx
			for scan < right {
				o := items[scan]
				if o.state != -1 {
					break
				}
				oleft := -1
				if o.ol != -1 {
					oleft = idxOf(o.ol)
				}
				oright := len(items)
				if o.or != -1 {
					oright = idxOf(o.or)
				}
				if oleft < left || (oleft == left && oright == right && e.agent < evs[o.lv].agent) {
					break
				}
				if oleft == left {
					scanning = oright < right
				}
				scan++
				if !scanning {
					idx = scan
				}
			}
			items = append(items, nil)
			copy(items[idx+1:], items[idx:])
			items[idx] = ni
		}
		for j := range cur {
			cur[j] = want[j]
		}
		cur[lv] = true
	}
	var out []rune
	for _, it := range items {
		if !it.deleted {
			out = append(out, evs[it.lv].ch)
		}
	}
	return string(out)
}

func TestEgwalkOracle(t *testing.T) {
	var hs []confHistory
	loadGz(t, "conformance.json.gz", &hs)
	for _, i := range []int{0, 1, 2, 3, 500} {
		if got := egwalk(&hs[i]); got != hs[i].EndContent {
			t.Errorf("%d: egwalk %q want %q", i, got, hs[i].EndContent)
		}
	}
}
