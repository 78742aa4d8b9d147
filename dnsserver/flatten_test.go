package dnsserver

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// standIn is a recursive resolver stand-in on 127.0.0.1: it answers A and
// AAAA for the names the test sets, with the TTL the test sets, and can
// be switched to drop every query (a resolver that is down).
type standIn struct {
	addr string

	mu      sync.Mutex
	a, aaaa map[string][]string // name -> addresses
	cnames  map[string]string   // name -> target
	ttl     uint32
	down    bool
	queries map[string]int // "name type" -> queries seen
}

func startStandIn(t *testing.T, ttl uint32) *standIn {
	t.Helper()
	r := &standIn{a: map[string][]string{}, aaaa: map[string][]string{}, cnames: map[string]string{}, ttl: ttl, queries: map[string]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stand-in resolver: %v", err)
	}
	r.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(r.serve), NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return r
}

func (r *standIn) serve(w dns.ResponseWriter, q *dns.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := strings.ToLower(q.Question[0].Name)
	qt := q.Question[0].Qtype
	r.queries[name+" "+dns.TypeToString[qt]]++
	if r.down {
		return
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	for range 8 {
		target, ok := r.cnames[name]
		if !ok {
			break
		}
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: r.ttl}, Target: target})
		name = target
	}
	set := r.a
	if qt == dns.TypeAAAA {
		set = r.aaaa
	}
	for _, s := range set[name] {
		rr, err := addrRR(name, r.ttl, s)
		if err == nil && rr.Header().Rrtype == qt {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns.example.org.", Mbox: "h.example.org.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 5}}
	}
	w.WriteMsg(m)
}

func (r *standIn) set(name string, a, aaaa []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.a[name], r.aaaa[name] = a, aaaa
}

func (r *standIn) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *standIn) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries[key]
}

// flatSpec is the example spec with a pool at the apex whose endpoint is
// a hostname (flattened because the apex holds SOA and NS) and a pool
// with flatten: true.
func flatSpec(poolTTL uint32) *policy.Spec {
	spec := exampleSpec()
	spec.Pools = append(spec.Pools,
		policy.Pool{Name: "example.test.", Policy: policy.PolicyFailover, TTL: poolTTL,
			Endpoints: []policy.Endpoint{{Name: "alb", Target: "alb.example.org."}}},
		policy.Pool{Name: "flat.example.test.", Policy: policy.PolicyFailover, TTL: poolTTL,
			Endpoints: []policy.Endpoint{{Name: "alb", Target: "alb2.example.org.", Flatten: true}}},
	)
	return spec
}

// askUDP queries s over UDP for name/qtype and returns the reply.
func askUDP(t *testing.T, s *Server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return exchange(t, s, "udp", m)
}

