// Command engine measures the sync engine on a realistic week of one busy
// team's changes (fixtures.Week). Every figure is printed next to a baseline
// measured in the same run, because these machines are shared and noisy:
// wire bytes against the same changesets as plain JSON and as snappy JSON,
// encode and apply time against encoding/json doing the same amount of work.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/golang/snappy"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/syncengine"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "editcurve" {
		if err := editCurve(); err != nil {
			fmt.Fprintln(os.Stderr, "bench/engine:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/engine:", err)
		os.Exit(1)
	}
}

// best runs f n times and returns the fastest run (the least disturbed by noise).
func best(n int, f func()) time.Duration {
	var b time.Duration
	for i := 0; i < n; i++ {
		s := time.Now()
		f()
		if d := time.Since(s); i == 0 || d < b {
			b = d
		}
	}
	return b
}

func run() error {
	ds := fixtures.Generate(fixtures.Week())
	h, err := ds.Changesets(1)
	if err != nil {
		return err
	}
	css := h.Changesets
	ops := 0
	for _, cs := range css {
		ops += len(cs.Ops)
	}
	fmt.Printf("week of one team: %s\n", ds.Stats())
	fmt.Printf("%d changesets, %d ops\n\n", len(css), ops)

	// Bytes on the wire.
	var perCS, jsonBytes, snappyJSON int
	for _, cs := range css {
		perCS += len(syncengine.EncodeChangeset(cs))
		j, _ := json.Marshal(cs)
		jsonBytes += len(j)
		snappyJSON += len(snappy.Encode(nil, j))
	}
	batch := len(syncengine.EncodeChangesets(css))
	jAll, _ := json.Marshal(css)
	fmt.Println("wire bytes per op                 bytes/op   vs JSON   vs snappy(JSON)")
	row := func(name string, n, j, sj int) {
		fmt.Printf("  %-32s %8.1f   %6.3f    %6.3f\n", name, float64(n)/float64(ops), float64(n)/float64(j), float64(n)/float64(sj))
	}
	row("JoinedUp, one frame per save", perCS, jsonBytes, snappyJSON)
	row("JoinedUp, one frame for the week", batch, len(jAll), len(snappy.Encode(nil, jAll)))
	row("plain JSON (baseline)", jsonBytes, jsonBytes, snappyJSON)
	row("snappy JSON (baseline)", snappyJSON, jsonBytes, snappyJSON)

	// Time: encode and decode+apply against encoding/json on the same changesets.
	const runs = 5
	var frames [][]byte
	tEnc := best(runs, func() {
		frames = frames[:0]
		for _, cs := range css {
			frames = append(frames, syncengine.EncodeChangeset(cs))
		}
	})
	var jsons [][]byte
	tJSONEnc := best(runs, func() {
		jsons = jsons[:0]
		for _, cs := range css {
			j, _ := json.Marshal(cs)
			jsons = append(jsons, j)
		}
	})
	tJSONDec := best(runs, func() {
		for _, j := range jsons {
			var cs syncengine.Changeset
			if err := json.Unmarshal(j, &cs); err != nil {
				panic(err)
			}
		}
	})
	var applyErr error
	var peak uint64
	tApply := best(runs, func() {
		runtime.GC()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		st := syncengine.NewMemStore()
		id, _ := syncengine.NewReplicaID(rand.Reader)
		r, _ := syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: rand.Reader, Store: st})
		for _, f := range frames {
			cs, err := syncengine.DecodeChangeset(f)
			if err != nil {
				applyErr = err
				return
			}
			if _, err := r.Apply(cs); err != nil {
				applyErr = err
				return
			}
		}
		var m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if d := m1.HeapAlloc - m0.HeapAlloc; d > peak && m1.HeapAlloc > m0.HeapAlloc {
			peak = d
		}
		runtime.KeepAlive(st)
	})
	if applyErr != nil {
		return applyErr
	}
	fmt.Println()
	fmt.Println("time (best of 5)                          ratio to baseline")
	fmt.Printf("  encode every save                        %6.2f x json.Marshal of the same changesets\n", float64(tEnc)/float64(tJSONEnc))
	fmt.Printf("  decode + apply every save (new replica)  %6.2f x json.Unmarshal of the same changesets (decode only)\n", float64(tApply)/float64(tJSONDec))
	fmt.Printf("  live heap after the week (state + log)   %6.2f MB for %d records, %.2f x the week's JSON size\n", float64(peak)/1e6, len(h.Store.Records()), float64(peak)/float64(len(jAll)))
	snap := syncengine.EncodeSnapshot(h.Store.Records())
	fmt.Printf("  snapshot of the week's state             %6.3f x the week's changesets in one frame (%d bytes)\n", float64(len(snap))/float64(batch), len(snap))
	return editCurve()
}
