package dnsserver

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

func TestServer_SecondServerOnTheSamePortFails(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	first := startServer(t, src, Config{})
	second, err := New(Config{Addr: first.TCPAddr().String(), NodeID: "node-b"}, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(context.Background()); err == nil {
		second.Shutdown(context.Background())
		t.Fatalf("a second server on %s started; it must fail to bind", first.TCPAddr())
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second server: %v, want address already in use", err)
	}
	// Every UDP query still reaches the first server (NSID says which).
	for range 20 {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		r := exchange(t, first, "udp", m)
		nsid := r.IsEdns0().Option[0].(*dns.EDNS0_NSID).Nsid
		if b, _ := hex.DecodeString(nsid); string(b) != "node-a" {
			t.Fatalf("UDP answered by %q, want node-a", b)
		}
	}
}

func TestServer_IXFROverUDPIsTheSOA(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	ixfr := func(zone string, serial uint32, signed bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetIxfr(zone, serial, "ns1.example.test.", "hostmaster.example.test.")
		c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
		if signed {
			m.SetTsig(xfrKey, dns.HmacSHA256, 300, time.Now().Unix())
			c.TsigSecret = map[string]string{xfrKey: xfrSecret}
		}
		r, _, err := c.Exchange(m, s.UDPAddr().String())
		if r == nil { // a signed NOTAUTH comes back with an error: the client does not verify those
			t.Fatalf("IXFR over UDP: %v", err)
		}
		return r
	}
	soa := "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 1209600 30"
	for _, serial := range []uint32{1, 7, 9} { // behind, up to date, ahead
		r := ixfr("example.test.", serial, true)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(rrLines(r.Answer)) != 1 || rrLines(r.Answer)[0] != soa || r.IsTsig() == nil {
			t.Errorf("client serial %d: rcode %s AA %v answer %q TSIG %v, want the signed current SOA alone (RFC 1995 section 2)",
				serial, dns.RcodeToString[r.Rcode], r.Authoritative, rrLines(r.Answer), r.IsTsig() != nil)
		}
	}
	// The transfer rule needs the key: unsigned is refused.
	if r := ixfr("example.test.", 1, false); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("unsigned IXFR: rcode %s answer %v, want REFUSED", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r := ixfr("mail.example.test.", 1, true); r.Rcode != dns.RcodeNotAuth {
		t.Errorf("IXFR of a name that is not an apex: rcode %s, want NOTAUTH", dns.RcodeToString[r.Rcode])
	}
	if r := ixfr("example.org.", 1, true); r.Rcode != dns.RcodeRefused {
		t.Errorf("IXFR of a zone not ours: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestServer_TSIGErrors(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	cases := []struct {
		name    string
		key     string
		secret  string
		alg     string
		skew    time.Duration
		wantErr uint16
	}{
		{"unknown key is BADKEY", "other.example.test.", xfrSecret, dns.HmacSHA256, 0, dns.RcodeBadKey},
		{"known key with another algorithm is BADKEY", xfrKey, xfrSecret, dns.HmacSHA1, 0, dns.RcodeBadKey},
		{"bad signature is BADSIG", xfrKey, "d3Jvbmctc2VjcmV0", dns.HmacSHA256, 0, dns.RcodeBadSig},
		{"clock skew beyond the fudge is BADTIME", xfrKey, xfrSecret, dns.HmacSHA256, -time.Hour, dns.RcodeBadTime},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(network+": "+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion("example.test.", dns.TypeSOA)
				signedAt := uint64(time.Now().Add(tc.skew).Unix())
				m.SetTsig(tc.key, tc.alg, 300, int64(signedAt))
				addr := s.UDPAddr().String()
				if network == "tcp" {
					addr = s.TCPAddr().String()
				}
				c := &dns.Client{Net: network, TsigSecret: map[string]string{tc.key: tc.secret}, Timeout: 3 * time.Second}
				// The client cannot verify an unsigned TSIG: it returns
				// the reply with an error, which is what we check.
				r, _, err := c.Exchange(m, addr)
				if r == nil {
					t.Fatalf("no reply: %v", err)
				}
				ts := r.IsTsig()
				if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != tc.wantErr || len(r.Answer) != 0 {
					t.Fatalf("rcode %s TSIG %v answer %v, want NOTAUTH with TSIG error %s", dns.RcodeToString[r.Rcode], ts, r.Answer, dns.RcodeToString[int(tc.wantErr)])
				}
				if tc.wantErr == dns.RcodeBadTime {
					if ts.MACSize == 0 || ts.OtherLen != 6 || ts.TimeSigned != signedAt {
						t.Errorf("BADTIME reply MAC size %d other len %d time signed %d, want signed, with our time, keeping the request's time", ts.MACSize, ts.OtherLen, ts.TimeSigned)
					}
					// The MAC is right: signing the same reply again with
					// the key gives the same MAC (the library will not
					// verify a NOTAUTH message itself).
					req := new(dns.Msg)
					req.SetQuestion("example.test.", dns.TypeSOA)
					req.SetTsig(tc.key, tc.alg, 300, time.Now().Add(tc.skew).Unix())
					pkt, mac, err := dns.TsigGenerate(req, tc.secret, "", false)
					if err != nil {
						t.Fatal(err)
					}
					out := s.Handler().handleRaw(pkt, netip.MustParseAddrPort("127.0.0.1:53"), network == "udp", make([]byte, 4096)).out
					again := new(dns.Msg)
					if err := again.Unpack(out); err != nil {
						t.Fatal(err)
					}
					got := *again.IsTsig()
					again.Extra[len(again.Extra)-1] = &dns.TSIG{Hdr: got.Hdr, Algorithm: got.Algorithm, TimeSigned: got.TimeSigned,
						Fudge: got.Fudge, OrigId: got.OrigId, Error: got.Error, OtherLen: got.OtherLen, OtherData: got.OtherData}
					if _, want, err := dns.TsigGenerate(again, tc.secret, mac, false); err != nil || !strings.EqualFold(want, got.MAC) {
						t.Errorf("BADTIME reply MAC %s, want %s (err %v)", got.MAC, want, err)
					}
				} else if ts.MACSize != 0 || ts.MAC != "" {
					t.Errorf("%s reply is signed (MAC size %d), want unsigned (RFC 8945 section 5.3.2)", dns.RcodeToString[int(tc.wantErr)], ts.MACSize)
				}
				if ts.OrigId != m.Id || r.Question[0].Name != "example.test." {
					t.Errorf("TSIG original ID %d question %v, want %d and the query's question", ts.OrigId, r.Question, m.Id)
				}
			})
		}
	}
}

// recordingMetrics keeps every observation.
type recordingMetrics struct {
	mu  sync.Mutex
	obs []string
}

func (m *recordingMetrics) ObserveQuery(zone, qtype, rcode string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d < 0 {
		zone = "negative duration"
	}
	m.obs = append(m.obs, zone+" "+qtype+" "+rcode)
}

func (m *recordingMetrics) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.obs
	m.obs = nil
	return out
}

