package dnsserver

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// amplificationCase is one query of the amplification table.
type amplificationCase struct {
	label string
	qname string
	qtype uint16
	check func(r *dns.Msg) error // what the reply must be
}

func amplificationCases() []amplificationCase {
	rcode := func(want int, answers int) func(*dns.Msg) error {
		return func(r *dns.Msg) error {
			if r.Rcode != want || (answers >= 0 && len(r.Answer) != answers && !r.Truncated) {
				return fmt.Errorf("rcode %s with %d answers, want %s with %d", dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[want], answers)
			}
			return nil
		}
	}
	return []amplificationCase{
		{"A", "mail.example.test.", dns.TypeA, rcode(dns.RcodeSuccess, 1)},
		{"AAAA", "v6.example.test.", dns.TypeAAAA, rcode(dns.RcodeSuccess, 1)},
		{"NS (apex, with glue)", "example.test.", dns.TypeNS, rcode(dns.RcodeSuccess, 3)},
		{"MX", "example.test.", dns.TypeMX, rcode(dns.RcodeSuccess, 1)},
		{"TXT (two strings)", "txt.example.test.", dns.TypeTXT, rcode(dns.RcodeSuccess, 2)},
		{"SOA", "example.test.", dns.TypeSOA, rcode(dns.RcodeSuccess, 1)},
		{"ANY (RFC 8482: one RRset)", "example.test.", dns.TypeANY, func(r *dns.Msg) error {
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				return fmt.Errorf("rcode %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			for _, rr := range r.Answer {
				if rr.Header().Rrtype != r.Answer[0].Header().Rrtype {
					return fmt.Errorf("ANY answered more than one RRset: %v", r.Answer)
				}
			}
			return nil
		}},
		{"DNSKEY (no DNSSEC: NODATA)", "example.test.", dns.TypeDNSKEY, rcode(dns.RcodeSuccess, 0)},
		{"AXFR over UDP (REFUSED)", "example.test.", dns.TypeAXFR, rcode(dns.RcodeRefused, 0)},
		{"NXDOMAIN", "nope.example.test.", dns.TypeA, rcode(dns.RcodeNameError, 0)},
		{"referral", "host.sub.example.test.", dns.TypeA, rcode(dns.RcodeSuccess, 0)},
		{"A, 100 records (truncated)", "big.example.test.", dns.TypeA, func(r *dns.Msg) error {
			if !r.Truncated {
				return fmt.Errorf("100 A records not truncated")
			}
			return nil
		}},
	}
}

// TestAmplification measures, over real UDP, the reply bytes per query
// byte of each kind of query with and without EDNS0, and, with the real
// handler and limiter on a simulated clock, the bytes out per byte in of
// a spoofed flood from one /24 under the default rate limiting. Run with
// -v to print the tables (docs/reliability.md, "DNS hardening").
func TestAmplification(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{})
	c := udpFrom(t, "127.0.0.1")
	dst := s.UDPAddr().(*net.UDPAddr)

	h := NewHandler(HandlerConfig{NodeID: "node-a"})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	floods := []int{400, 2000, 20000, 200000} // queries a second, against a rate of 200
	var b strings.Builder
	fmt.Fprintf(&b, "\n| query | EDNS0 | query B | reply B | amplification |")
	for _, q := range floods {
		fmt.Fprintf(&b, " flood %d/s |", q)
	}
	fmt.Fprintf(&b, "\n|---|---|---:|---:|---:|%s\n", strings.Repeat("---:|", len(floods)))
	for _, tc := range amplificationCases() {
		for _, size := range []uint16{0, 1232, 4096} {
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			if size > 0 {
				m.SetEdns0(size, false)
			}
			pkt, _ := m.Pack()
			if _, err := c.WriteToUDP(pkt, dst); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65535)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("%s: %v", tc.label, err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatalf("%s: reply does not parse: %v", tc.label, err)
			}
			if err := tc.check(r); err != nil {
				t.Errorf("%s, EDNS0 %d: %v", tc.label, size, err)
			}
			limit := 512
			if size > 0 {
				limit = 1232
				if o := r.IsEdns0(); o == nil || o.UDPSize() != 1232 {
					t.Errorf("%s, EDNS0 %d: reply OPT %v, want 1232 advertised", tc.label, size, o)
				}
			}
			if n > limit {
				t.Errorf("%s, EDNS0 %d: reply of %d bytes over %d", tc.label, size, n, limit)
			}
			edns := "no"
			if size > 0 {
				edns = fmt.Sprint(size)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f |", tc.label, edns, len(pkt), n, float64(n)/float64(len(pkt)))
			for _, q := range floods {
				if size == 4096 { // the same reply as with 1232
					fmt.Fprintf(&b, " = |")
					continue
				}
				ratio := floodRatio(t, h, pkt, q)
				// At 100 times the rate the flood gets back less than it
				// sends; at 1,000 times about half of it (slip 2).
				if want := map[int]float64{20000: 1, 200000: 0.6}[q]; want > 0 && ratio > want {
					t.Errorf("%s, EDNS0 %d: a flood of %d/s gets %.2f bytes out per byte in under rate limiting, want at most %.1f", tc.label, size, q, ratio, want)
				}
				fmt.Fprintf(&b, " %.2f |", ratio)
			}
			b.WriteByte('\n')
		}
	}
	t.Log(b.String())
}

