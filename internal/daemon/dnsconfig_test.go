package daemon_test

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
)

// flattenSpec is a zone with a static record (mail) and a pool (app)
// whose one endpoint is a flattened target, probed at check.
func flattenSpec(check string) []byte {
	return fmt.Appendf(nil, `zones:
  - name: example.test.
    ttl: 300
    soa: {mname: ns1.example.test., rname: hostmaster.example.test., refresh: 3600, retry: 600, expire: 1209600, minimum: 30}
    nameservers:
      - {name: ns1.example.test., addresses: [127.0.0.1]}
    records:
      - {name: mail, type: A, ttl: 3600, values: [198.51.100.25]}
pools:
  - name: app.example.test.
    policy: failover
    ttl: 20
    check: {type: http, port: 80, path: /healthz, interval: 500ms, timeout: 400ms}
    endpoints:
      - {name: lb, target: lb.example.org., flatten: true, check_address: "%s"}
`, check)
}

// startNode starts a one-node cluster whose DNS settings mod sets, and
// applies flattenSpec to it. The node resolves the flattened target
// through a fake resolver on loopback (dns.resolver), which it returns,
// so that nothing leaves the machine.
func startNode(t *testing.T, mod func(*config.DNS)) (*daemontest.Node, *fakeResolver) {
	t.Helper()
	res := newFakeResolver(t, "203.0.113.50")
	c := daemontest.StartWith(t, 1, testutil.Logger(t, slog.LevelWarn), func(rt *config.Runtime) {
		rt.DNS.Resolver = res.srv.PacketConn.LocalAddr().String()
		mod(&rt.DNS)
	})
	if _, err := c.Nodes[0].Client.ApplySpec(t.Context(), flattenSpec(newBackend(t).Listener.Addr().String()), false); err != nil {
		t.Fatal(err)
	}
	c.WaitSpecVersion(1, 10*time.Second)
	n := c.Nodes[0]
	// The DNS server compiles a new state on its own goroutine: wait for
	// the zone's SOA (a response kind and name of its own, so that the
	// bursts below start with full buckets).
	testutil.WaitFor(t, 10*time.Second, func() bool {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeSOA)
		r, _, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(m, n.D.DNSAddr().String())
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	}, "the DNS server to serve example.test.")
	return n, res
}

// burst sends n identical A queries for name over one UDP socket and
// returns how many replies were full answers and how many truncated.
func burst(t *testing.T, n *daemontest.Node, name string, count int) (full, truncated int) {
	t.Helper()
	co, err := dns.Dial("udp", n.D.DNSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	for range count {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		co.SetDeadline(time.Now().Add(2 * time.Second))
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatalf("reply to query %d: %v", full+truncated+1, err)
		}
		switch {
		case r.Truncated && len(r.Answer) == 0:
			truncated++
		case !r.Truncated && len(r.Answer) == 1:
			full++
		default:
			t.Fatalf("unexpected reply: %v", r)
		}
	}
	return full, truncated
}

// rateLimited returns detour_dns_rate_limited_total{action} of n.
func rateLimited(t *testing.T, n *daemontest.Node, action string) float64 {
	t.Helper()
	fams, err := n.D.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "detour_dns_rate_limited_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "action" && l.GetValue() == action {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no detour_dns_rate_limited_total{action=%q}", action)
	return 0
}

// TestDaemon_RateLimitSettings checks that dns.rate_limit reaches the DNS
// server: with limit_loopback and a low rate, a burst of loopback queries
// gets truncated replies past the rate, counted in the metrics; with the
// defaults loopback clients are exempt and the same burst is answered.
func TestDaemon_RateLimitSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons over loopback; skipped with -short")
	}
	const queries, rate = 40, 5
	t.Run("limit_loopback with rate 5 and slip 1", func(t *testing.T) {
		n, _ := startNode(t, func(d *config.DNS) {
			d.RateLimit = config.RateLimit{Rate: rate, Slip: 1, LimitLoopback: true}
		})
		start := time.Now()
		full, tc := burst(t, n, "mail.example.test.", queries)
		took := time.Since(start)
		t.Logf("%d full answers, %d truncated in %v", full, tc, took)
		// The bucket holds one second of responses (5) and refills at 5 a
		// second while the burst lasts.
		if most := rate + int(float64(rate)*took.Seconds()) + 1; full < rate || full > most {
			t.Errorf("%d full answers, want %d to %d", full, rate, most)
		}
		if tc != queries-full {
			t.Errorf("%d truncated replies, want the other %d", tc, queries-full)
		}
		if got := rateLimited(t, n, "slip"); got != float64(tc) {
			t.Errorf(`detour_dns_rate_limited_total{action="slip"} = %v, want %d`, got, tc)
		}
		if got := rateLimited(t, n, "drop"); got != 0 {
			t.Errorf(`detour_dns_rate_limited_total{action="drop"} = %v, want 0 with slip 1`, got)
		}
	})
	t.Run("defaults: loopback exempt", func(t *testing.T) {
		n, _ := startNode(t, func(*config.DNS) {})
		full, tc := burst(t, n, "mail.example.test.", queries)
		if full != queries || tc != 0 {
			t.Errorf("%d full answers and %d truncated, want %d and 0", full, tc, queries)
		}
		if got := rateLimited(t, n, "slip"); got != 0 {
			t.Errorf(`detour_dns_rate_limited_total{action="slip"} = %v, want 0`, got)
		}
	})
}

// fakeResolver is a recursive resolver on loopback that answers A
// queries for lb.example.org. with addr.
type fakeResolver struct {
	srv     *dns.Server
	queries atomic.Int64
}

func newFakeResolver(t *testing.T, addr string) *fakeResolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeResolver{}
	started := make(chan struct{})
	f.srv = &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			f.queries.Add(1)
			m := new(dns.Msg)
			m.SetReply(req)
			m.RecursionAvailable = true
			if q := req.Question[0]; q.Name == "lb.example.org." && q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR("lb.example.org. 60 IN A " + addr)
				m.Answer = append(m.Answer, rr)
			}
			w.WriteMsg(m)
		})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.srv.ActivateAndServe()
	}()
	t.Cleanup(func() {
		f.srv.Shutdown()
		<-done
	})
	<-started
	return f
}

// TestDaemon_ResolverSetting checks that dns.resolver is the resolver
// flattened targets are resolved through: the node answers the address
// only the configured resolver knows.
func TestDaemon_ResolverSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon over loopback; skipped with -short")
	}
	n, res := startNode(t, func(d *config.DNS) { d.FlattenMinRefresh = time.Second })
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return slices.Equal(queryA(t, n, "app.example.test."), []string{"203.0.113.50"})
	}, "app.example.test. to answer the target's address from the configured resolver")
	if res.queries.Load() == 0 {
		t.Error("the configured resolver was never asked")
	}
}