func TestServer_Metrics(t *testing.T) {
	met := &recordingMetrics{}
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{Metrics: met, TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			qname string
			qtype uint16
			want  string
		}{
			{"mail.example.test.", dns.TypeA, "example.test. A NOERROR"},
			{"mail.example.test.", dns.TypeA, "example.test. A NOERROR"}, // the memoized reply
			{"nope.example.test.", dns.TypeAAAA, "example.test. AAAA NXDOMAIN"},
			{"www.example.org.", dns.TypeMX, " MX REFUSED"},
			{"api.example.test.", 65280, "example.test. other NOERROR"},
		} {
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			exchange(t, s, network, m)
			if got := met.take(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s %s %d: observations %q, want [%q]", network, tc.qname, tc.qtype, got, tc.want)
			}
		}
	}
	// A zone transfer is one observation, when it ends.
	if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, xfrKey, xfrSecret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the transfer to be observed", func() bool {
		met.mu.Lock()
		defer met.mu.Unlock()
		return len(met.obs) > 0
	})
	if got := met.take(); len(got) != 1 || got[0] != "example.test. AXFR NOERROR" {
		t.Errorf("AXFR observations %q, want one NOERROR", got)
	}
	if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, "", ""); err == nil {
		t.Fatal("unsigned AXFR was allowed")
	}
	waitFor(t, 5*time.Second, "the refused transfer to be observed", func() bool {
		met.mu.Lock()
		defer met.mu.Unlock()
		return len(met.obs) > 0
	})
	if got := met.take(); len(got) != 1 || got[0] != "example.test. AXFR REFUSED" {
		t.Errorf("refused AXFR observations %q, want one REFUSED", got)
	}
	// Dropped messages (responses) are not observed.
	m := new(dns.Msg)
	m.SetQuestion("mail.example.test.", dns.TypeA)
	m.Response = true
	h := s.Handler()
	pkt, _ := m.Pack()
	if r := h.handleRaw(pkt, netip.AddrPort{}, true, make([]byte, 512)); r.out != nil {
		t.Fatalf("a response was answered")
	}
	if got := met.take(); len(got) != 0 {
		t.Errorf("a dropped response was observed: %q", got)
	}
}

