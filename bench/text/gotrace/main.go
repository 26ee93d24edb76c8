// Command gotrace replays editing traces through syncengine/text and prints
// one JSON line per trace with the same figures bench/text/run.mjs prints
// for Yjs, Automerge and diamond-types. It takes every .json.gz in a
// directory, in any of the editing-traces formats: sequential
// ({startContent, endContent, txns: [{patches}]}), concurrent ({kind:
// "concurrent", txns: [{parents, agent, patches}]}) and eg-walker
// conformance (an array of histories whose txns name parents by local
// version).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"

	"github.com/joinedup/joinedup/syncengine/text"
	"github.com/joinedup/joinedup/syncengine/text/texttrace"
)

type (
	patch       = texttrace.Patch
	seqTrace    = texttrace.Trace
	confHistory = texttrace.ConfHistory
)

// rep is the replica id of agent n: agents sort by number, and ids do not
// wrap however many agents a trace has.
func rep(n int) [16]byte {
	var r [16]byte
	r[0] = 'r'
	binary.BigEndian.PutUint64(r[8:], uint64(n)+1)
	return r
}

type op struct {
	ins *text.Insert
	del *text.Delete
}

// node is one transaction of a history: made by agent on top of the state
// its parents (earlier nodes) merged to.
type node struct {
	parents []int    // a part of history.parents
	patches []cpatch // a part of history.patches
	agent   [16]byte
	seq     uint64 // the id of its first inserted char
	delSeqs bool   // deletes use up ids too (eg-walker numbering)
}

// history is a trace's txns as nodes, held in a few large blocks rather
// than the parsed JSON's hundreds of thousands of small slices and
// strings: Go's collector marks everything live in every cycle (V8's
// young-generation collections skip old objects such as run.mjs's parsed
// traces), so the input would otherwise be a large part of what the
// collector costs while the replay runs.
type history struct {
	nodes   []node
	parents []int
	patches []cpatch
	text    string // every inserted text, back to back
}

// cpatch is a patch whose inserted text is history.text[off:end].
type cpatch struct {
	pos, del, off, end int
}

// historyBuilder collects nodes; build fixes their slices into the blocks.
type historyBuilder struct {
	h      history
	text   strings.Builder
	bounds [][4]int // per node: parents and patches, start and end
}

func (b *historyBuilder) add(nd node, parents []int, patches []patch) {
	pb, xb := len(b.h.parents), len(b.h.patches)
	b.h.parents = append(b.h.parents, parents...)
	for _, p := range patches {
		off := b.text.Len()
		b.text.WriteString(p.Ins)
		b.h.patches = append(b.h.patches, cpatch{p.Pos, p.Del, off, b.text.Len()})
	}
	b.bounds = append(b.bounds, [4]int{pb, len(b.h.parents), xb, len(b.h.patches)})
	b.h.nodes = append(b.h.nodes, nd)
}

func (b *historyBuilder) build() *history {
	h := &b.h
	h.text = b.text.String()
	for i, k := range b.bounds {
		h.nodes[i].parents = h.parents[k[0]:k[1]:k[1]]
		h.nodes[i].patches = h.patches[k[2]:k[3]:k[3]]
	}
	return h
}

func local(d *text.Doc, h *history, nd *node) ([]op, error) {
	var out []op
	seq := nd.seq
	for _, p := range nd.patches {
		if p.del > 0 {
			o, err := d.LocalDelete(p.pos, p.del)
			if err != nil {
				return nil, err
			}
			out = append(out, op{del: &o})
			if nd.delSeqs {
				seq += uint64(p.del)
			}
		}
		if p.end > p.off {
			ins := h.text[p.off:p.end]
			o, err := d.LocalInsert(text.ID{Replica: nd.agent, Seq: seq}, p.pos, ins)
			if err != nil {
				return nil, err
			}
			seq += uint64(utf8.RuneCountInString(ins))
			out = append(out, op{ins: &o})
		}
	}
	return out, nil
}

