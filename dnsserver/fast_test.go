package dnsserver

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestFastPath_SameBytesAsGeneralPath checks that a memoized reply is byte
// for byte the reply the general path builds for the same packet, across
// IDs, flags, question case and EDNS variants.
func TestFastPath_SameBytesAsGeneralPath(t *testing.T) {
	st := exampleState(exampleSpec(), 7)
	warm := NewHandler(HandlerConfig{NodeID: "n1"})
	if err := warm.SetState(st); err != nil {
		t.Fatal(err)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:5353")
	names := []string{"mail.example.test.", "MAIL.Example.TEST.", "www.example.test.", "docs.example.test.", "DoCs.ExAmPlE.tEsT.",
		"example.test.", "x.dev.example.test.", "a.sub.example.test.", "b.deep.example.test.", "big.example.test.", "lb.example.test.", "v6.example.test."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeMX, dns.TypeSOA, dns.TypeANY, dns.TypeTXT}
	variants := []func(*dns.Msg){
		func(*dns.Msg) {},
		func(m *dns.Msg) { m.SetEdns0(4096, false) },
		func(m *dns.Msg) { m.SetEdns0(1232, true); m.RecursionDesired = true },
		func(m *dns.Msg) {
			m.SetEdns0(700, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
			m.CheckingDisabled = true
		},
	}
	buf1, buf2, buf3 := make([]byte, 65535), make([]byte, 65535), make([]byte, 65535)
	memoHits := 0
	for _, udp := range []bool{true, false} {
		for _, name := range names {
			for _, qt := range types {
				for vi, variant := range variants {
					m := new(dns.Msg)
					m.SetQuestion(name, qt)
					m.RecursionDesired = false
					variant(m)
					pkt, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					var fq fastQuery
					if !parseFast(pkt, udp, &fq) {
						t.Fatalf("%s %s variant %d: plain query not taken by the fast path", name, dns.TypeToString[qt], vi)
					}
					first := bytes.Clone(warm.handleRaw(pkt, remote, udp, buf1).out)
					m.Id++
					pkt2, _ := m.Pack()
					memo := warm.handleRaw(pkt2, remote, udp, buf2).out
					if warm.view.Load().memoized(&fq) != nil {
						memoHits++
					}
					fresh := NewHandler(HandlerConfig{NodeID: "n1"})
					fresh.SetState(st)
					general := fresh.handleRaw(pkt2, remote, udp, buf3).out
					if !bytes.Equal(memo, general) {
						t.Errorf("udp=%v %s %s variant %d: memoized reply differs from the general path\nmemo    %x\ngeneral %x", udp, name, dns.TypeToString[qt], vi, memo, general)
					}
					if len(first) != len(memo) {
						t.Errorf("udp=%v %s %s variant %d: reply length changed between two identical queries", udp, name, dns.TypeToString[qt], vi)
					}
				}
			}
		}
	}
	if memoHits == 0 {
		t.Errorf("no reply was memoized")
	}
	t.Logf("%d memoized replies checked", memoHits)
}

func TestFastPath_RandomPoolsAreNotMemoized(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	remote := netip.MustParseAddrPort("127.0.0.1:5353")
	for _, name := range []string{"api.example.test.", "all.example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		pkt, _ := m.Pack()
		buf := make([]byte, 4096)
		for range 5 {
			h.handleRaw(pkt, remote, true, buf)
		}
		var fq fastQuery
		parseFast(pkt, true, &fq)
		if h.view.Load().memoized(&fq) != nil {
			t.Errorf("%s: the answer of a pool that answers at random was memoized", name)
		}
	}
}

func TestParseFast_Rejects(t *testing.T) {
	base := func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.example.test.", dns.TypeA); return m }
	cases := map[string]func(*dns.Msg){
		"response":       func(m *dns.Msg) { m.Response = true },
		"notify":         func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify },
		"class CH":       func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
		"AXFR":           func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR },
		"escaped label":  func(m *dns.Msg) { m.Question[0].Name = `w\.w.example.test.` },
		"EDNS version 1": func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) },
		"bad cookie": func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: 10, Cookie: "0102"}}
		},
		"two NSID": func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: 3}, &dns.EDNS0_NSID{Code: 3}}
		},
		"TSIG": func(m *dns.Msg) { m.SetTsig("k.", dns.HmacSHA256, 300, 1) },
		"answer section": func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeA, Class: 1}}}
		},
		"second question": func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) },
	}
	for name, mod := range cases {
		m := base()
		mod(m)
		pkt, err := m.Pack()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var fq fastQuery
		if parseFast(pkt, true, &fq) {
			t.Errorf("%s: taken by the fast path", name)
		}
	}
	pkt, _ := base().Pack()
	var fq fastQuery
	if parseFast(append(pkt, 0), true, &fq) {
		t.Errorf("trailing byte: taken by the fast path")
	}
}