// floodRatio sends the query pkt qps times a second for 5 simulated
// seconds from one spoofed /24 through the default limiter, with the
// handler's reply to it (answered once: the reply is the same every
// time), and returns bytes out per byte in.
func floodRatio(t *testing.T, h *Handler, pkt []byte, qps int) float64 {
	t.Helper()
	l, err := newLimiter(RateLimit{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.rrlFor = l.applies
	remote := netip.MustParseAddrPort("203.0.113.9:4444")
	r := h.handleRaw(pkt, remote, true, make([]byte, 4096))
	if r.out == nil {
		t.Fatalf("no reply")
	}
	full := len(r.out)
	slipped := len(slipReply(r.out))
	var in, out int
	const ms = 5000
	for now := int64(0); now < ms; now++ {
		// qps/1000 queries every millisecond, the remainder spread.
		n := qps*int(now+1)/1000 - qps*int(now)/1000
		for range n {
			in += len(pkt)
			switch l.check(remote.Addr(), r.class, now) {
			case rrlPass:
				out += full
			case rrlSlip:
				out += slipped
			}
		}
	}
	return float64(out) / float64(in)
}

// BenchmarkRateLimitFlood floods a real server over UDP on loopback,
// without rate limiting and with the defaults (limiting loopback too,
// 200/s, slip 2), with the apex NS query
// (6.4 times amplification without rate limiting) from one address, as
// fast as one sender goes in batches of 100, and reports the bytes
// received per byte sent and the rate sent. Each iteration sends 20,000
// queries.
func BenchmarkRateLimitFlood(b *testing.B) {
	b.Run("rrl_off", func(b *testing.B) { benchmarkFlood(b, RateLimit{Disabled: true}) })
	b.Run("rrl_default", func(b *testing.B) { benchmarkFlood(b, RateLimit{LimitLoopback: true}) })
}

func benchmarkFlood(b *testing.B, rl RateLimit) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(b, src, Config{RateLimit: rl})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetReadBuffer(8 << 20)
	dst := s.UDPAddr().(*net.UDPAddr)
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeNS)
	m.SetEdns0(1232, false)
	pkt, _ := m.Pack()
	const n = 20000
	var in, out, replies int
	var elapsed time.Duration
	buf := make([]byte, 2048)
	for b.Loop() {
		before := s.RateLimitStats().Dropped
		start := time.Now()
		got := 0
		// Batches of 100, each sent when the last is answered or
		// dropped, so that no socket buffer overflows and every byte
		// out is counted.
		for sent := 0; sent < n; {
			for range 100 {
				if _, err := c.WriteToUDP(pkt, dst); err != nil {
					b.Fatal(err)
				}
				in += len(pkt)
				sent++
			}
			deadline := time.Now().Add(5 * time.Second)
			for got+int(s.RateLimitStats().Dropped-before) < sent {
				// Short reads: the last query may be dropped while we wait.
				c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
				k, _, err := c.ReadFromUDP(buf)
				if err != nil {
					if time.Now().After(deadline) {
						b.Fatalf("%d replies and %d dropped of %d: %v", got, s.RateLimitStats().Dropped-before, sent, err)
					}
					continue
				}
				out += k
				got++
			}
		}
		elapsed += time.Since(start)
		replies += got
	}
	b.ReportMetric(float64(out)/float64(in), "out/in")
	b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "sent/s")
	b.ReportMetric(float64(replies)/float64(b.N*n), "replies/query")
}