// answerIs reports whether r answers exactly want (zone-format lines,
// TTLs ignored).
func answerIs(r *dns.Msg, want ...string) bool {
	var got []string
	for _, rr := range r.Answer {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		got = append(got, strings.Join(strings.Fields(c.String()), " "))
	}
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestFlatten_ApexAndFlattenTrueAnswerAddresses(t *testing.T) {
	res := startStandIn(t, 10)
	res.set("alb.example.org.", []string{"127.0.0.41"}, []string{"2001:db8::41"})
	res.set("alb2.example.org.", []string{"127.0.0.42", "127.0.0.43"}, nil)
	s := startServer(t, newTestSource(exampleState(flatSpec(20), 7)), Config{Resolver: res.addr, FlattenMinRefresh: 100 * time.Millisecond})

	waitFor(t, 5*time.Second, "the apex pool to answer the target's address", func() bool {
		return answerIs(askUDP(t, s, "example.test.", dns.TypeA), "example.test. 0 IN A 127.0.0.41")
	})
	r := askUDP(t, s, "example.test.", dns.TypeA)
	if !r.Authoritative || r.Rcode != dns.RcodeSuccess {
		t.Errorf("apex A: AA %v rcode %s", r.Authoritative, dns.RcodeToString[r.Rcode])
	}
	if ttl := r.Answer[0].Header().Ttl; ttl < 1 || ttl > 10 {
		t.Errorf("apex A TTL %d, want min(pool 20, target 10) counting down: 1..10", ttl)
	}
	if r := askUDP(t, s, "example.test.", dns.TypeAAAA); !answerIs(r, "example.test. 0 IN AAAA 2001:db8::41") {
		t.Errorf("apex AAAA = %v, want the target's AAAA", r.Answer)
	}
	if r := askUDP(t, s, "example.test.", dns.TypeMX); !answerIs(r, "example.test. 0 IN MX 10 mail.example.test.") {
		t.Errorf("apex MX = %v, want the zone's MX beside the pool", r.Answer)
	}
	if r := askUDP(t, s, "example.test.", dns.TypeSOA); len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 7 {
		t.Errorf("apex SOA = %v, want serial 7 (flattening does not change the serial)", r.Answer)
	}
	waitFor(t, 5*time.Second, "the flatten: true pool to answer its target's addresses", func() bool {
		return answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.42", "flat.example.test. 0 IN A 127.0.0.43") ||
			answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.43", "flat.example.test. 0 IN A 127.0.0.42")
	})
	if r := askUDP(t, s, "flat.example.test.", dns.TypeAAAA); len(r.Answer) != 0 || r.Rcode != dns.RcodeSuccess || len(r.Ns) != 1 {
		t.Errorf("flat AAAA of a target without AAAA = %v (rcode %s), want NODATA with the SOA", r.Answer, dns.RcodeToString[r.Rcode])
	}

	// A hostname endpoint that is neither at the apex nor flattened
	// stays a CNAME, and its target is never resolved.
	if r := askUDP(t, s, "lb.example.test.", dns.TypeA); !answerIs(r, "lb.example.test. 0 IN CNAME my-alb.elb.example.org.") {
		t.Errorf("lb A = %v, want the CNAME", r.Answer)
	}
	if n := res.count("my-alb.elb.example.org. A"); n != 0 {
		t.Errorf("the resolver was asked %d times for a CNAME target that is not flattened", n)
	}
}

func TestFlatten_AnswerFollowsTheTargetWithinItsTTL(t *testing.T) {
	const ttl = 2
	res := startStandIn(t, ttl)
	res.set("alb2.example.org.", []string{"127.0.0.41"}, nil)
	s := startServer(t, newTestSource(exampleState(flatSpec(20), 7)), Config{Resolver: res.addr, FlattenMinRefresh: 100 * time.Millisecond})
	waitFor(t, 5*time.Second, "the first flattened answer", func() bool {
		return answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.41")
	})
	if got := askUDP(t, s, "flat.example.test.", dns.TypeA).Answer[0].Header().Ttl; got > ttl {
		t.Errorf("answer TTL %d, want at most the target's %d (pool TTL 20)", got, ttl)
	}
	serial := askUDP(t, s, "example.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial

	res.set("alb2.example.org.", []string{"127.0.0.51"}, nil)
	changed := time.Now()
	// The target's TTL (plus a second for a loaded machine) is the bound.
	waitFor(t, (ttl+1)*time.Second, "the answer to follow the target's new address", func() bool {
		return answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.51")
	})
	t.Logf("answer changed %v after the target did (target TTL %ds)", time.Since(changed).Round(time.Millisecond), ttl)
	if got := askUDP(t, s, "example.test.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial; got != serial {
		t.Errorf("serial %d after a flattened change, want %d unchanged", got, serial)
	}
}

func TestFlatten_ResolverDownKeepsTheLastAnswer(t *testing.T) {
	res := startStandIn(t, 1)
	res.set("alb2.example.org.", []string{"127.0.0.41"}, nil)
	logs := &syncBuffer{}
	s := startServer(t, newTestSource(exampleState(flatSpec(20), 7)), Config{Resolver: res.addr,
		ResolverTimeout: 100 * time.Millisecond, FlattenMinRefresh: 100 * time.Millisecond, FlattenMaxRefresh: 200 * time.Millisecond,
		FlattenMaxStale: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	waitFor(t, 5*time.Second, "the first flattened answer", func() bool {
		return answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.41")
	})
	res.setDown(true)
	down := time.Now()
	before := res.count("alb2.example.org. A")
	// Past the target's TTL, with refreshes failing.
	waitFor(t, 5*time.Second, "refreshes to fail past the target's TTL", func() bool {
		return time.Since(down) > 1500*time.Millisecond && res.count("alb2.example.org. A") >= before+3
	})
	r := askUDP(t, s, "flat.example.test.", dns.TypeA)
	if !answerIs(r, "flat.example.test. 0 IN A 127.0.0.41") {
		t.Fatalf("with the resolver down, answer = %v, want the last good address", r.Answer)
	}
	if ttl := r.Answer[0].Header().Ttl; ttl != 1 {
		t.Errorf("stale answer TTL %d, want min(30, the target's last TTL 1) = 1", ttl)
	}
	if l := logs.String(); !strings.Contains(l, `level=WARN msg="dns: refreshing a flattened target failed; serving its last answer" target=alb2.example.org.`) {
		t.Errorf("no Warn log about serving the last answer; logs:\n%s", l)
	}
	// Staleness is bounded: past FlattenMaxStale the endpoint answers
	// nothing (NODATA, as the pool's only endpoint).
	waitFor(t, 8*time.Second, "the stale answer to be dropped after FlattenMaxStale", func() bool {
		r := askUDP(t, s, "flat.example.test.", dns.TypeA)
		return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1
	})
	if l := logs.String(); !strings.Contains(l, `level=ERROR msg="dns: flattened target unresolved for too long: its addresses are no longer served" target=alb2.example.org.`) {
		t.Errorf("no Error log about dropping the stale answer; logs:\n%s", l)
	}
	res.setDown(false)
	waitFor(t, 5*time.Second, "the answer to come back with the resolver", func() bool {
		return answerIs(askUDP(t, s, "flat.example.test.", dns.TypeA), "flat.example.test. 0 IN A 127.0.0.41")
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (log output).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFlatten_UnresolvedTargetIsNODATA(t *testing.T) {
	// A Handler on its own has no resolver: flattened endpoints answer
	// nothing, and the only endpoint answering nothing is NODATA.
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(flatSpec(20), 7)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"example.test.", "flat.example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r := h.Answer(m, netip.AddrPort{})
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s A before resolution: rcode %s answer %v ns %v, want NODATA with the SOA", name, dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
		}
	}
	if got := h.view.Load().flatTargets; len(got) != 2 || got[0] != "alb.example.org." || got[1] != "alb2.example.org." {
		t.Errorf("flattened targets = %q, want the two hostnames", got)
	}
}

func TestFlatten_TTLCountsDownAndIsNotMemoized(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	now := time.Unix(1_000_000, 0)
	h.now = func() time.Time { return now }
	if err := h.SetState(exampleState(flatSpec(20), 7)); err != nil {
		t.Fatal(err)
	}
	clock := &flatClock{}
	clock.a.ttl.Store(10)
	clock.a.at.Store(now.Add(10 * time.Second).UnixNano())
	h.setFlat(flatTable{"alb2.example.org.": {a: []netip.Addr{netip.MustParseAddr("127.0.0.41")}, clock: clock}})
	m := new(dns.Msg)
	m.SetQuestion("flat.example.test.", dns.TypeA)
	pkt, _ := m.Pack()
	ttlAt := func() uint32 {
		t.Helper()
		r := new(dns.Msg)
		if err := r.Unpack(h.handleRaw(pkt, netip.AddrPort{}, true, make([]byte, 4096)).out); err != nil || len(r.Answer) != 1 {
			t.Fatalf("reply %v err %v, want one address", r, err)
		}
		return r.Answer[0].Header().Ttl
	}
	for _, tc := range []struct {
		at   time.Duration
		want uint32
	}{
		{0, 10}, {2500 * time.Millisecond, 8}, {9 * time.Second, 1},
		{11 * time.Second, 10}, // expired, refresh failing: min(30, last TTL 10)
	} {
		now = time.Unix(1_000_000, 0).Add(tc.at)
		if got := ttlAt(); got != tc.want {
			t.Errorf("%v after resolution: TTL %d, want %d", tc.at, got, tc.want)
		}
	}
	// A pool TTL below the target's wins.
	if err := h.SetState(exampleState(flatSpec(3), 8)); err != nil {
		t.Fatal(err)
	}
	now = time.Unix(1_000_000, 0)
	if got := ttlAt(); got != 3 {
		t.Errorf("pool TTL 3, target TTL 10: answer TTL %d, want 3", got)
	}
}

func TestChase_FollowsCNAMEs(t *testing.T) {
	r := new(dns.Msg)
	for _, s := range []string{
		"alb.example.org. 50 IN CNAME x.example.net.",
		"x.example.net. 40 IN CNAME y.example.net.",
		"y.example.net. 30 IN A 127.0.0.9",
		"y.example.net. 30 IN A 127.0.0.8",
		"other.example.net. 5 IN A 127.0.0.7",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		r.Answer = append(r.Answer, rr)
	}
	addrs, ttl := chase(r, "ALB.example.org.", dns.TypeA)
	if len(addrs) != 2 || addrs[0].String() != "127.0.0.8" || addrs[1].String() != "127.0.0.9" || ttl != 30 {
		t.Errorf("chase = %v TTL %d, want [127.0.0.8 127.0.0.9] TTL 30", addrs, ttl)
	}
	if addrs, _ := chase(r, "alb.example.org.", dns.TypeAAAA); len(addrs) != 0 {
		t.Errorf("chase AAAA = %v, want none", addrs)
	}
}

func TestFlatten_ShutdownDoesNotWaitForTheResolver(t *testing.T) {
	res := startStandIn(t, 10)
	res.setDown(true)
	s, err := New(Config{Addr: "127.0.0.1:0", Resolver: res.addr, ResolverTimeout: time.Minute}, newTestSource(exampleState(flatSpec(20), 7)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a query to the resolver to be in flight", func() bool {
		return res.count("alb.example.org. A")+res.count("alb2.example.org. A") > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a query to a silent resolver in flight (timeout 1m): %v", err)
	}
	t.Logf("shut down in %v", time.Since(start).Round(time.Millisecond))
}

func TestNew_RejectsBadResolverSettings(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "127.0.0.1:0", Resolver: "127.0.0.1"}, `resolver "127.0.0.1" is not host:port`},
		{Config{Addr: "127.0.0.1:0", Resolver: ":53"}, `resolver ":53" is not host:port`},
		{Config{Addr: "127.0.0.1:0", FlattenMinRefresh: time.Minute, FlattenMaxRefresh: time.Second}, "flatten max refresh 1s is below the min refresh 1m0s"},
	} {
		if _, err := New(tc.cfg, src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestFlatten_WeightedPoolWithAFlattenedEndpoint(t *testing.T) {
	spec := exampleSpec()
	spec.Pools = append(spec.Pools, policy.Pool{Name: "mix.example.test.", Policy: policy.PolicyWeighted, TTL: 20,
		Endpoints: []policy.Endpoint{
			{Name: "ip", Weight: ip(1), Addresses: []string{"127.0.0.61"}},
			{Name: "alb", Weight: ip(1), Target: "alb3.example.org.", Flatten: true},
		}})
	h := NewHandler(HandlerConfig{})
	now := time.Unix(1_000_000, 0)
	h.now = func() time.Time { return now }
	clock := &flatClock{}
	clock.a.ttl.Store(7)
	clock.a.at.Store(now.Add(7 * time.Second).UnixNano())
	h.setFlat(flatTable{"alb3.example.org.": {a: []netip.Addr{netip.MustParseAddr("127.0.0.62")}, clock: clock}})
	if err := h.SetState(exampleState(spec, 7)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 200 {
		m := new(dns.Msg)
		m.SetQuestion("mix.example.test.", dns.TypeA)
		r := h.Answer(m, netip.AddrPort{})
		if len(r.Answer) != 1 {
			t.Fatalf("weighted answer %v, want one record", r.Answer)
		}
		line := strings.Join(strings.Fields(r.Answer[0].String()), " ")
		seen[line] = true
		if line != "mix.example.test. 20 IN A 127.0.0.61" && line != "mix.example.test. 7 IN A 127.0.0.62" {
			t.Fatalf("answer %q, want the address endpoint with the pool TTL or the flattened one with the target's", line)
		}
	}
	if len(seen) != 2 {
		t.Errorf("200 answers gave %d distinct records, want both endpoints", len(seen))
	}
}
