// Package texttrace reads the editing-traces file formats (josephg/editing-traces
// and the eg-walker conformance data) that syncengine/text is tested and
// benchmarked on: sequential and concurrent traces, and conformance
// histories. See syncengine/testdata/TRACES.md.
package texttrace

import (
	"encoding/json"
	"fmt"
)

// Patch is one edit at a position: delete Del characters at Pos, then
// insert Ins there.
type Patch struct {
	Pos, Del int
	Ins      string
}

// UnmarshalJSON reads the files' [pos, del, ins] triples.
func (p *Patch) UnmarshalJSON(b []byte) error {
	var a [3]any
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	pos, ok1 := a[0].(float64)
	del, ok2 := a[1].(float64)
	ins, ok3 := a[2].(string)
	if !ok1 || !ok2 || !ok3 || pos < 0 || del < 0 {
		return fmt.Errorf("bad patch %s", b)
	}
	p.Pos, p.Del, p.Ins = int(pos), int(del), ins
	return nil
}

// Trace is a sequential trace (Kind empty: apply every txn in order to
// StartContent) or a concurrent one (Kind "concurrent": each txn's
// positions are relative to the document its Parents, earlier txns,
// merge to).
type Trace struct {
	Kind         string
	StartContent string
	EndContent   string
	NumAgents    int
	Txns         []Txn
}

// Txn is one transaction of a trace; its patches apply one after another.
type Txn struct {
	Parents []int
	Agent   int
	Patches []Patch
}

// ConfHistory is one eg-walker conformance history.
type ConfHistory struct {
	EndContent string
	Txns       []ConfTxn
}

// ConfTxn is a transaction of a conformance history: its events are the
// local versions Span[0] to Span[1]-1, its Parents local versions.
type ConfTxn struct {
	Span     [2]int
	Parents  []int
	Agent    string
	SeqStart uint64
	Ops      []Patch
}
