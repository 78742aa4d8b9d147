package dnsserver

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func mustLimiter(t testing.TB, cfg RateLimit) *limiter {
	t.Helper()
	l, err := newLimiter(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("newLimiter: %v", err)
	}
	if l == nil {
		t.Fatalf("newLimiter returned no limiter")
	}
	return l
}

// verdicts charges n responses of class c from a at time now and returns
// the verdicts as a string: '.' sent, 't' truncated, 'x' dropped.
func verdicts(l *limiter, a string, c rrlClass, now int64, n int) string {
	var b strings.Builder
	addr := netip.MustParseAddr(a)
	for range n {
		b.WriteByte(".xt"[l.check(addr, c, now)])
	}
	return b.String()
}

var (
	classWWW  = class(rrlPositive, 1)
	classMail = class(rrlPositive, 2)
)

func TestLimiter_BurstSlipAndPrefixes(t *testing.T) {
	l := mustLimiter(t, RateLimit{Rate: 4, Slip: 2})
	if got, want := verdicts(l, "203.0.113.7", classWWW, 0, 10), "....txtxtx"; got != want {
		t.Errorf("burst of 10 at rate 4, slip 2: %q, want %q", got, want)
	}
	// The same /24 shares the bucket; another /24 and another name do not.
	if got := verdicts(l, "203.0.113.200", classWWW, 0, 2); got != "tx" {
		t.Errorf("same /24: %q, want still limited \"tx\"", got)
	}
	if got := verdicts(l, "203.0.114.7", classWWW, 0, 4); got != "...." {
		t.Errorf("another /24: %q, want 4 answers", got)
	}
	if got := verdicts(l, "203.0.113.7", classMail, 0, 4); got != "...." {
		t.Errorf("another name from the limited /24: %q, want 4 answers", got)
	}
	if got, want := l.stats(), (RateLimitStats{Dropped: 4, Slipped: 4}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}

	// IPv6 clients share buckets per /56.
	l6 := mustLimiter(t, RateLimit{Rate: 2, Slip: 1})
	if got := verdicts(l6, "2001:db8:0:1::1", classWWW, 0, 3); got != "..t" {
		t.Errorf("IPv6 burst at rate 2, slip 1: %q, want \"..t\"", got)
	}
	if got := verdicts(l6, "2001:db8:0:ff::2", classWWW, 0, 1); got != "t" {
		t.Errorf("same /56: %q, want \"t\"", got)
	}
	if got := verdicts(l6, "2001:db8:0:100::1", classWWW, 0, 1); got != "." {
		t.Errorf("next /56: %q, want \".\"", got)
	}
	// An IPv4-mapped address is its IPv4 address.
	if got := verdicts(l, "::ffff:203.0.113.9", classWWW, 0, 1); got != "t" && got != "x" {
		t.Errorf("IPv4-mapped client of the limited /24: %q, want limited", got)
	}
}

func TestLimiter_Refill(t *testing.T) {
	l := mustLimiter(t, RateLimit{Rate: 200, Slip: -1})
	if got := verdicts(l, "198.51.100.1", classWWW, 1000, 201); got != strings.Repeat(".", 200)+"x" {
		t.Fatalf("burst of 201 at rate 200, no slip: %q", got)
	}
	// 200 a second is one token every 5 ms.
	if got := verdicts(l, "198.51.100.1", classWWW, 1004, 1); got != "x" {
		t.Errorf("after 4 ms: %q, want dropped", got)
	}
	if got := verdicts(l, "198.51.100.1", classWWW, 1005, 2); got != ".x" {
		t.Errorf("after 5 ms: %q, want one answer", got)
	}
	// A full second refills the whole bucket and no more, however long
	// the bucket was idle.
	if got := verdicts(l, "198.51.100.1", classWWW, 5000, 201); got != strings.Repeat(".", 200)+"x" {
		t.Errorf("after 4 s: %q, want 200 answers then a drop", got)
	}
	if got := verdicts(l, "198.51.100.1", classWWW, 1<<60, 201); got != strings.Repeat(".", 200)+"x" {
		t.Errorf("after 2^60 ms: %q, want 200 answers then a drop", got)
	}
	if got := l.stats(); got.Slipped != 0 || got.Dropped != 5 {
		t.Errorf("stats %+v, want 5 dropped, none slipped", got)
	}
}

