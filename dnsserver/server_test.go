package dnsserver

import (
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

const soaNeg = "example.test. 30 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 1209600 30"

type queryCase struct {
	name   string
	qname  string
	qtype  uint16
	prep   func(m *dns.Msg) // changes the query (EDNS, flags)
	rcode  int
	aa     bool
	answer []string
	ns     []string
	extra  []string
	check  func(t *testing.T, network string, r *dns.Msg) // extra assertions; replaces the section comparison when set
}

func edns(size uint16, opts ...dns.EDNS0) func(*dns.Msg) {
	return func(m *dns.Msg) {
		m.SetEdns0(size, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, opts...)
	}
}

func queryCases() []queryCase {
	glue := []string{"ns1.example.test. 300 IN A 127.0.0.1", "ns2.example.test. 300 IN A 127.0.0.2", "ns3.example.test. 300 IN A 127.0.0.3"}
	return []queryCase{
		{name: "failover pool answers the best tier", qname: "www.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("www.example.test. 20 IN A 127.0.0.11")},
		{name: "pool name with another type is NODATA", qname: "www.example.test.", qtype: dns.TypeMX, aa: true,
			ns: lines(soaNeg)},
		{name: "pool AAAA without IPv6 endpoints is NODATA", qname: "www.example.test.", qtype: dns.TypeAAAA, aa: true,
			ns: lines(soaNeg)},
		{name: "multivalue pool answers every endpoint", qname: "all.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("all.example.test. 20 IN A 127.0.0.11", "all.example.test. 20 IN A 127.0.0.12", "all.example.test. 20 IN A 127.0.0.13")},
		{name: "weighted pool answers one endpoint", qname: "api.example.test.", qtype: dns.TypeA, aa: true,
			check: func(t *testing.T, _ string, r *dns.Msg) {
				got := rrLines(r.Answer)
				if len(got) != 1 || (got[0] != "api.example.test. 20 IN A 127.0.0.11" && got[0] != "api.example.test. 20 IN A 127.0.0.12") {
					t.Errorf("answer = %q, want one of the two endpoints", got)
				}
			}},
		{name: "hostname endpoint answers a CNAME", qname: "lb.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("lb.example.test. 20 IN CNAME my-alb.elb.example.org.")},
		{name: "SOA at the apex carries the state's serial", qname: "example.test.", qtype: dns.TypeSOA, aa: true,
			answer: lines("example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 1209600 30")},
		{name: "NS at the apex with glue", qname: "example.test.", qtype: dns.TypeNS, aa: true,
			answer: lines("example.test. 300 IN NS ns1.example.test.", "example.test. 300 IN NS ns2.example.test.", "example.test. 300 IN NS ns3.example.test."),
			extra:  lines(glue...)},
		{name: "MX at the apex", qname: "example.test.", qtype: dns.TypeMX, aa: true,
			answer: lines("example.test. 300 IN MX 10 mail.example.test.")},
		{name: "TXT at the apex", qname: "example.test.", qtype: dns.TypeTXT, aa: true,
			answer: lines(`example.test. 300 IN TXT "v=spf1 -all"`)},
		{name: "TXT values: quoted strings as in a zone file, anything else literally", qname: "txt.example.test.", qtype: dns.TypeTXT, aa: true,
			answer: lines(`txt.example.test. 300 IN TXT "two" "strings"`, `txt.example.test. 300 IN TXT "with \"quote\" inside"`)},
		{name: "record TTL overrides the zone TTL", qname: "mail.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("mail.example.test. 3600 IN A 198.51.100.25")},
		{name: "AAAA record", qname: "v6.example.test.", qtype: dns.TypeAAAA, aa: true,
			answer: lines("v6.example.test. 300 IN AAAA 2001:db8::1")},
		{name: "missing name is NXDOMAIN with the SOA", qname: "nope.example.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
			ns: lines(soaNeg)},
		{name: "name with data but not this type is NODATA", qname: "mail.example.test.", qtype: dns.TypeAAAA, aa: true,
			ns: lines(soaNeg)},
		{name: "empty non-terminal is NODATA (RFC 8020)", qname: "b.deep.example.test.", qtype: dns.TypeA, aa: true,
			ns: lines(soaNeg)},
		{name: "name below a missing name is NXDOMAIN", qname: "x.nope.example.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
			ns: lines(soaNeg)},
		{name: "wildcard synthesises the asked name", qname: "anything.dev.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("anything.dev.example.test. 300 IN A 203.0.113.7")},
		{name: "wildcard covers deeper names", qname: "a.b.dev.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("a.b.dev.example.test. 300 IN A 203.0.113.7")},
		{name: "wildcard without the type is NODATA", qname: "anything.dev.example.test.", qtype: dns.TypeAAAA, aa: true,
			ns: lines(soaNeg)},
		{name: "wildcard CNAME is followed", qname: "x.wc.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("x.wc.example.test. 300 IN CNAME mail.example.test.", "mail.example.test. 3600 IN A 198.51.100.25")},
		{name: "CNAME to a pool is followed", qname: "docs.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("docs.example.test. 300 IN CNAME www.example.test.", "www.example.test. 20 IN A 127.0.0.11")},
		{name: "CNAME asked as CNAME is not followed", qname: "docs.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: lines("docs.example.test. 300 IN CNAME www.example.test.")},
		{name: "CNAME out of the zone stops", qname: "ext.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("ext.example.test. 300 IN CNAME target.example.org.")},
		{name: "CNAME loop ends", qname: "loop1.example.test.", qtype: dns.TypeA, aa: true,
			answer: lines("loop1.example.test. 300 IN CNAME loop2.example.test.", "loop2.example.test. 300 IN CNAME loop1.example.test.")},
		{name: "CNAME to a missing name is NXDOMAIN (RFC 6604)", qname: "dangling.example.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError,
			answer: lines("dangling.example.test. 300 IN CNAME nowhere.example.test."), ns: lines(soaNeg)},
		{name: "name below a delegation gets a referral", qname: "www.sub.example.test.", qtype: dns.TypeA, aa: false,
			ns:    lines("sub.example.test. 300 IN NS ns.sub.example.test.", "sub.example.test. 300 IN NS ns.example.org."),
			extra: lines("ns.sub.example.test. 300 IN A 127.0.0.53")},
		{name: "NS at the cut gets a referral", qname: "sub.example.test.", qtype: dns.TypeNS, aa: false,
			ns:    lines("sub.example.test. 300 IN NS ns.sub.example.test.", "sub.example.test. 300 IN NS ns.example.org."),
			extra: lines("ns.sub.example.test. 300 IN A 127.0.0.53")},
		{name: "DS at the cut is answered by the parent", qname: "sub.example.test.", qtype: dns.TypeDS, aa: true,
			ns: lines(soaNeg)},
		{name: "name outside our zones is REFUSED", qname: "www.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "pool outside our zones is REFUSED", qname: "elsewhere.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "class CH is REFUSED", qname: "example.test.", qtype: dns.TypeTXT, rcode: dns.RcodeRefused,
			prep: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }},
		{name: "question case is echoed, RD and CD copied, RA clear", qname: "WwW.ExAmPlE.TeSt.", qtype: dns.TypeA, aa: true,
			prep: func(m *dns.Msg) { m.RecursionDesired = true; m.CheckingDisabled = true },
			check: func(t *testing.T, _ string, r *dns.Msg) {
				if r.Question[0].Name != "WwW.ExAmPlE.TeSt." {
					t.Errorf("question name = %q, want the query's case", r.Question[0].Name)
				}
				if !r.RecursionDesired || !r.CheckingDisabled || r.RecursionAvailable {
					t.Errorf("RD=%v CD=%v RA=%v, want RD and CD copied, RA clear", r.RecursionDesired, r.CheckingDisabled, r.RecursionAvailable)
				}
				// Owner names may carry the query's case (compressed
				// against the question); names compare without case.
				if got := rrLines(r.Answer); len(got) != 1 || strings.ToLower(got[0]) != "www.example.test. 20 in a 127.0.0.11" {
					t.Errorf("answer = %q", got)
				}
			}},
		{name: "ANY gets one RRset (RFC 8482)", qname: "example.test.", qtype: dns.TypeANY, aa: true,
			check: func(t *testing.T, _ string, r *dns.Msg) {
				types := map[uint16]bool{}
				for _, rr := range r.Answer {
					types[rr.Header().Rrtype] = true
				}
				if len(types) != 1 || r.Rcode != dns.RcodeSuccess {
					t.Errorf("ANY answered %d types (rcode %s), want exactly one RRset", len(types), dns.RcodeToString[r.Rcode])
				}
			}},
		{name: "EDNS reply advertises 1232 and ignores unknown options", qname: "mail.example.test.", qtype: dns.TypeA, aa: true,
			prep: edns(4096, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}}),
			check: func(t *testing.T, _ string, r *dns.Msg) {
				opt := r.IsEdns0()
				if opt == nil || opt.UDPSize() != 1232 || len(opt.Option) != 0 || opt.Version() != 0 {
					t.Errorf("OPT = %v, want size 1232, version 0, no options", opt)
				}
				if len(r.Answer) != 1 {
					t.Errorf("answer = %v", r.Answer)
				}
			}},
		{name: "NSID answers the node ID", qname: "mail.example.test.", qtype: dns.TypeA, aa: true,
			prep: edns(1232, &dns.EDNS0_NSID{Code: dns.EDNS0NSID}),
			check: func(t *testing.T, _ string, r *dns.Msg) {
				opt := r.IsEdns0()
				if opt == nil || len(opt.Option) != 1 {
					t.Fatalf("OPT = %v, want one NSID option", opt)
				}
				nsid, ok := opt.Option[0].(*dns.EDNS0_NSID)
				if !ok || nsid.Nsid != hex.EncodeToString([]byte("node-a")) {
					t.Errorf("NSID = %v, want node-a", opt.Option[0])
				}
			}},
		{name: "EDNS version 1 is BADVERS", qname: "mail.example.test.", qtype: dns.TypeA,
			prep: func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) },
			check: func(t *testing.T, _ string, r *dns.Msg) {
				if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil || len(r.Answer) != 0 {
					t.Errorf("rcode %d, OPT %v, answer %v; want BADVERS with OPT and no answer", r.Rcode, r.IsEdns0(), r.Answer)
				}
			}},
		{name: "malformed COOKIE is FORMERR", qname: "mail.example.test.", qtype: dns.TypeA, rcode: dns.RcodeFormatError,
			prep: edns(1232, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405"})},
		{name: "client COOKIE is accepted", qname: "mail.example.test.", qtype: dns.TypeA, aa: true,
			prep:   edns(1232, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}),
			answer: lines("mail.example.test. 3600 IN A 198.51.100.25")},
		{name: "opcode STATUS is NOTIMP", qname: "example.test.", qtype: dns.TypeSOA, rcode: dns.RcodeNotImplemented,
			prep: func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }},
		{name: "opcode UPDATE is NOTIMP", qname: "example.test.", qtype: dns.TypeSOA, rcode: dns.RcodeNotImplemented,
			prep: func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }},
		{name: "two questions are FORMERR", qname: "example.test.", qtype: dns.TypeSOA, rcode: dns.RcodeFormatError,
			prep: func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }},
		{name: "NOTIFY for our zone is acknowledged", qname: "example.test.", qtype: dns.TypeSOA, aa: true,
			prep: func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }},
		{name: "large answer without EDNS: TC over UDP, all over TCP", qname: "big.example.test.", qtype: dns.TypeA,
			check: func(t *testing.T, network string, r *dns.Msg) {
				r.Compress = true // the size on the wire, as the server packed it
				packed, _ := r.Pack()
				if network == "udp" {
					if !r.Truncated || len(packed) > 512 {
						t.Errorf("UDP: TC=%v size %d, want TC and at most 512 bytes", r.Truncated, len(packed))
					}
					return
				}
				if r.Truncated || len(r.Answer) != 100 {
					t.Errorf("TCP: TC=%v with %d answers, want all 100", r.Truncated, len(r.Answer))
				}
			}},
		{name: "large answer with EDNS 4096 is cut at 1232 over UDP", qname: "big.example.test.", qtype: dns.TypeA,
			prep: edns(4096),
			check: func(t *testing.T, network string, r *dns.Msg) {
				r.Compress = true // the size on the wire, as the server packed it
				packed, _ := r.Pack()
				if network == "udp" && (!r.Truncated || len(packed) > 1232) {
					t.Errorf("UDP: TC=%v size %d, want TC and at most 1232 bytes", r.Truncated, len(packed))
				}
				if network == "tcp" && len(r.Answer) != 100 {
					t.Errorf("TCP: %d answers, want 100", len(r.Answer))
				}
			}},
		{name: "EDNS size below 512 counts as 512", qname: "big.example.test.", qtype: dns.TypeA,
			prep: edns(100),
			check: func(t *testing.T, network string, r *dns.Msg) {
				r.Compress = true // the size on the wire, as the server packed it
				packed, _ := r.Pack()
				if network == "udp" && (len(packed) > 512 || len(packed) < 400 || !r.Truncated) {
					t.Errorf("UDP: size %d TC=%v, want a truncated reply filling 512 bytes", len(packed), r.Truncated)
				}
			}},
	}
}

func TestServer_Queries(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{})
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range queryCases() {
			t.Run(network+": "+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				m.RecursionDesired = false
				if tc.prep != nil {
					tc.prep(m)
				}
				r := exchange(t, s, network, m)
				if r.Id != m.Id {
					t.Fatalf("reply ID %d, want %d", r.Id, m.Id)
				}
				if tc.check != nil {
					tc.check(t, network, r)
					return
				}
				if r.Rcode != tc.rcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if r.Authoritative != tc.aa {
					t.Errorf("AA = %v, want %v", r.Authoritative, tc.aa)
				}
				if r.RecursionAvailable {
					t.Errorf("RA set")
				}
				if diff := cmp.Diff(tc.answer, rrLines(r.Answer)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.ns, rrLines(r.Ns)); diff != "" {
					t.Errorf("authority (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.extra, rrLines(r.Extra)); diff != "" {
					t.Errorf("additional (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestServer_DropsResponsesAndGarbage(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{})
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.test.", dns.TypeA)
	resp.Response = true
	qr, _ := resp.Pack()
	for _, pkt := range [][]byte{qr, {1, 2, 3}} {
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	// Then a real query: the first datagram back must be its reply.
	q := new(dns.Msg)
	q.SetQuestion("mail.example.test.", dns.TypeA)
	qb, _ := q.Pack()
	if _, err := c.Write(qb); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply to the real query: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if r.Id != q.Id {
		t.Errorf("first reply has ID %d, want %d (the response or the garbage got a reply)", r.Id, q.Id)
	}
}

func TestServer_FormErrOnBadPacket(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{})
	q := new(dns.Msg)
	q.SetQuestion("mail.example.test.", dns.TypeA)
	qb, _ := q.Pack()
	bad := qb[:len(qb)-3] // truncated question
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(bad)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeFormatError || r.Id != q.Id || !r.Response {
		t.Errorf("reply rcode %s id %d QR %v, want FORMERR for id %d", dns.RcodeToString[r.Rcode], r.Id, r.Response, q.Id)
	}
}
