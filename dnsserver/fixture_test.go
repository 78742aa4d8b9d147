package dnsserver

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// testSource is a StateSource whose State the test publishes.
type testSource struct {
	mu      sync.Mutex
	st      *policy.State
	changed chan struct{}
}

func newTestSource(st *policy.State) *testSource {
	return &testSource{st: st, changed: make(chan struct{})}
}

func (s *testSource) Watch() (*policy.State, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, s.changed
}

// publish makes next the current State, computing its serials from the
// previous one as the cluster does.
func (s *testSource) publish(next *policy.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	policy.UpdateSerials(s.st, next, next.Index)
	s.st = next
	close(s.changed)
	s.changed = make(chan struct{})
}

func u32(v uint32) *uint32 { return &v }
func ip(v int) *int        { return &v }

// exampleSpec is the example spec of issue 2 (absolute names) plus the
// names the table tests need: a wildcard, an empty non-terminal, a
// delegation with glue, CNAME chains and loops, a large RRset.
func exampleSpec() *policy.Spec {
	var big []string
	for i := range 100 {
		big = append(big, "10.0.0."+strconv.Itoa(i+1))
	}
	return &policy.Spec{
		Zones: []policy.Zone{{
			Name: "example.test.",
			TTL:  300,
			SOA: policy.SOA{MName: "ns1.example.test.", RName: "hostmaster.example.test.",
				Refresh: 3600, Retry: 600, Expire: 1209600, Minimum: 30},
			Nameservers: []policy.Nameserver{
				{Name: "ns1.example.test.", Addresses: []string{"127.0.0.1"}},
				{Name: "ns2.example.test.", Addresses: []string{"127.0.0.2"}},
				{Name: "ns3.example.test.", Addresses: []string{"127.0.0.3"}},
			},
			Records: []policy.Record{
				{Name: "example.test.", Type: "TXT", Values: []string{"v=spf1 -all"}},
				{Name: "txt.example.test.", Type: "TXT", Values: []string{`"two" "strings"`, "with \"quote\" inside"}},
				{Name: "example.test.", Type: "MX", Values: []string{"10 mail.example.test."}},
				{Name: "mail.example.test.", Type: "A", TTL: u32(3600), Values: []string{"198.51.100.25"}},
				{Name: "docs.example.test.", Type: "CNAME", Values: []string{"www.example.test."}},
				{Name: "v6.example.test.", Type: "AAAA", Values: []string{"2001:db8::1"}},
				{Name: "*.dev.example.test.", Type: "A", Values: []string{"203.0.113.7"}},
				{Name: "*.wc.example.test.", Type: "CNAME", Values: []string{"mail.example.test."}},
				{Name: "host.b.deep.example.test.", Type: "A", Values: []string{"203.0.113.8"}},
				{Name: "sub.example.test.", Type: "NS", Values: []string{"ns.sub.example.test.", "ns.example.org."}},
				{Name: "ns.sub.example.test.", Type: "A", Values: []string{"127.0.0.53"}},
				{Name: "ext.example.test.", Type: "CNAME", Values: []string{"target.example.org."}},
				{Name: "loop1.example.test.", Type: "CNAME", Values: []string{"loop2.example.test."}},
				{Name: "loop2.example.test.", Type: "CNAME", Values: []string{"loop1.example.test."}},
				{Name: "dangling.example.test.", Type: "CNAME", Values: []string{"nowhere.example.test."}},
				{Name: "big.example.test.", Type: "A", Values: big},
			},
			Transfer: &policy.Transfer{Allow: []string{"127.0.0.0/8"}, Keys: []string{"xfr.example.test."}},
		}},
		Pools: []policy.Pool{
			{Name: "www.example.test.", Policy: policy.PolicyFailover, TTL: 20, WhenAllDown: policy.AllDownServeAll,
				Endpoints: []policy.Endpoint{
					{Name: "us-east-1", Priority: 1, Addresses: []string{"127.0.0.11"}},
					{Name: "eu-west-1", Priority: 2, Addresses: []string{"127.0.0.12"}},
				}},
			{Name: "api.example.test.", Policy: policy.PolicyWeighted, TTL: 20,
				Endpoints: []policy.Endpoint{
					{Name: "us-east-1", Weight: ip(70), Addresses: []string{"127.0.0.11"}},
					{Name: "eu-west-1", Weight: ip(30), Addresses: []string{"127.0.0.12"}},
				}},
			{Name: "all.example.test.", Policy: policy.PolicyMultivalue, TTL: 20,
				Endpoints: []policy.Endpoint{
					{Name: "us-east-1", Addresses: []string{"127.0.0.11"}},
					{Name: "eu-west-1", Addresses: []string{"127.0.0.12"}},
					{Name: "ap-south-1", Addresses: []string{"127.0.0.13"}},
				}},
			{Name: "lb.example.test.", Policy: policy.PolicyFailover, TTL: 20,
				Endpoints: []policy.Endpoint{{Name: "alb", Target: "my-alb.elb.example.org."}}},
			{Name: "elsewhere.example.org.", Policy: policy.PolicyFailover, TTL: 20,
				Endpoints: []policy.Endpoint{{Name: "a", Addresses: []string{"127.0.0.14"}}}},
		},
	}
}

// exampleState returns a published-like State of spec at index.
func exampleState(spec *policy.Spec, index uint64) *policy.State {
	st := &policy.State{Index: index, Spec: spec, SpecIndex: index, SpecVersion: 1}
	policy.UpdateSerials(nil, st, index)
	return st
}

// startServer runs a Server on 127.0.0.1:0 with src until the test ends.
func startServer(t testing.TB, src StateSource, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "node-a"
	}
	s, err := New(cfg, src)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// exchange sends m over network ("udp" or "tcp") to s.
func exchange(t testing.TB, s *Server, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	addr := s.UDPAddr().String()
	if network == "tcp" {
		addr = s.TCPAddr().String()
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange over %s: %v", network, err)
	}
	return r
}

// rrLines formats RRs as sorted zone-format lines with single spaces,
// leaving out OPT and TSIG.
func rrLines(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch rr.Header().Rrtype {
		case dns.TypeOPT, dns.TypeTSIG:
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	sort.Strings(out)
	return out
}

// lines splits want strings, sorts them.
func lines(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
