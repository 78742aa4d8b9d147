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
