// Package pushpath benchmarks the server's per-changeset work on the week
// push (issue 12) outside storage: reading the request, decoding and
// re-encoding changesets, encoding record states. Run:
//
//	go test -run '^$' -bench . -benchtime 20x -count 3 ./bench/pushpath/
//
// ParseStrings is how the sync handler read a JSON body before (frames as
// strings, then base64), ParseBytes how it reads it now: compare the two in
// the same run. Each also reports the process's CPU time per op (cpu-ns/op),
// steadier than wall time on a shared machine.
package pushpath

import (
	"encoding/base64"
	"encoding/json"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

var week = sync.OnceValues(func() (*fixtures.History, error) {
	return fixtures.Generate(fixtures.Week()).Changesets(1)
})

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run times fn b.N times, reporting CPU time per op beside wall time.
func run(b *testing.B, fn func()) {
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		fn()
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

func changesets(b *testing.B) []*syncengine.Changeset {
	h, err := week()
	if err != nil {
		b.Fatal(err)
	}
	return h.Changesets
}

// bodies are the week as JSON sync bodies of 20 changesets each, as the
// benchmark's phones send them.
func bodies(b *testing.B) [][]byte {
	css := changesets(b)
	var out [][]byte
	for i := 0; i < len(css); i += 20 {
		req := protocol.Request{NoPull: true}
		for _, cs := range css[i:min(i+20, len(css))] {
			req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
		}
		body, err := json.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

func BenchmarkParseStrings(b *testing.B) {
	bs := bodies(b)
	run(b, func() {
		for _, body := range bs {
			var hdr protocol.Request
			if err := json.Unmarshal(body, &hdr); err != nil {
				b.Fatal(err)
			}
			for _, s := range hdr.Changesets {
				if _, err := base64.StdEncoding.DecodeString(s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// syncJSON is the sync handler's body type (server/api/sync.go).
type syncJSON struct {
	protocol.Request
	Changesets [][]byte `json:"changesets,omitempty"`
}

func BenchmarkParseBytes(b *testing.B) {
	bs := bodies(b)
	run(b, func() {
		for _, body := range bs {
			var hdr syncJSON
			if err := json.Unmarshal(body, &hdr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeCanonical(b *testing.B) {
	var frames [][]byte
	for _, cs := range changesets(b) {
		frames = append(frames, syncengine.EncodeChangeset(cs))
	}
	run(b, func() {
		for _, f := range frames {
			if _, canonical, err := syncengine.DecodeChangesetsCanonical(f); err != nil || !canonical {
				b.Fatal(canonical, err)
			}
		}
	})
}

func BenchmarkEncodeChangesets(b *testing.B) {
	css := changesets(b)
	run(b, func() {
		for _, cs := range css {
			syncengine.EncodeChangeset(cs)
		}
	})
}

func BenchmarkEncodeRecords(b *testing.B) {
	h, err := week()
	if err != nil {
		b.Fatal(err)
	}
	recs := h.Store.Records()
	run(b, func() {
		for _, r := range recs {
			syncengine.EncodeRecord(r)
		}
	})
}
