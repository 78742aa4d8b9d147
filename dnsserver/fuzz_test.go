package dnsserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandler feeds raw packets to the wire-level handler over both
// transports: every packet gets a reply that parses, answers the same ID
// and fits the UDP limit, or is dropped; nothing panics. A UDP reply
// has a rate-limiting class (the same every time) and its truncated
// form, sent when it is rate limited, parses.
func FuzzHandler(f *testing.F) {
	// Two handlers, one with Metrics (packets of odd length go there), on
	// the example spec plus flattened pools with resolved addresses and a
	// clock that stands still (so that their TTL is the same twice).
	now := time.Unix(1_000_000, 0)
	clock := &flatClock{}
	clock.a.ttl.Store(60)
	clock.a.at.Store(now.Add(30 * time.Second).UnixNano())
	flat := flatTable{"alb2.example.org.": {a: []netip.Addr{netip.MustParseAddr("127.0.0.41")}, clock: clock}}
	var hs [2]*Handler
	for i := range hs {
		cfg := HandlerConfig{NodeID: "fuzz", TSIGKeys: map[string]string{xfrKey: xfrSecret}}
		if i == 1 {
			cfg.Metrics = nopMetrics{}
		}
		hs[i] = NewHandler(cfg)
		hs[i].now = func() time.Time { return now }
		hs[i].setFlat(flat)
		hs[i].rrlFor = func(netip.Addr) bool { return true }
		if err := hs[i].SetState(exampleState(flatSpec(20), 7)); err != nil {
			f.Fatal(err)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	b, _ := m.Pack()
	f.Add(b)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"flat.example.test.", dns.TypeA}, {"example.test.", dns.TypeAAAA}, {"example.test.", dns.TypeIXFR}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b)
		f.Add(append(b, 0)) // odd length: the handler with Metrics
	}
	m.SetTsig("unknown.example.test.", dns.HmacSHA256, 300, 1_000_000)
	if b, _, err := dns.TsigGenerate(m, xfrSecret, "", false); err == nil {
		f.Add(b)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:5353")
	buf := make([]byte, 65535)
	buf2 := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h := hs[len(pkt)%2]
		for _, udp := range []bool{true, false} {
			r := h.handleRaw(pkt, remote, udp, buf)
			// The same packet again (now perhaps from the memo) gets the
			// same bytes, unless a pool answers at random.
			again := h.handleRaw(pkt, remote, udp, buf2)
			if !bytes.Equal(again.out, r.out) {
				m := new(dns.Msg)
				if m.Unpack(r.out) != nil || len(m.Question) != 1 ||
					(!strings.EqualFold(m.Question[0].Name, "api.example.test.") && !strings.EqualFold(m.Question[0].Name, "all.example.test.")) {
					t.Fatalf("the same packet got two different replies:\n%x\n%x", r.out, again.out)
				}
			}
			if udp && again.class != r.class {
				t.Fatalf("the same packet got two rate-limiting classes: %x and %x", r.class, again.class)
			}
			if r.xfr != nil {
				if udp {
					t.Fatalf("UDP packet turned into a zone transfer")
				}
				continue
			}
			if r.out == nil {
				continue
			}
			reply := new(dns.Msg)
			if err := reply.Unpack(r.out); err != nil {
				t.Fatalf("reply does not parse: %v\nrequest %x\nreply %x", err, pkt, r.out)
			}
			if !reply.Response || reply.Id != binary.BigEndian.Uint16(pkt) {
				t.Fatalf("reply QR=%v ID %d for request ID %d", reply.Response, reply.Id, binary.BigEndian.Uint16(pkt))
			}
			if udp {
				limit := 512
				req := new(dns.Msg)
				if req.Unpack(pkt) == nil {
					limit = udpLimit(req)
				}
				if len(r.out) > limit {
					t.Fatalf("UDP reply of %d bytes over the limit %d", len(r.out), limit)
				}
				if r.class.kind() == 0 {
					t.Fatalf("UDP reply without a rate-limiting class")
				}
				// Its rate-limited form parses, is no longer and asks
				// the client to retry over TCP.
				n := len(r.out)
				slip := new(dns.Msg)
				if err := slip.Unpack(slipReply(r.out)); err != nil || !slip.Truncated || slip.Id != reply.Id ||
					len(slip.Answer)+len(slip.Ns)+len(slip.Extra) != 0 || len(slipReply(again.out)) > n {
					t.Fatalf("slipped reply %v (err %v) of the reply %x", slip, err, again.out)
				}
			}
		}
	})
}