func TestLimiter_Exemptions(t *testing.T) {
	l := mustLimiter(t, RateLimit{Rate: 1, Exempt: []string{"198.51.100.0/25", "2001:db8::5"}})
	for _, a := range []string{"127.0.0.1", "127.1.2.3", "::1", "198.51.100.9", "2001:db8::5"} {
		if got := verdicts(l, a, classWWW, 0, 5); got != "....." {
			t.Errorf("%s: %q, want exempt", a, got)
		}
	}
	if got := verdicts(l, "198.51.100.200", classWWW, 0, 3); got != ".tx" {
		t.Errorf("outside the exempt /25: %q, want limited", got)
	}
	if got := verdicts(l, "2001:db8::6", classWWW, 0, 2); got != ".t" {
		t.Errorf("next to the exempt address: %q, want limited", got)
	}
	if got := verdicts(l, "198.51.100.200", rrlClass(0), 0, 3); got != "..." {
		t.Errorf("unclassified replies: %q, want never limited", got)
	}
	ll := mustLimiter(t, RateLimit{Rate: 1, LimitLoopback: true})
	if got := verdicts(ll, "127.0.0.2", classWWW, 0, 3); got != ".tx" {
		t.Errorf("loopback with LimitLoopback: %q, want limited", got)
	}
}

func TestLimiter_Config(t *testing.T) {
	l, err := newLimiter(RateLimit{Disabled: true, Rate: -5}, nil, nil)
	if l != nil || err != nil {
		t.Errorf("disabled: %v, %v; want no limiter and no error", l, err)
	}
	l = mustLimiter(t, RateLimit{})
	if l.rate != 200 || l.slip != 2 || l.loopback || len(l.shards)*int(l.mask+1) != 65536 {
		t.Errorf("defaults: rate %d slip %d loopback %v slots %d", l.rate, l.slip, l.loopback, len(l.shards)*int(l.mask+1))
	}
	if got := l.prefixOf(netip.MustParseAddr("203.0.113.77")).String(); got != "203.0.113.0/24" {
		t.Errorf("default IPv4 prefix %s", got)
	}
	if got := l.prefixOf(netip.MustParseAddr("2001:db8:1:2ff::1")).String(); got != "2001:db8:1:200::/56" {
		t.Errorf("default IPv6 prefix %s", got)
	}
	for _, tc := range []struct {
		cfg  RateLimit
		want string
	}{
		{RateLimit{Rate: -1}, "rate -1 is negative"},
		{RateLimit{Rate: 2e9}, "rate 2000000000 is above 1000000000"},
		{RateLimit{IPv4PrefixLen: 33}, "IPv4 prefix length 33"},
		{RateLimit{IPv6PrefixLen: -3}, "IPv6 prefix length -3"},
		{RateLimit{Buckets: -1}, "buckets -1"},
		{RateLimit{Exempt: []string{"10.0.0.0/8", "10.0.0.0/33"}}, `exempt[1] "10.0.0.0/33"`},
		{RateLimit{Exempt: []string{"example.test"}}, `exempt[0] "example.test": not an address or prefix`},
	} {
		_, err := newLimiter(tc.cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.want)
		}
		if _, err := New(Config{Addr: "127.0.0.1:0", RateLimit: tc.cfg}, newTestSource(nil)); err == nil {
			t.Errorf("New with %+v: no error", tc.cfg)
		}
	}
}

// countingMetrics counts rate-limited responses (and ignores queries).
type countingMetrics struct{ drop, slip atomic.Int64 }

func (*countingMetrics) ObserveQuery(zone, qtype, rcode string, d time.Duration) {}
func (m *countingMetrics) ObserveRateLimited(action string) {
	if action == "drop" {
		m.drop.Add(1)
	} else if action == "slip" {
		m.slip.Add(1)
	}
}

func TestLimiter_Metrics(t *testing.T) {
	met := &countingMetrics{}
	l, err := newLimiter(RateLimit{Rate: 1, Slip: 3}, nil, met)
	if err != nil {
		t.Fatal(err)
	}
	l.log = slog.New(slog.DiscardHandler)
	if got := verdicts(l, "203.0.113.1", classWWW, 0, 8); got != ".txxtxxt" {
		t.Errorf("slip 3: %q", got)
	}
	if met.drop.Load() != 4 || met.slip.Load() != 3 {
		t.Errorf("metrics saw %d drops and %d slips, want 4 and 3", met.drop.Load(), met.slip.Load())
	}
}

// rawClass answers a query for name/qtype through handleRaw over UDP and
// returns the reply's class.
func rawClass(t *testing.T, h *Handler, name string, qtype uint16, edns bool) rrlClass {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	pkt, _ := m.Pack()
	r := h.handleRaw(pkt, netip.MustParseAddrPort("203.0.113.1:53000"), true, make([]byte, 4096))
	if r.out == nil {
		t.Fatalf("%s %s: no reply", name, dns.TypeToString[qtype])
	}
	return r.class
}

