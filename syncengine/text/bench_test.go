package text

import (
	"runtime"
	"testing"
)

// heapAfter replays once more and returns the live heap the result holds.
func heapAfter(f func() *Doc) (uint64, *Doc) {
	runtime.GC()
	var before, live runtime.MemStats
	runtime.ReadMemStats(&before)
	d := f()
	runtime.GC()
	runtime.ReadMemStats(&live)
	runtime.KeepAlive(d)
	if live.HeapAlloc < before.HeapAlloc {
		return 0, d
	}
	return live.HeapAlloc - before.HeapAlloc, d
}

func BenchmarkAutomergePaper(b *testing.B) {
	var tr seqTrace
	loadGz(b, "automerge-paper.json.gz", &tr)
	b.ResetTimer()
	var d *Doc
	for i := 0; i < b.N; i++ {
		d = replaySeq(b, &tr)
	}
	b.StopTimer()
	heap, d2 := heapAfter(func() *Doc { return replaySeq(b, &tr) })
	b.ReportMetric(float64(len(d.AppendBinary(nil))), "encoded-B")
	b.ReportMetric(float64(heap)/(1<<20), "live-heap-MB")
	runtime.KeepAlive(d2)
	runtime.KeepAlive(&tr)
}

func BenchmarkFriendsForever(b *testing.B) {
	var tr concTrace
	loadGz(b, "friendsforever.json.gz", &tr)
	ops := replayConc(b, &tr)
	merge := func() *Doc {
		d := New()
		for i := range ops {
			ops[i].apply(b, d)
		}
		return d
	}
	b.ResetTimer()
	var d *Doc
	for i := 0; i < b.N; i++ {
		d = merge()
	}
	b.StopTimer()
	heap, d2 := heapAfter(merge)
	b.ReportMetric(float64(len(d.AppendBinary(nil))), "encoded-B")
	b.ReportMetric(float64(heap)/(1<<20), "live-heap-MB")
	runtime.KeepAlive(d2)
	runtime.KeepAlive(ops)
}

// BenchmarkFriendsForeverReplicas includes both agents typing and merging.
func BenchmarkFriendsForeverReplicas(b *testing.B) {
	var tr concTrace
	loadGz(b, "friendsforever.json.gz", &tr)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		replayConc(b, &tr)
	}
}
