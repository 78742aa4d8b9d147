package dnsserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandler feeds raw packets to the wire-level handler over both
// transports: every packet gets a reply that parses, answers the same ID
// and fits the UDP limit, or is dropped; nothing panics.
func FuzzHandler(f *testing.F) {
	h := NewHandler(HandlerConfig{NodeID: "fuzz", TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		f.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	b, _ := m.Pack()
	f.Add(b)
	remote := netip.MustParseAddrPort("127.0.0.1:5353")
	buf := make([]byte, 65535)
	buf2 := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, udp := range []bool{true, false} {
			r := h.handleRaw(pkt, remote, udp, buf)
			// The same packet again (now perhaps from the memo) gets the
			// same bytes, unless a pool answers at random.
			if again := h.handleRaw(pkt, remote, udp, buf2); !bytes.Equal(again.out, r.out) {
				m := new(dns.Msg)
				if m.Unpack(r.out) != nil || len(m.Question) != 1 ||
					(!strings.EqualFold(m.Question[0].Name, "api.example.test.") && !strings.EqualFold(m.Question[0].Name, "all.example.test.")) {
					t.Fatalf("the same packet got two different replies:\n%x\n%x", r.out, again.out)
				}
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
			}
		}
	})
}
