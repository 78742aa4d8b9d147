package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/detour-dns/detour/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// value returns the value of the series of family name whose labels
// include want, and whether it exists.
func value(t *testing.T, m *Metrics, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !hasLabels(s, want) {
				continue
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue(), true
			case s.Gauge != nil:
				return s.Gauge.GetValue(), true
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range s.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func mustValue(t *testing.T, m *Metrics, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(t, m, name, labels)
	if !ok {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func mustNew(t *testing.T, cfg Config) *Metrics {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func TestMetrics_ObserveQuery(t *testing.T) {
	m := mustNew(t, Config{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.ObserveQuery("example.test.", "A", "NOERROR", 30*time.Microsecond)
				m.ObserveQuery("example.test.", "AAAA", "NOERROR", 2*time.Millisecond)
				m.ObserveQuery("", "A", "REFUSED", time.Microsecond)
			}
		})
	}
	wg.Wait()
	mustValue(t, m, "detour_dns_queries_total", map[string]string{"zone": "example.test.", "qtype": "A", "rcode": "NOERROR"}, 800)
	mustValue(t, m, "detour_dns_queries_total", map[string]string{"zone": "example.test.", "qtype": "AAAA", "rcode": "NOERROR"}, 800)
	mustValue(t, m, "detour_dns_queries_total", map[string]string{"zone": "", "qtype": "A", "rcode": "REFUSED"}, 800)
	mustValue(t, m, "detour_dns_response_seconds", map[string]string{"zone": "example.test."}, 1600)
	if n := len(*m.dns.Load()); n != 3 {
		t.Errorf("label cache holds %d triples, want 3", n)
	}

	// The histogram puts 30 µs under 50 µs and 2 ms above 1 ms.
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() != "detour_dns_response_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			if !hasLabels(s, map[string]string{"zone": "example.test."}) {
				continue
			}
			for _, b := range s.Histogram.GetBucket() {
				var want uint64
				switch ub := b.GetUpperBound(); {
				case ub < 50e-6:
					want = 0
				case ub < 2.5e-3:
					want = 800
				default:
					want = 1600
				}
				if b.GetCumulativeCount() != want {
					t.Errorf("bucket le=%g holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
		}
	}
}

func TestMetrics_ObserveQueryDoesNotAllocate(t *testing.T) {
	m := mustNew(t, Config{})
	m.ObserveQuery("example.test.", "A", "NOERROR", time.Microsecond)
	allocs := testing.AllocsPerRun(1000, func() {
		m.ObserveQuery("example.test.", "A", "NOERROR", time.Microsecond)
	})
	if allocs != 0 {
		t.Errorf("ObserveQuery of a seen triple allocates %v times, want 0", allocs)
	}
}

func TestMetrics_ObserveProbeAndApply(t *testing.T) {
	m := mustNew(t, Config{NodeID: "node1"})
	m.ObserveProbe("www.example.test.", "us-east-1", true, 3*time.Millisecond)
	m.ObserveProbe("www.example.test.", "us-east-1", false, 400*time.Millisecond)
	m.ObserveProbe("www.example.test.", "us-east-1", false, 400*time.Millisecond)
	m.ObserveApply(4 * time.Millisecond)
	ep := map[string]string{"pool": "www.example.test.", "endpoint": "us-east-1", "node": "node1"}
	mustValue(t, m, "detour_probe_results_total", merge(ep, "result", "ok"), 1)
	mustValue(t, m, "detour_probe_results_total", merge(ep, "result", "fail"), 2)
	mustValue(t, m, "detour_probe_duration_seconds", ep, 3)
	mustValue(t, m, "detour_raft_apply_seconds", nil, 1)
}

func merge(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}

type stateFunc func() *policy.State

func (f stateFunc) State() *policy.State { return f() }

// exampleState returns a state with the example spec applied, us-east-1 of
// www down and the api pool pinned.
func exampleState(t *testing.T) *policy.State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "policy", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := policy.LoadSpec(b)
	if err != nil {
		t.Fatalf("load example spec: %v", err)
	}
	st := &policy.State{}
	st.ApplySpec(spec, 5, time.Unix(1e9, 0))
	st.Down = map[string]map[string]bool{"www.example.test.": {"us-east-1": true, "eu-west-1": true}}
	if _, err := st.SetOverride(policy.SetOverrideCommand{Override: policy.Override{
		Kind: "pin", Pool: "api.example.test.", Endpoint: "eu-west-1", Actor: "test",
	}}, 6); err != nil {
		t.Fatalf("pin: %v", err)
	}
	return st
}

func TestMetrics_ScrapeSources(t *testing.T) {
	st := exampleState(t)
	now := time.Now()
	m := mustNew(t, Config{
		NodeID: "node2",
		State:  stateFunc(func() *policy.State { return st }),
		Raft: RaftFunc(func() RaftStatus {
			return RaftStatus{Role: "follower", Term: 7, CommitIndex: 40, AppliedIndex: 39, LastLogIndex: 41, LastContact: now.Add(-2 * time.Second)}
		}),
		Probes: ProbeFunc(func() ProbeSnapshot {
			return ProbeSnapshot{Probes: 10, Failures: 4, InFlight: 1, Endpoints: []ProbeEndpoint{
				{Pool: "www.example.test.", Endpoint: "us-east-1", Healthy: false, HasResult: true, LastOK: false, LastDuration: 400 * time.Millisecond},
				{Pool: "www.example.test.", Endpoint: "eu-west-1", Healthy: true},
			}}
		}),
		Route53: Route53Func(func() []Route53Record {
			return []Route53Record{
				{Pool: "www.example.test.", Name: "www.example.test.", Type: "A", State: "in_sync"},
				{Pool: "api.example.test.", Name: "api.example.test.", Type: "A", State: "pending"},
			}
		}),
	})

	mustValue(t, m, "detour_spec_version", nil, 1)
	mustValue(t, m, "detour_endpoint_healthy", map[string]string{"pool": "www.example.test.", "endpoint": "us-east-1"}, 0)
	mustValue(t, m, "detour_endpoint_healthy", map[string]string{"pool": "all.example.test.", "endpoint": "ap-south-1"}, 1)
	mustValue(t, m, "detour_pool_all_down", map[string]string{"pool": "www.example.test."}, 1)
	mustValue(t, m, "detour_pool_all_down", map[string]string{"pool": "all.example.test."}, 0)
	mustValue(t, m, "detour_overrides_active", map[string]string{"kind": "pin"}, 1)
	mustValue(t, m, "detour_overrides_active", map[string]string{"kind": "drain"}, 0)

	mustValue(t, m, "detour_raft_role", map[string]string{"role": "follower"}, 1)
	mustValue(t, m, "detour_raft_role", map[string]string{"role": "leader"}, 0)
	mustValue(t, m, "detour_raft_term", nil, 7)
	mustValue(t, m, "detour_raft_commit_index", nil, 40)
	if v, ok := value(t, m, "detour_raft_last_contact_seconds", nil); !ok || v < 2 || v > 60 {
		t.Errorf("detour_raft_last_contact_seconds = %v (present %v), want about 2", v, ok)
	}

	mustValue(t, m, "detour_probes_total", nil, 10)
	mustValue(t, m, "detour_probe_failures_total", nil, 4)
	us := map[string]string{"pool": "www.example.test.", "endpoint": "us-east-1", "node": "node2"}
	eu := map[string]string{"pool": "www.example.test.", "endpoint": "eu-west-1", "node": "node2"}
	mustValue(t, m, "detour_endpoint_local_healthy", us, 0)
	mustValue(t, m, "detour_endpoint_local_healthy", eu, 1)
	mustValue(t, m, "detour_probe_last_duration_seconds", us, 0.4)
	if _, ok := value(t, m, "detour_probe_last_success", eu); ok {
		t.Error("detour_probe_last_success exported for an endpoint without a result")
	}

	mustValue(t, m, "detour_route53_records", map[string]string{"state": "in_sync"}, 1)
	mustValue(t, m, "detour_route53_records", map[string]string{"state": "pending"}, 1)
	mustValue(t, m, "detour_route53_records", map[string]string{"state": "error"}, 0)
	mustValue(t, m, "detour_route53_record_in_sync", map[string]string{"name": "api.example.test.", "type": "A"}, 0)
}

func TestMetrics_NilStateExportsNothing(t *testing.T) {
	m := mustNew(t, Config{State: stateFunc(func() *policy.State { return nil })})
	if _, ok := value(t, m, "detour_spec_version", nil); ok {
		t.Error("detour_spec_version exported before any state")
	}
}

func TestMetrics_Handler(t *testing.T) {
	m := mustNew(t, Config{Raft: RaftFunc(func() RaftStatus { return RaftStatus{Role: "leader", Term: 3} })})
	m.ObserveQuery("example.test.", "A", "NOERROR", time.Microsecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`detour_dns_queries_total{qtype="A",rcode="NOERROR",zone="example.test."} 1`,
		`detour_raft_role{role="leader"} 1`,
		`detour_raft_term 3`,
		`detour_raft_last_contact_seconds 0`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMetrics_OwnRegistry(t *testing.T) {
	// Two values side by side must not collide (nothing is global).
	a := mustNew(t, Config{})
	b := mustNew(t, Config{})
	a.ObserveQuery("example.test.", "A", "NOERROR", 0)
	if _, ok := value(t, b, "detour_dns_queries_total", nil); ok {
		t.Error("a query observed by one Metrics shows in another")
	}
}

func TestMetrics_InstrumentRoute53(t *testing.T) {
	const throttle = `<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`
	const invalid = `<?xml version="1.0"?><InvalidChangeBatch><Messages><Message>bad</Message></Messages></InvalidChangeBatch>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("case") == "throttle":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, throttle)
		case r.URL.Query().Get("case") == "invalid":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, invalid)
		case r.URL.Query().Get("case") == "429":
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			fmt.Fprint(w, "<ok/>")
		}
	}))
	defer srv.Close()
	m := mustNew(t, Config{})
	hc := &http.Client{Transport: m.InstrumentRoute53(nil)}
	defer hc.CloseIdleConnections()
	do := func(method, path, wantBody string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(nil))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		if string(body) != wantBody {
			t.Errorf("%s %s: body %q, want %q unchanged", method, path, body, wantBody)
		}
	}
	do("POST", "/2013-04-01/hostedzone/Z1/rrset", "<ok/>")
	do("POST", "/2013-04-01/hostedzone/Z1/rrset/?case=throttle", throttle)
	do("POST", "/2013-04-01/hostedzone/Z1/rrset?case=invalid", invalid)
	do("GET", "/2013-04-01/hostedzone/Z1/rrset?case=429", "")
	do("GET", "/2013-04-01/change/C1", "<ok/>")
	do("GET", "/2013-04-01/hostedzone/Z1", "<ok/>")
	do("GET", "/2013-04-01/hostedzonesbyname?dnsname=example.test", "<ok/>")

	op := func(o, outcome string) map[string]string {
		return map[string]string{"operation": o, "outcome": outcome}
	}
	mustValue(t, m, "detour_route53_requests_total", op("ChangeResourceRecordSets", "ok"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("ChangeResourceRecordSets", "throttled"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("ChangeResourceRecordSets", "error"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("ListResourceRecordSets", "throttled"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("GetChange", "ok"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("GetHostedZone", "ok"), 1)
	mustValue(t, m, "detour_route53_requests_total", op("ListHostedZonesByName", "ok"), 1)

	// A transport failure is an error.
	srv.Close()
	if _, err := hc.Get(srv.URL + "/2013-04-01/change/C2"); err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	mustValue(t, m, "detour_route53_requests_total", op("GetChange", "error"), 1)
}

func BenchmarkObserveQuery(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	qtypes := []string{"A", "AAAA", "SOA", "NS", "TXT"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveQuery("example.test.", qtypes[i%len(qtypes)], "NOERROR", 20*time.Microsecond)
			i++
		}
	})
}

// TestDashboardUsesExportedNames checks that every detour_ metric the
// Grafana dashboard queries is one this package exports.
func TestDashboardUsesExportedNames(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "detour.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}

	// A Metrics value with every source set and every pushed metric
	// observed once exports every name.
	st := exampleState(t)
	m := mustNew(t, Config{
		NodeID: "node1",
		State:  stateFunc(func() *policy.State { return st }),
		Raft:   RaftFunc(func() RaftStatus { return RaftStatus{Role: "follower", LastContact: time.Now()} }),
		Probes: ProbeFunc(func() ProbeSnapshot {
			return ProbeSnapshot{Endpoints: []ProbeEndpoint{{Pool: "p.", Endpoint: "e", HasResult: true}}}
		}),
		Route53: Route53Func(func() []Route53Record { return []Route53Record{{Pool: "p.", Name: "p.", Type: "A", State: "in_sync"}} }),
	})
	m.ObserveQuery("example.test.", "A", "NOERROR", 0)
	m.ObserveProbe("p.", "e", true, 0)
	m.ObserveApply(0)
	m.r53Requests.WithLabelValues("GetChange", "ok").Inc()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}

	name := regexp.MustCompile(`detour_[a-z0-9_]+`)
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				used++
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suf); ok && have[b] {
						base = b
					}
				}
				if !have[base] {
					t.Errorf("panel %q queries %s, which internal/metrics does not export", p.Title, n)
				}
			}
		}
	}
	if used < 20 {
		t.Errorf("the dashboard queries only %d detour_ series", used)
	}
}

// BenchmarkScrape gathers the metrics of a state of 1,000 pools with three
// endpoints each (3,000 endpoint series, plus the pools').
func BenchmarkScrape(b *testing.B) {
	var spec strings.Builder
	spec.WriteString("zones:\n  - name: example.test.\n    nameservers:\n      - {name: ns1.example.test., addresses: [127.0.0.1]}\npools:\n")
	for i := range 1000 {
		fmt.Fprintf(&spec, "  - name: p%d.example.test.\n    policy: failover\n    check: {type: tcp, port: 80}\n    endpoints:\n", i)
		for j := range 3 {
			fmt.Fprintf(&spec, "      - {name: e%d, priority: %d, addresses: [127.0.0.%d]}\n", j, j+1, j+1)
		}
	}
	s, err := policy.LoadSpec([]byte(spec.String()))
	if err != nil {
		b.Fatal(err)
	}
	st := &policy.State{}
	st.ApplySpec(s, 1, time.Unix(1e9, 0))
	m, err := New(Config{State: stateFunc(func() *policy.State { return st })})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Registry().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
