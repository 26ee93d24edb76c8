package api

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics are exposed in the Prometheus text format at /metrics. They are
// hand-written: a handful of counters and one histogram do not need a client library.
type Metrics struct {
	SyncRequests *CounterVec // by result: ok | error
	BytesIn      atomic.Int64
	BytesOut     atomic.Int64
	Changesets   *CounterVec // by status: accepted | duplicate | quarantined
	Sent         *CounterVec // by kind: changeset | snapshot
	Conflicts    atomic.Int64
	Enrolments   atomic.Int64
	Revoked      atomic.Int64 // contacts refused because the device is revoked
	HTTPRequests *CounterVec  // by status code
	SyncLatency  *Histogram
	SSEClients   atomic.Int64
}

func NewMetrics() *Metrics {
	return &Metrics{
		SyncRequests: &CounterVec{}, Changesets: &CounterVec{}, Sent: &CounterVec{}, HTTPRequests: &CounterVec{},
		SyncLatency: NewHistogram([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
	}
}

// CounterVec is a counter with one label.
type CounterVec struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *CounterVec) Add(label string, n int64) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[label] += n
	c.mu.Unlock()
}

func (c *CounterVec) Inc(label string) { c.Add(label, 1) }

// Get returns one label's count.
func (c *CounterVec) Get(label string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[label]
}

func (c *CounterVec) write(w io.Writer, name, help, label string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	c.mu.Lock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%q} %d\n", name, label, k, c.m[k])
	}
	c.mu.Unlock()
}

// Histogram is a fixed-bucket latency histogram.
type Histogram struct {
	mu      sync.Mutex
	bounds  []float64
	counts  []int64
	sum     float64
	samples int64
}

func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]int64, len(bounds))}
}

func (h *Histogram) Observe(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
		}
	}
	h.sum += v
	h.samples++
	h.mu.Unlock()
}

func (h *Histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.bounds {
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, h.counts[i])
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.samples, name, math.Round(h.sum*1e6)/1e6, name, h.samples)
}

func gauge(w io.Writer, name, help string, v int64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
}

func counter(w io.Writer, name, help string, v int64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
}

// WriteTo writes every metric; quarantineOpen is read from the store at scrape time.
func (m *Metrics) WriteText(w io.Writer, quarantineOpen int64) {
	m.SyncRequests.write(w, "joinedup_sync_requests_total", "Sync round trips by result.", "result")
	counter(w, "joinedup_sync_bytes_in_total", "Request body bytes received on /v1/sync.", m.BytesIn.Load())
	counter(w, "joinedup_sync_bytes_out_total", "Response body bytes sent on /v1/sync.", m.BytesOut.Load())
	m.Changesets.write(w, "joinedup_changesets_pushed_total", "Pushed changesets by outcome.", "status")
	m.Sent.write(w, "joinedup_pull_items_total", "Changesets and record snapshots sent to devices.", "kind")
	counter(w, "joinedup_conflicts_total", "Accepted changesets that left a field with concurrent values.", m.Conflicts.Load())
	counter(w, "joinedup_enrolments_total", "Devices enrolled.", m.Enrolments.Load())
	counter(w, "joinedup_revoked_contacts_total", "Requests refused because the device is revoked.", m.Revoked.Load())
	gauge(w, "joinedup_quarantine_open", "Quarantined changesets awaiting review.", quarantineOpen)
	gauge(w, "joinedup_sse_clients", "Connected live-channel clients.", m.SSEClients.Load())
	gauge(w, "go_goroutines", "Goroutines that currently exist (a leak shows as growth over a soak).", int64(runtime.NumGoroutine()))
	m.HTTPRequests.write(w, "joinedup_http_requests_total", "HTTP requests by status code.", "code")
	m.SyncLatency.write(w, "joinedup_sync_duration_seconds", "Time to serve one sync round trip.")
}
