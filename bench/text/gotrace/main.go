// Command gotrace replays the automerge-paper and friendsforever editing
// traces through syncengine/text and prints one JSON line per trace with the
// same figures bench/text/run.mjs prints for Yjs and Automerge.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/golang/snappy"
	"github.com/joinedup/joinedup/syncengine/text"
)

type patch [3]any

type trace struct {
	EndContent string
	NumAgents  int
	Txns       []struct {
		Parents []int
		Agent   int
		Patches []patch
	}
}

func load(path string) (*trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var t trace
	return &t, json.NewDecoder(zr).Decode(&t)
}

func rep(n int) [16]byte { return [16]byte{0: 'r', 15: byte(n)} }

type op struct {
	ins *text.Insert
	del *text.Delete
}

func local(d *text.Doc, r [16]byte, seq *uint64, ps []patch, out *[]op) error {
	for _, p := range ps {
		pos, del, ins := int(p[0].(float64)), int(p[1].(float64)), p[2].(string)
		if del > 0 {
			o, err := d.LocalDelete(pos, del)
			if err != nil {
				return err
			}
			if out != nil {
				*out = append(*out, op{del: &o})
			}
		}
		if ins != "" {
			o, err := d.LocalInsert(text.ID{Replica: r, Seq: *seq}, pos, ins)
			if err != nil {
				return err
			}
			*seq += uint64(len([]rune(ins)))
			if out != nil {
				*out = append(*out, op{ins: &o})
			}
		}
	}
	return nil
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

func sequential(t *trace) (*text.Doc, error) {
	d := text.New()
	var seq uint64
	for _, tx := range t.Txns {
		if err := local(d, rep(1), &seq, tx.Patches, nil); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// concurrent simulates each agent as a replica that merges the txns its next
// txn depends on, then types it; the result is everything merged into one doc.
func concurrent(t *trace) (*text.Doc, error) {
	ops := make([][]op, len(t.Txns))
	type agent struct {
		d       *text.Doc
		applied []bool
		seq     uint64
	}
	agents := make([]*agent, t.NumAgents)
	for i := range agents {
		agents[i] = &agent{d: text.New(), applied: make([]bool, len(t.Txns))}
	}
	var stack, missing []int
	for i, tx := range t.Txns {
		a := agents[tx.Agent]
		stack, missing = append(stack[:0], tx.Parents...), missing[:0]
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !a.applied[p] {
				a.applied[p] = true
				missing = append(missing, p)
				stack = append(stack, t.Txns[p].Parents...)
			}
		}
		slices.Sort(missing)
		for _, p := range missing {
			if err := apply(a.d, ops[p]); err != nil {
				return nil, err
			}
		}
		if err := local(a.d, rep(tx.Agent+1), &a.seq, tx.Patches, &ops[i]); err != nil {
			return nil, err
		}
		a.applied[i] = true
	}
	// Bring agent 0 up to date with everything.
	a := agents[0]
	for i := range t.Txns {
		if !a.applied[i] {
			if err := apply(a.d, ops[i]); err != nil {
				return nil, err
			}
		}
	}
	return a.d, nil
}

func main() {
	dir := flag.String("traces", "syncengine/testdata", "directory holding the .json.gz traces")
	runs := flag.Int("runs", 5, "timed runs per trace (the best is reported)")
	flag.Parse()
	for _, c := range []struct {
		name string
		f    func(*trace) (*text.Doc, error)
	}{{"automerge-paper", sequential}, {"friendsforever", concurrent}} {
		t, err := load(filepath.Join(*dir, c.name+".json.gz"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		best := time.Duration(1 << 62)
		var d *text.Doc
		for i := 0; i < *runs; i++ {
			d = nil
			runtime.GC()
			start := time.Now()
			d, err = c.f(t)
			if err != nil {
				fmt.Fprintln(os.Stderr, c.name, err)
				os.Exit(1)
			}
			best = min(best, time.Since(start))
		}
		if d.String() != t.EndContent {
			fmt.Fprintln(os.Stderr, c.name, "end content differs")
			os.Exit(1)
		}
		d = nil
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, _ = c.f(t)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(t)
		heap := float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / (1 << 20)
		out, _ := json.Marshal(map[string]any{
			"impl": "joinedup", "trace": c.name, "ms": float64(best.Microseconds()) / 1000,
			"heapMB": heap, "bytes": EncodedSize(d), "rawBytes": len(d.AppendBinary(nil)),
		})
		fmt.Println(string(out))
	}
}

// EncodedSize is the size of d as the engine ships it: AppendBinary inside a
// snappy block, as syncengine's wire frames carry text (the frame's 4-byte
// header aside). Yjs and Automerge are measured by their own save formats
// (Automerge's already deflate-compressed), without snappy on top.
func EncodedSize(d *text.Doc) int {
	return len(snappy.Encode(nil, d.AppendBinary(nil)))
}