func apply(d *text.Doc, ops []op) error {
	for _, o := range ops {
		var err error
		if o.ins != nil {
			err = d.ApplyInsert(*o.ins)
		} else {
			err = d.ApplyDelete(*o.del)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// branch is the document as it stands after one node, with the set of
// nodes it holds; refs counts the children still to be made from it.
type branch struct {
	d      *text.Doc
	has    nodeSet
	refs   int
	forked bool
}

// nodeSet is a bitmap of node numbers in pages that forks share and copy
// only when they set a bit in one, as text.Doc.Fork shares chunks: a
// history of 26,000 txns with thousands of branches copied 3 KB a fork.
type nodeSet struct {
	pages [][]uint64
	owned []bool
	size  int // nodes in the set
}

const setPage = 32 // most words a page: 2,048 nodes

func newNodeSet(n int) nodeSet {
	words := (n + 63) / 64
	k := (words + setPage - 1) / setPage
	s := nodeSet{pages: make([][]uint64, k), owned: make([]bool, k)}
	for i := range s.pages {
		s.pages[i], s.owned[i] = make([]uint64, min(setPage, words-i*setPage)), true
	}
	return s
}

func (s *nodeSet) has(x int) bool {
	return s.pages[x/(setPage*64)][x/64%setPage]&(1<<(x%64)) != 0
}

func (s *nodeSet) add(x int) {
	p := x / (setPage * 64)
	if !s.owned[p] {
		s.pages[p], s.owned[p] = slices.Clone(s.pages[p]), true
	}
	if w := &s.pages[p][x/64%setPage]; *w&(1<<(x%64)) == 0 {
		*w |= 1 << (x % 64)
		s.size++
	}
}

// fork returns a copy of s. s must not change afterwards (a forked branch
// never does); the copy clones a page the first time it sets a bit in it.
func (s *nodeSet) fork() nodeSet {
	return nodeSet{pages: slices.Clone(s.pages), owned: make([]bool, len(s.owned)), size: s.size}
}

// replay makes every node's ops on a document at exactly its parents'
// version, then merges every head into one document, the way an oplog is
// checked out. A node whose parent has no other child still to come takes
// the parent's document over; otherwise it works on a fork (text.Doc.Fork,
// which copies only the chunks it changes), so a history with many
// branches costs what its branches change, not a copy of the text each.
func replay(h *history) (*text.Doc, error) {
	nodes := h.nodes
	n := len(nodes)
	children := make([]int, n)
	for _, nd := range nodes {
		for _, p := range nd.parents {
			children[p]++
		}
	}
	ops := make([][]op, n)
	states := make([]*branch, n)
	var heads, stack, missing []int
	take := func(p int) *branch {
		s := states[p]
		s.refs--
		if s.refs == 0 && !s.forked {
			states[p] = nil
			return s
		}
		s.forked = true
		if s.refs == 0 {
			states[p] = nil
		}
		return &branch{d: s.d.Fork(), has: s.has.fork()}
	}
	// merge applies to b every node behind from that b lacks, in node order
	// (a causal order).
	merge := func(b *branch, from []int) error {
		stack, missing = append(stack[:0], from...), missing[:0]
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if b.has.has(x) {
				continue
			}
			b.has.add(x)
			missing = append(missing, x)
			stack = append(stack, nodes[x].parents...)
		}
		slices.Sort(missing)
		for _, x := range missing {
			if err := apply(b.d, ops[x]); err != nil {
				return fmt.Errorf("merge node %d: %w", x, err)
			}
		}
		return nil
	}
	for i := range nodes {
		nd := &nodes[i]
		var b *branch
		if len(nd.parents) == 0 {
			b = &branch{d: text.New(), has: newNodeSet(n)}
		} else {
			// Build on the parent holding the most nodes: the merge then
			// applies the fewest ops.
			base := largest(states, nd.parents)
			b = take(base)
			if err := merge(b, nd.parents); err != nil {
				return nil, err
			}
			for _, q := range nd.parents {
				if s := states[q]; s != nil && q != base {
					if s.refs--; s.refs == 0 {
						states[q] = nil
					}
				}
			}
		}
		var err error
		if ops[i], err = local(b.d, h, nd); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		b.has.add(i)
		b.refs, b.forked = children[i], false
		states[i] = b
		if children[i] == 0 {
			heads = append(heads, i)
		}
	}
	if len(heads) == 0 {
		return text.New(), nil
	}
	b := states[largest(states, heads)]
	if err := merge(b, heads); err != nil {
		return nil, err
	}
	return b.d, nil
}

// largest returns the node of among whose branch holds the most nodes.
func largest(states []*branch, among []int) int {
	best := among[0]
	for _, p := range among[1:] {
		if states[p].has.size > states[best].has.size {
			best = p
		}
	}
	return best
}

// sequential replays a one-author trace straight into one document, as
// diamond-types' Doc.ins/del do: the ops each edit returns are the same
// ones the document now holds (AppendBinary writes them all), so they are
// not kept a second time.
func sequential(t *seqTrace) (*text.Doc, error) {
	d := text.New()
	id := text.ID{Replica: rep(0)}
	ins := func(pos int, s string) error {
		if _, err := d.LocalInsert(id, pos, s); err != nil {
			return err
		}
		id.Seq += uint64(utf8.RuneCountInString(s))
		return nil
	}
	if t.StartContent != "" {
		if err := ins(0, t.StartContent); err != nil {
			return nil, err
		}
	}
	for _, tx := range t.Txns {
		for _, p := range tx.Patches {
			if p.Del > 0 {
				if _, err := d.LocalDelete(p.Pos, p.Del); err != nil {
					return nil, err
				}
			}
			if p.Ins != "" {
				if err := ins(p.Pos, p.Ins); err != nil {
					return nil, err
				}
			}
		}
	}
	return d, nil
}

func concurrentNodes(t *seqTrace) (*history, error) {
	var b historyBuilder
	seqs := map[int]uint64{}
	for i, tx := range t.Txns {
		for _, p := range tx.Parents {
			if p < 0 || p >= i {
				return nil, fmt.Errorf("txn %d: parent %d is not an earlier txn", i, p)
			}
		}
		b.add(node{agent: rep(tx.Agent), seq: seqs[tx.Agent]}, tx.Parents, tx.Patches)
		for _, p := range tx.Patches {
			seqs[tx.Agent] += uint64(utf8.RuneCountInString(p.Ins))
		}
	}
	return b.build(), nil
}

func conformanceNodes(h *confHistory) (*history, error) {
	var names []string
	for _, tx := range h.Txns {
		names = append(names, tx.Agent)
	}
	sort.Strings(names)
	names = slices.Compact(names)
	byLast := map[int]int{}
	for i, tx := range h.Txns {
		byLast[tx.Span[1]-1] = i
	}
	var b historyBuilder
	var parents []int
	for i, tx := range h.Txns {
		parents = parents[:0]
		for _, lv := range tx.Parents {
			p, ok := byLast[lv]
			if !ok || p >= i {
				return nil, fmt.Errorf("txn %d: parent %d is not the end of an earlier txn", i, lv)
			}
			parents = append(parents, p)
		}
		b.add(node{agent: rep(sort.SearchStrings(names, tx.Agent)), seq: tx.SeqStart, delSeqs: true}, parents, tx.Ops)
	}
	return b.build(), nil
}

// History 621 of the conformance file expects a value no FugueMax
// integration gives; see syncengine/text/conf621_test.go. diamond-types
// gives what we give.
const conformance621 = 621

type loaded struct {
	name string
	run  func() ([]*text.Doc, error)
	want []string
	skip map[int]bool
}

func load(path string) (*loaded, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	l := &loaded{name: strings.TrimSuffix(filepath.Base(path), ".json.gz")}
	if b := bytes.TrimLeft(raw, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		var hs []confHistory
		if err := json.Unmarshal(raw, &hs); err != nil {
			return nil, err
		}
		all := make([]*history, len(hs))
		for i := range hs {
			if all[i], err = conformanceNodes(&hs[i]); err != nil {
				return nil, fmt.Errorf("history %d: %w", i, err)
			}
			l.want = append(l.want, hs[i].EndContent)
		}
		l.skip = map[int]bool{conformance621: true}
		l.run = func() ([]*text.Doc, error) {
			out := make([]*text.Doc, len(all))
			for i, h := range all {
				if out[i], err = replay(h); err != nil {
					return nil, fmt.Errorf("history %d: %w", i, err)
				}
			}
			return out, nil
		}
		return l, nil
	}
	var t seqTrace
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	l.want = []string{t.EndContent}
	if t.Kind == "concurrent" {
		h, err := concurrentNodes(&t)
		if err != nil {
			return nil, err
		}
		l.run = func() ([]*text.Doc, error) {
			d, err := replay(h)
			return []*text.Doc{d}, err
		}
		return l, nil
	}
	l.run = func() ([]*text.Doc, error) {
		d, err := sequential(&t)
		return []*text.Doc{d}, err
	}
	return l, nil
}

func main() {
	dir := flag.String("traces", "syncengine/testdata", "directory holding the .json.gz traces")
	runs := flag.Int("runs", 5, "timed runs per trace (the best is reported)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gotrace:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.json.gz"))
	if err != nil || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "gotrace: no .json.gz traces in", *dir)
		os.Exit(1)
	}
	sort.Strings(files)
	for _, file := range files {
		if err := measure(file, *runs); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "gotrace:", file, err)
			os.Exit(1)
		}
	}
}