func TestCompile_RecordValuesUsePolicyParsers(t *testing.T) {
	spec := exampleSpec()
	z := &spec.Zones[0]
	z.Records = append(z.Records,
		policy.Record{Name: "esc.example.test.", Type: "TXT", Values: []string{`back\slash "and" quotes`, `"a\\b" "\065\"c"`}},
		policy.Record{Name: "rel.example.test.", Type: "MX", Values: []string{"5 mx1", "0 ."}},
		policy.Record{Name: "_sip._tcp.example.test.", Type: "SRV", Values: []string{"10 60 5060 sip"}},
		policy.Record{Name: "example.test.", Type: "CAA", Values: []string{`0 ISSUE "ca.example.net"`}},
		policy.Record{Name: "alias.example.test.", Type: "CNAME", Values: []string{"@"}},
	)
	h := NewHandler(HandlerConfig{})
	if err := h.SetState(exampleState(spec, 7)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"esc.example.test.", dns.TypeTXT, lines(`esc.example.test. 300 IN TXT "back\\slash \"and\" quotes"`, `esc.example.test. 300 IN TXT "a\\b" "A\"c"`)},
		{"rel.example.test.", dns.TypeMX, lines("rel.example.test. 300 IN MX 5 mx1.example.test.", "rel.example.test. 300 IN MX 0 .")},
		{"_sip._tcp.example.test.", dns.TypeSRV, lines("_sip._tcp.example.test. 300 IN SRV 10 60 5060 sip.example.test.")},
		{"example.test.", dns.TypeCAA, lines(`example.test. 300 IN CAA 0 issue "ca.example.net"`)},
		{"alias.example.test.", dns.TypeCNAME, lines("alias.example.test. 300 IN CNAME example.test.")},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		// Through the wire, so that the escapes are what a client reads.
		pkt, _ := m.Pack()
		r := new(dns.Msg)
		if err := r.Unpack(h.handleRaw(pkt, netip.AddrPort{}, false, make([]byte, 4096)).out); err != nil {
			t.Fatal(err)
		}
		if got := rrLines(r.Answer); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s %s = %q, want %q", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
	bad := exampleSpec()
	bad.Zones[0].Records = append(bad.Zones[0].Records, policy.Record{Name: "x.example.test.", Type: "TXT", Values: []string{`"unclosed`}})
	err := h.SetState(exampleState(bad, 8))
	if err == nil || !strings.Contains(err.Error(), "records[") || !strings.Contains(err.Error(), "not closed") {
		t.Errorf("bad TXT value: %v, want an error naming the record and the problem", err)
	}
	if h.view.Load().index != 7 {
		t.Errorf("a bad state replaced the view")
	}
}

func TestHandler_ServeDNSMetrics(t *testing.T) {
	met := &recordingMetrics{}
	h := NewHandler(HandlerConfig{NodeID: "x", Metrics: met})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	ds := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ds.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		ds.Shutdown()
		<-done
	})
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	for _, tc := range []struct {
		qname string
		want  string
	}{
		{"www.example.test.", "example.test. A NOERROR"},
		{"www.example.org.", " A REFUSED"},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, dns.TypeA)
		if _, _, err := c.Exchange(m, pc.LocalAddr().String()); err != nil {
			t.Fatal(err)
		}
		if got := met.take(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s through ServeDNS: observations %q, want [%q]", tc.qname, got, tc.want)
		}
	}
}
