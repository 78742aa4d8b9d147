package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DNSBuckets are the upper bounds, in seconds, of the DNS response-time
// histogram: from 10 µs (an answer from the compiled view) to 100 ms (a
// zone transfer).
var DNSBuckets = []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 100e-3}

// ProbeBuckets are the upper bounds, in seconds, of the probe duration
// histogram.
var ProbeBuckets = []float64{1e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5}

// ApplyBuckets are the upper bounds, in seconds, of the Raft apply
// latency histogram.
var ApplyBuckets = []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 5}

// Config configures a Metrics value. Every field is optional: a nil source
// exports nothing for its part, an empty NodeID leaves the node label
// empty.
type Config struct {
	// NodeID is the value of the node label of per-node series (probe
	// results and local verdicts).
	NodeID string
	// State gives the current replicated state (cluster.Node satisfies
	// it).
	State StateSource
	// Raft gives the node's Raft status.
	Raft RaftSource
	// Probes gives the node's prober's view.
	Probes ProbeSource
	// Route53 gives the Route 53 reconciler's per-name sync state (empty
	// on a node that does not lead).
	Route53 Route53Source
	// Logger receives errors of serving /metrics; nil discards.
	Logger *slog.Logger
}

// Metrics holds a node's Prometheus registry and its metrics. Build it with
// New; its methods are safe for concurrent use. The zero value is not
// usable.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger
	node   string

	queries  *prometheus.CounterVec   // zone, qtype, rcode
	response *prometheus.HistogramVec // zone
	// dns maps a label triple to its resolved children. It is
	// copy-on-write: readers Load it without a lock; a miss takes dnsMu,
	// copies the map with the new entry and stores it.
	dns   atomic.Pointer[map[dnsKey]*dnsChild]
	dnsMu sync.Mutex

	probeResults  *prometheus.CounterVec   // pool, endpoint, node, result
	probeDuration *prometheus.HistogramVec // pool, endpoint, node
	apply         prometheus.Histogram
	r53Requests   *prometheus.CounterVec // operation, outcome
	// rateLimited is detour_dns_rate_limited_total; its drop and slip
	// children are resolved in New so that counting them takes no lock.
	rateLimited              *prometheus.CounterVec // action
	rateDropped, rateSlipped prometheus.Counter
}

type dnsKey struct{ zone, qtype, rcode string }

type dnsChild struct {
	count prometheus.Counter
	time  prometheus.Observer
}

// New builds the registry with Go runtime and process collectors, the pushed
// metrics and a collector that reads cfg's sources at scrape time. It
// starts nothing.
func New(cfg Config) (*Metrics, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger.With("component", "metrics"),
		node:   cfg.NodeID,
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detour_dns_queries_total",
			Help: "DNS replies sent, by zone (empty: not ours), query type and rcode.",
		}, []string{"zone", "qtype", "rcode"}),
		response: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "detour_dns_response_seconds",
			Help:    "Time from reading a DNS query to its reply being ready, by zone.",
			Buckets: DNSBuckets,
		}, []string{"zone"}),
		probeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detour_probe_results_total",
			Help: "Probe results by pool, endpoint, probing node and result (ok or fail).",
		}, []string{"pool", "endpoint", "node", "result"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "detour_probe_duration_seconds",
			Help:    "Probe durations by pool, endpoint and probing node.",
			Buckets: ProbeBuckets,
		}, []string{"pool", "endpoint", "node"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "detour_raft_apply_seconds",
			Help:    "Time from proposing a command to Raft to its result on this node.",
			Buckets: ApplyBuckets,
		}),
		r53Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detour_route53_requests_total",
			Help: "HTTP attempts to the Route 53 API (retries included) by operation and outcome (ok, throttled, error).",
		}, []string{"operation", "outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detour_dns_rate_limited_total",
			Help: "UDP responses held back by response rate limiting, by action: drop (not sent) or slip (sent truncated, TC=1).",
		}, []string{"action"}),
	}
	m.rateDropped = m.rateLimited.WithLabelValues("drop")
	m.rateSlipped = m.rateLimited.WithLabelValues("slip")
	empty := map[dnsKey]*dnsChild{}
	m.dns.Store(&empty)
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.queries, m.response, m.probeResults, m.probeDuration, m.apply, m.r53Requests, m.rateLimited,
		newScrapeCollector(cfg),
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics collector: %w", err)
		}
	}
	return m, nil
}

// Registry returns the registry behind Handler, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the http.Handler that serves the registry in the
// Prometheus exposition format (mount it at /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{m.logger},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// slogPrinter lets promhttp report errors through slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Error("serve metrics", "error", fmt.Sprint(v...)) }

// ObserveQuery records one DNS reply: it counts it by zone, qtype and rcode
// and observes d in the zone's response-time histogram. It implements
// dnsserver's Metrics hook: safe for concurrent use, it does not block
// (after the first reply of a label triple, it takes no lock) and does not
// allocate once the triple has been seen.
func (m *Metrics) ObserveQuery(zone, qtype, rcode string, d time.Duration) {
	k := dnsKey{zone, qtype, rcode}
	c, ok := (*m.dns.Load())[k]
	if !ok {
		c = m.dnsChildSlow(k)
	}
	c.count.Inc()
	c.time.Observe(d.Seconds())
}

// dnsChildSlow resolves the children of a label triple seen for the first
// time and publishes a copy of the cache with it.
func (m *Metrics) dnsChildSlow(k dnsKey) *dnsChild {
	m.dnsMu.Lock()
	defer m.dnsMu.Unlock()
	old := *m.dns.Load()
	if c, ok := old[k]; ok {
		return c
	}
	c := &dnsChild{
		count: m.queries.WithLabelValues(k.zone, k.qtype, k.rcode),
		time:  m.response.WithLabelValues(k.zone),
	}
	next := make(map[dnsKey]*dnsChild, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = c
	m.dns.Store(&next)
	return c
}

// ObserveProbe records one probe result of this node: ok or not, and how
// long it took.
func (m *Metrics) ObserveProbe(pool, endpoint string, ok bool, d time.Duration) {
	result := "fail"
	if ok {
		result = "ok"
	}
	m.probeResults.WithLabelValues(pool, endpoint, m.node, result).Inc()
	m.probeDuration.WithLabelValues(pool, endpoint, m.node).Observe(d.Seconds())
}

// ObserveApply records the latency of one command proposed to Raft by
// this node, from the proposal to its result.
func (m *Metrics) ObserveApply(d time.Duration) { m.apply.Observe(d.Seconds()) }

// ObserveRateLimited counts one UDP response that response rate limiting
// dropped ("drop") or sent truncated ("slip") in
// detour_dns_rate_limited_total. It implements dnsserver's optional
// RateLimitMetrics hook: safe for concurrent use, it does not block and,
// for drop and slip, takes no lock and does not allocate.
func (m *Metrics) ObserveRateLimited(action string) {
	switch action {
	case "drop":
		m.rateDropped.Inc()
	case "slip":
		m.rateSlipped.Inc()
	default:
		m.rateLimited.WithLabelValues(action).Inc()
	}
}
