// Command webapp times the engine decoding and applying a realistic week of
// one team's changes (fixtures.Week), the work a field app's first sync
// does. run.sh runs it natively and compiled to WebAssembly under Node's V8
// (the engine Chromium uses) and prints the ratio; it also reports the
// field app's bundle size, raw and compressed.
package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/syncengine"
)

func main() {
	ds := fixtures.Generate(fixtures.Week())
	h, err := ds.Changesets(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/webapp:", err)
		os.Exit(1)
	}
	var frames [][]byte
	for _, cs := range h.Changesets {
		frames = append(frames, syncengine.EncodeChangeset(cs))
	}
	var best time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		st := syncengine.NewMemStore()
		id, _ := syncengine.NewReplicaID(rand.Reader)
		r, _ := syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: rand.Reader, Store: st})
		for _, f := range frames {
			cs, err := syncengine.DecodeChangeset(f)
			if err == nil {
				_, err = r.Apply(cs)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench/webapp: apply:", err)
				os.Exit(1)
			}
		}
		if d := time.Since(start); i == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("changesets=%d apply_us=%d\n", len(frames), best.Microseconds())
}