func TestHandler_RateLimitClasses(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	h.rrlFor = func(netip.Addr) bool { return true }
	kind := func(name string, qtype uint16) uint8 { return rawClass(t, h, name, qtype, true).kind() }
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  uint8
	}{
		{"mail.example.test.", dns.TypeA, rrlPositive},
		{"www.example.test.", dns.TypeA, rrlPositive},
		{"mail.example.test.", dns.TypeAAAA, rrlNodata},
		{"example.test.", dns.TypeDNSKEY, rrlNodata},
		{"nope.example.test.", dns.TypeA, rrlNXDomain},
		{"host.sub.example.test.", dns.TypeA, rrlReferral},
		{"anything.dev.example.test.", dns.TypeA, rrlWildcard},
		{"example.test.", dns.TypeANY, rrlAny},
		{"example.org.", dns.TypeA, rrlError},
		{"example.test.", dns.TypeAXFR, rrlError},
	} {
		if got := kind(tc.name, tc.qtype); got != tc.want {
			t.Errorf("%s %s: kind %s, want %s", tc.name, dns.TypeToString[tc.qtype], rrlKindNames[got], rrlKindNames[tc.want])
		}
	}
	// NXDOMAIN and wildcard answers are keyed by the zone, errors by the
	// prefix alone, positive answers by name and type.
	same := func(a, b rrlClass, want bool, what string) {
		t.Helper()
		if (a == b) != want {
			t.Errorf("%s: classes %+v and %+v, want same=%v", what, a, b, want)
		}
	}
	same(rawClass(t, h, "nope.example.test.", dns.TypeA, true), rawClass(t, h, "other.example.test.", dns.TypeAAAA, true), true, "two NXDOMAINs of a zone")
	same(rawClass(t, h, "a.dev.example.test.", dns.TypeA, true), rawClass(t, h, "b.dev.example.test.", dns.TypeA, true), true, "two wildcard answers")
	same(rawClass(t, h, "example.org.", dns.TypeA, true), rawClass(t, h, "example.net.", dns.TypeMX, true), true, "two REFUSED")
	same(rawClass(t, h, "mail.example.test.", dns.TypeA, true), rawClass(t, h, "www.example.test.", dns.TypeA, true), false, "two names")
	same(rawClass(t, h, "example.test.", dns.TypeMX, true), rawClass(t, h, "example.test.", dns.TypeTXT, true), false, "two types of a name")
	// A memoized reply carries the class of the reply it was built from,
	// with and without EDNS0, even when the first client was exempt.
	for _, edns := range []bool{false, true} {
		h.rrlFor = func(netip.Addr) bool { return false }
		if c := rawClass(t, h, "example.org.", dns.TypeA, edns); c != 0 {
			t.Errorf("REFUSED to an exempt client classified %x, want not classified", c)
		}
		if c := rawClass(t, h, "MAIL.example.test.", dns.TypeA, edns); c != 0 {
			t.Errorf("reply to an exempt client classified %x, want not classified", c)
		}
		h.rrlFor = func(netip.Addr) bool { return true }
		memo := rawClass(t, h, "mail.example.test.", dns.TypeA, edns)
		h.noMemo = true
		general := rawClass(t, h, "mail.example.test.", dns.TypeA, edns)
		h.noMemo = false
		if memo.kind() != rrlPositive {
			t.Errorf("memoized reply has kind %d, want positive", memo.kind())
		}
		same(memo, general, true, "the general path and the memo")
		h.SetState(exampleState(exampleSpec(), 8)) // a new, empty memo
	}
}

func TestSlipReply(t *testing.T) {
	h := NewHandler(HandlerConfig{NodeID: "n"})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("Big.Example.Test.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.Id = 4242
	pkt, _ := q.Pack()
	r := h.handleRaw(pkt, netip.AddrPort{}, true, make([]byte, 4096))
	full := bytes.Clone(r.out)
	out := slipReply(r.out)
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatalf("slipped reply does not parse: %v", err)
	}
	if m.Id != 4242 || !m.Response || !m.Truncated || len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 ||
		len(m.Question) != 1 || m.Question[0].Name != "Big.Example.Test." || m.Question[0].Qtype != dns.TypeA {
		t.Errorf("slipped reply %v, want the question alone with TC=1", m)
	}
	if len(out) >= len(full) || len(out) != len(pkt)-11 {
		t.Errorf("slipped reply of %d bytes (full %d, query %d), want the query's size less its OPT record", len(out), len(full), len(pkt))
	}
	// Garbage is never made longer or parsed past its end.
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 12), append(make([]byte, 5), 1, 0, 0, 0, 0, 0, 0, 63)} {
		if got := slipReply(bytes.Clone(b)); len(got) > len(b) {
			t.Errorf("slipReply(%x) = %x, longer", b, got)
		}
	}
}
