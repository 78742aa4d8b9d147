package dnsserver

import (
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// BenchmarkHandler measures the wire-level path of one UDP query per query
// kind, as served: memoized replies where they apply (see fast.go).
func BenchmarkHandler(b *testing.B) { benchmarkHandler(b, false, nil) }

// BenchmarkHandlerGeneral measures the general path (unpack, answer,
// pack) without the memo, as every query takes it the first time after a
// state change.
func BenchmarkHandlerGeneral(b *testing.B) { benchmarkHandler(b, true, nil) }

// BenchmarkHandlerMetrics is BenchmarkHandler with a Metrics that does
// nothing: the cost of the hook itself (two clock reads, the labels).
func BenchmarkHandlerMetrics(b *testing.B) { benchmarkHandler(b, false, nopMetrics{}) }

// nopMetrics discards every observation.
type nopMetrics struct{}

func (nopMetrics) ObserveQuery(zone, qtype, rcode string, d time.Duration) {}

func benchmarkHandler(b *testing.B, noMemo bool, met Metrics) {
	h := NewHandler(HandlerConfig{NodeID: "bench", Metrics: met})
	h.noMemo = noMemo
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		b.Fatal(err)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:5353")
	kinds := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
	}{
		{"hit", "mail.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"pool_failover", "www.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"pool_weighted", "api.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"pool_multivalue", "all.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"nxdomain", "nope.example.test.", dns.TypeA, dns.RcodeNameError},
		{"nodata", "mail.example.test.", dns.TypeAAAA, dns.RcodeSuccess},
		{"cname_chase", "docs.example.test.", dns.TypeA, dns.RcodeSuccess},
	}
	for _, k := range kinds {
		m := new(dns.Msg)
		m.SetQuestion(k.qname, k.qtype)
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		buf := make([]byte, 4096)
		r := h.handleRaw(pkt, remote, true, buf)
		reply := new(dns.Msg)
		if err := reply.Unpack(r.out); err != nil || reply.Rcode != k.rcode {
			b.Fatalf("%s: rcode %d err %v", k.name, reply.Rcode, err)
		}
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.handleRaw(pkt, remote, true, buf)
			}
		})
	}
}

// BenchmarkHandlerRRL is BenchmarkHandler for a client that rate
// limiting applies to (not loopback), with the limiter's step after the
// handler as the UDP loop runs it: disabled is the loop without a
// limiter (the baseline), under_limit never runs out of tokens
// (a rate of a billion a second), over_limit has run out (rate 1, slip
// 2: half the replies dropped, half truncated), exempt is a client of
// an exempt prefix.
func BenchmarkHandlerRRL(b *testing.B) {
	h := NewHandler(HandlerConfig{NodeID: "bench"})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		b.Fatal(err)
	}
	remote := netip.MustParseAddrPort("203.0.113.7:5353")
	for _, lim := range []struct {
		name string
		cfg  RateLimit
	}{
		{"disabled", RateLimit{Disabled: true}},
		{"under_limit", RateLimit{Rate: 1e9}},
		{"over_limit", RateLimit{Rate: 1}},
		{"exempt", RateLimit{Exempt: []string{"203.0.113.0/24"}}},
	} {
		l, err := newLimiter(lim.cfg, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			b.Fatal(err)
		}
		h.rrlFor = nil
		if l != nil {
			h.rrlFor = l.applies
		}
		for _, k := range []struct {
			name  string
			qname string
			qtype uint16
		}{
			{"hit", "mail.example.test.", dns.TypeA},
			{"nxdomain", "nope.example.test.", dns.TypeA},
		} {
			m := new(dns.Msg)
			m.SetQuestion(k.qname, k.qtype)
			m.SetEdns0(1232, false)
			pkt, _ := m.Pack()
			buf := make([]byte, 4096)
			h.handleRaw(pkt, remote, true, buf) // memoize
			var now int64
			if l != nil {
				now = l.now()
			}
			b.Run(lim.name+"/"+k.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() { // as serveUDP
					r := h.handleRaw(pkt, remote, true, buf)
					if l != nil {
						r.out = l.apply(r.out, r.class, remote.Addr(), now)
					}
				}
			})
		}
	}
}

// BenchmarkCompile measures compiling the view of a State: the example
// zone plus 10,000 A records and 1,000 failover pools of 3 endpoints.
func BenchmarkCompile(b *testing.B) {
	spec := exampleSpec()
	z := &spec.Zones[0]
	for i := range 10000 {
		z.Records = append(z.Records, policy.Record{Name: "r" + strconv.Itoa(i) + ".example.test.", Type: "A",
			Values: []string{"10.1." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256)}})
	}
	for i := range 1000 {
		var eps []policy.Endpoint
		for j := range 3 {
			eps = append(eps, policy.Endpoint{Name: "e" + strconv.Itoa(j), Priority: j, Addresses: []string{"127.0.1." + strconv.Itoa(j+1)}})
		}
		spec.Pools = append(spec.Pools, policy.Pool{Name: "p" + strconv.Itoa(i) + ".example.test.", Policy: policy.PolicyFailover, TTL: 20, Endpoints: eps})
	}
	st := exampleState(spec, 7)
	h := NewHandler(HandlerConfig{})
	b.ReportAllocs()
	for b.Loop() {
		if err := h.SetState(st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandlerFlattened measures a query for a pool whose endpoint is
// a flattened hostname (two resolved addresses): never memoized, as its
// TTL counts down with the target's.
func BenchmarkHandlerFlattened(b *testing.B) {
	h := NewHandler(HandlerConfig{NodeID: "bench"})
	if err := h.SetState(exampleState(flatSpec(20), 7)); err != nil {
		b.Fatal(err)
	}
	clock := &flatClock{}
	clock.a.ttl.Store(60)
	clock.a.at.Store(time.Now().Add(time.Hour).UnixNano())
	h.setFlat(flatTable{"alb2.example.org.": {a: []netip.Addr{netip.MustParseAddr("127.0.0.41"), netip.MustParseAddr("127.0.0.42")}, clock: clock}})
	m := new(dns.Msg)
	m.SetQuestion("flat.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	pkt, _ := m.Pack()
	buf := make([]byte, 4096)
	reply := new(dns.Msg)
	if err := reply.Unpack(h.handleRaw(pkt, netip.AddrPort{}, true, buf).out); err != nil || len(reply.Answer) != 2 {
		b.Fatalf("flattened answer %v err %v, want two addresses", reply.Answer, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.handleRaw(pkt, netip.AddrPort{}, true, buf)
	}
}