func measure(file string, runs int) error {
	l, err := load(file)
	if err != nil {
		return err
	}
	best, bestCPU := time.Duration(1<<62), time.Duration(1<<62)
	var docs []*text.Doc
	var got []string
	var ms0, ms1 runtime.MemStats
	for i := 0; i < runs; i++ {
		docs, got = nil, nil
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		// The end content is part of the work, as diamond-types' timed
		// replay ends with get() (and its checkout); encoding is not, on
		// either side.
		start, cpu0 := time.Now(), cpuTime()
		if docs, err = l.run(); err != nil {
			return err
		}
		for _, d := range docs {
			got = append(got, d.String())
		}
		best = min(best, time.Since(start))
		bestCPU = min(bestCPU, cpuTime()-cpu0)
		runtime.ReadMemStats(&ms1)
	}
	// Bytes allocated by one run (the last): what makes Go's collector
	// run, the CPU that wall time on two cores hides.
	allocMB := float64(ms1.TotalAlloc-ms0.TotalAlloc) / (1 << 20)
	for i, s := range got {
		if s != l.want[i] && !l.skip[i] {
			return fmt.Errorf("end content of %d differs", i)
		}
	}
	docs = nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	docs, _ = l.run()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / (1 << 20)
	size, raw := 0, 0
	for _, d := range docs {
		size += EncodedSize(d)
		raw += len(d.AppendBinary(nil))
	}
	out, _ := json.Marshal(map[string]any{
		"impl": "joinedup", "trace": l.name, "ms": float64(best.Microseconds()) / 1000, "cpuMs": float64(bestCPU.Microseconds()) / 1000,
		"heapMB": heap, "allocMB": allocMB, "bytes": size, "rawBytes": raw,
	})
	fmt.Println(string(out))
	return nil
}

// cpuTime is the CPU this process has used (every thread: the garbage
// collector's work counts). On a shared machine it varies far less than
// wall time, so the comparison with diamond-types uses it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// EncodedSize is the size of d as the engine ships it: AppendBinary inside a
// snappy block, as syncengine's wire frames carry text (the frame's 4-byte
// header aside). Yjs, Automerge and diamond-types are measured by their own
// save formats (Automerge's already deflate-compressed), without snappy on
// top.
func EncodedSize(d *text.Doc) int {
	return len(snappy.Encode(nil, d.AppendBinary(nil)))
}
