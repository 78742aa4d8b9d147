package dnsserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

func TestHandler_WeightedShares(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("api.example.test.", dns.TypeA)
	counts := map[string]int{}
	const n = 20000
	for range n {
		r := h.Answer(m, netip.AddrPort{})
		if len(r.Answer) != 1 {
			t.Fatalf("weighted answer has %d records, want 1", len(r.Answer))
		}
		counts[r.Answer[0].(*dns.A).A.String()]++
	}
	share := float64(counts["127.0.0.11"]) / n
	if share < 0.67 || share > 0.73 {
		t.Errorf("us-east-1 (weight 70 of 100) answered %.3f of the time, want 0.70±0.03 (counts %v)", share, counts)
	}
}

func TestHandler_MultivalueShuffles(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("all.example.test.", dns.TypeA)
	firsts := map[string]bool{}
	for range 200 {
		r := h.Answer(m, netip.AddrPort{})
		if len(r.Answer) != 3 {
			t.Fatalf("multivalue answer has %d records, want 3", len(r.Answer))
		}
		firsts[r.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) != 3 {
		t.Errorf("first record over 200 answers took %d distinct values, want all 3 (shuffled)", len(firsts))
	}
	// The shuffle must not reorder the view's shared slice.
	v := h.view.Load()
	p := v.zones["example.test."].nodes["all.example.test."].pool
	if p.a[0].(*dns.A).A.String() != "127.0.0.11" || p.a[2].(*dns.A).A.String() != "127.0.0.13" {
		t.Errorf("shared answer set was reordered: %v", p.a)
	}
}

func TestServer_ServfailUntilFirstState(t *testing.T) {
	src := newTestSource(nil)
	s := startServer(t, src, Config{})
	m := new(dns.Msg)
	m.SetQuestion("mail.example.test.", dns.TypeA)
	if r := exchange(t, s, "udp", m); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("before any state: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	src.publish(&policy.State{Index: 4, Spec: exampleSpec()})
	waitFor(t, 5*time.Second, "the first state to be served", func() bool {
		r := exchange(t, s, "udp", m)
		return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
}

func TestHandler_PoolAtApex(t *testing.T) {
	spec := exampleSpec()
	spec.Pools = append(spec.Pools,
		policy.Pool{Name: "example.test.", Policy: policy.PolicyFailover, TTL: 20,
			Endpoints: []policy.Endpoint{{Name: "a", Addresses: []string{"127.0.0.31", "2001:db8::31"}}}})
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(spec, 7)); err != nil {
		t.Fatal(err)
	}
	ask := func(qtype uint16) []string {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", qtype)
		r := h.Answer(m, netip.AddrPort{})
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Errorf("%s: rcode %s AA %v", dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		return rrLines(r.Answer)
	}
	if got := ask(dns.TypeA); len(got) != 1 || got[0] != "example.test. 20 IN A 127.0.0.31" {
		t.Errorf("apex A = %q, want the pool's address", got)
	}
	if got := ask(dns.TypeAAAA); len(got) != 1 || got[0] != "example.test. 20 IN AAAA 2001:db8::31" {
		t.Errorf("apex AAAA = %q, want the pool's address", got)
	}
	if got := ask(dns.TypeMX); len(got) != 1 || got[0] != "example.test. 300 IN MX 10 mail.example.test." {
		t.Errorf("apex MX = %q, want the zone's MX beside the pool", got)
	}
	if got := ask(dns.TypeSOA); len(got) != 1 {
		t.Errorf("apex SOA = %q", got)
	}

	// A hostname endpoint cannot be a CNAME at the apex: it answers
	// nothing (until flattening), and the rest of the zone still serves.
	spec2 := exampleSpec()
	spec2.Pools = append(spec2.Pools, policy.Pool{Name: "example.test.", Policy: policy.PolicyFailover,
		Endpoints: []policy.Endpoint{{Name: "alb", Target: "alb.example.org."}}})
	if err := h.SetState(exampleState(spec2, 8)); err != nil {
		t.Fatalf("pool with a hostname at the apex rejected the whole state: %v", err)
	}
	if got := ask(dns.TypeA); len(got) != 0 {
		t.Errorf("apex A with a hostname endpoint = %q, want NODATA (no CNAME at the apex)", got)
	}

	// A pool at a name that also has A records is refused: the state
	// keeps the previous view.
	spec3 := exampleSpec()
	spec3.Pools = append(spec3.Pools, policy.Pool{Name: "mail.example.test.", Policy: policy.PolicyFailover,
		Endpoints: []policy.Endpoint{{Name: "a", Addresses: []string{"127.0.0.32"}}}})
	if err := h.SetState(exampleState(spec3, 9)); err == nil {
		t.Errorf("a pool clashing with A records was accepted")
	}
	if h.view.Load().index != 8 {
		t.Errorf("view index %d after a refused state, want 8", h.view.Load().index)
	}
}
