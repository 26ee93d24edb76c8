package api

import (
	"context"
	"crypto/subtle"
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus metrics, on a registry of their own
// (one per Server, so tests can run many) with the Go runtime and process
// collectors.
type Metrics struct {
	Registry     *prometheus.Registry
	SyncRequests *prometheus.CounterVec // by result: ok | error
	BytesIn      prometheus.Counter
	BytesOut     prometheus.Counter
	Changesets   *prometheus.CounterVec // by status: accepted | duplicate | quarantined
	Sent         *prometheus.CounterVec // by kind: changeset | snapshot
	Conflicts    prometheus.Counter
	Enrolments   prometheus.Counter
	Revoked      prometheus.Counter     // contacts refused because the device is revoked
	HTTPRequests *prometheus.CounterVec // by status code
	SyncLatency  prometheus.Histogram
	SSEClients   prometheus.Gauge
}

// NewMetrics registers the metrics; quarantineOpen is read at scrape time.
func NewMetrics(quarantineOpen func(ctx context.Context) (int, error)) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	counter := func(name, help string) prometheus.Counter {
		return f(prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})).(prometheus.Counter)
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return f(prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})).(*prometheus.CounterVec)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "joinedup_quarantine_open", Help: "Quarantined changesets awaiting review."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := quarantineOpen(ctx)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}))
	m := &Metrics{
		Registry:     reg,
		SyncRequests: counterVec("joinedup_sync_requests_total", "Sync round trips by result.", "result"),
		BytesIn:      counter("joinedup_sync_bytes_in_total", "Request body bytes received on /v1/sync."),
		BytesOut:     counter("joinedup_sync_bytes_out_total", "Response body bytes sent on /v1/sync."),
		Changesets:   counterVec("joinedup_changesets_pushed_total", "Pushed changesets by outcome.", "status"),
		Sent:         counterVec("joinedup_pull_items_total", "Changesets and record snapshots sent to devices.", "kind"),
		Conflicts:    counter("joinedup_conflicts_total", "Accepted changesets that left a field with concurrent values."),
		Enrolments:   counter("joinedup_enrolments_total", "Devices enrolled."),
		Revoked:      counter("joinedup_revoked_contacts_total", "Requests refused because the device is revoked."),
		HTTPRequests: counterVec("joinedup_http_requests_total", "HTTP requests by status code.", "code"),
		SyncLatency: f(prometheus.NewHistogram(prometheus.HistogramOpts{Name: "joinedup_sync_duration_seconds",
			Help: "Time to serve one sync round trip.", Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}})).(prometheus.Histogram),
		SSEClients: f(prometheus.NewGauge(prometheus.GaugeOpts{Name: "joinedup_sse_clients", Help: "Connected live-channel clients."})).(prometheus.Gauge),
	}
	// Known label values start at zero, so that rates and alerts have a
	// series before the first event.
	for vec, values := range map[*prometheus.CounterVec][]string{
		m.SyncRequests: {"ok", "error"},
		m.Changesets:   {protocol.StatusAccepted, protocol.StatusDuplicate, protocol.StatusQuarantined},
		m.Sent:         {"changeset", "snapshot"},
	} {
		for _, v := range values {
			vec.WithLabelValues(v)
		}
	}
	return m
}

// registerMetricsRoute serves GET /metrics on r: behind the bearer token when
// one is configured; without one, only on the metrics address (ServeMetrics),
// which the operator keeps private. On the API's address it is then absent:
// the metrics name how busy each part of the service is, which is nobody
// else's business, and scraping costs a store read.
func registerMetricsRoute(s *Server, r fiber.Router, private bool) {
	if s.Config.MetricsToken == "" && !private {
		return
	}
	h := adaptor.HTTPHandler(promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	r.Get("/metrics", s.requireMetricsToken, h)
}

// requireMetricsToken checks "Authorization: Bearer <MetricsToken>" when a
// token is configured, in constant time.
func (s *Server) requireMetricsToken(c *fiber.Ctx) error {
	if s.Config.MetricsToken == "" {
		return c.Next()
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.Config.MetricsToken)) != 1 {
		return Errorf(domain.EUNAUTHORIZED, "metrics need the bearer token")
	}
	return c.Next()
}
