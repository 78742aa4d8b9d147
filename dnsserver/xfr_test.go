package dnsserver

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

const (
	xfrKey    = "xfr.example.test."
	xfrSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYnl0ZXM="
)

// axfr transfers zone from s; key "" means unsigned.
func axfr(t *testing.T, s *Server, zone string, qtype uint16, key, secret string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	if qtype == dns.TypeIXFR {
		m.SetIxfr(zone, 1, "ns1.example.test.", "hostmaster.example.test.")
	} else {
		m.SetAxfr(zone)
	}
	tr := &dns.Transfer{DialTimeout: 3 * time.Second, ReadTimeout: 3 * time.Second}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: secret}
	}
	ch, err := tr.In(m, s.TCPAddr().String())
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			return out, env.Error
		}
		out = append(out, env.RR...)
	}
	return out, nil
}

func TestServer_AXFR(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{TSIGKeys: map[string]string{xfrKey: xfrSecret, "other.": xfrSecret}})

	t.Run("signed with the zone's key from an allowed prefix", func(t *testing.T) {
		rrs, err := axfr(t, s, "example.test.", dns.TypeAXFR, xfrKey, xfrSecret)
		if err != nil {
			t.Fatalf("AXFR: %v", err)
		}
		if len(rrs) < 3 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("transfer does not start and end with the SOA: %d records", len(rrs))
		}
		got := rrLines(rrs)
		for _, want := range []string{
			"www.example.test. 20 IN A 127.0.0.11",
			"all.example.test. 20 IN A 127.0.0.13",
			"api.example.test. 20 IN A 127.0.0.12",
			"lb.example.test. 20 IN CNAME my-alb.elb.example.org.",
			"sub.example.test. 300 IN NS ns.sub.example.test.",
			"ns.sub.example.test. 300 IN A 127.0.0.53",
			"*.dev.example.test. 300 IN A 203.0.113.7",
			"big.example.test. 300 IN A 10.0.0.100",
			"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 7 3600 600 1209600 30",
		} {
			if !slices.Contains(got, want) {
				t.Errorf("transfer lacks %q", want)
			}
		}
		if slices.Contains(got, "www.example.test. 20 IN A 127.0.0.12") {
			t.Errorf("transfer holds the failover pool's standby endpoint; pools transfer as their current answer")
		}
	})
	t.Run("IXFR is answered with a full transfer", func(t *testing.T) {
		rrs, err := axfr(t, s, "example.test.", dns.TypeIXFR, xfrKey, xfrSecret)
		if err != nil {
			t.Fatalf("IXFR: %v", err)
		}
		if len(rrs) < 100 {
			t.Errorf("IXFR gave %d records, want the whole zone", len(rrs))
		}
	})
	t.Run("unsigned is refused", func(t *testing.T) {
		if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, "", ""); err == nil {
			t.Errorf("unsigned AXFR succeeded, want refused")
		}
	})
	t.Run("signed with a key the zone does not list is refused", func(t *testing.T) {
		if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, "other.", xfrSecret); err == nil {
			t.Errorf("AXFR with another key succeeded, want refused")
		}
	})
	t.Run("wrong secret fails verification", func(t *testing.T) {
		if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, xfrKey, "d3Jvbmctc2VjcmV0"); err == nil {
			t.Errorf("AXFR with a bad signature succeeded")
		}
	})
	t.Run("AXFR over UDP is refused", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr("example.test.")
		r := exchange(t, s, "udp", m)
		if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("rcode %s with %d answers, want REFUSED", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	})
}

func TestServer_AXFRPrefixEnforced(t *testing.T) {
	spec := exampleSpec()
	spec.Zones[0].Transfer = &policy.Transfer{Allow: []string{"10.0.0.0/8"}, Keys: []string{xfrKey}}
	s := startServer(t, newTestSource(exampleState(spec, 7)), Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	if _, err := axfr(t, s, "example.test.", dns.TypeAXFR, xfrKey, xfrSecret); err == nil {
		t.Errorf("AXFR from 127.0.0.1 succeeded with allow 10.0.0.0/8 only")
	}
	spec2 := exampleSpec()
	spec2.Zones[0].Transfer = &policy.Transfer{Allow: []string{"127.0.0.1"}}
	s2 := startServer(t, newTestSource(exampleState(spec2, 7)), Config{})
	if rrs, err := axfr(t, s2, "example.test.", dns.TypeAXFR, "", ""); err != nil || len(rrs) < 100 {
		t.Errorf("unsigned AXFR from an allowed address: %d records, err %v", len(rrs), err)
	}
	spec3 := exampleSpec()
	spec3.Zones[0].Transfer = nil
	s3 := startServer(t, newTestSource(exampleState(spec3, 7)), Config{})
	if _, err := axfr(t, s3, "example.test.", dns.TypeAXFR, "", ""); err == nil {
		t.Errorf("AXFR of a zone without a transfer block succeeded")
	}
}

// notifySink is a fake secondary that records NOTIFY messages.
type notifySink struct {
	mu      sync.Mutex
	serials []uint32
	signed  []bool
	ignore  int // how many NOTIFYs to leave unanswered first
}

func (n *notifySink) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	n.mu.Lock()
	if n.ignore > 0 {
		n.ignore--
		n.mu.Unlock()
		return
	}
	var serial uint32
	if len(r.Answer) == 1 {
		if soa, ok := r.Answer[0].(*dns.SOA); ok {
			serial = soa.Serial
		}
	}
	n.serials = append(n.serials, serial)
	n.signed = append(n.signed, r.IsTsig() != nil && w.TsigStatus() == nil)
	n.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	if t := r.IsTsig(); t != nil {
		m.SetTsig(t.Hdr.Name, dns.HmacSHA256, 300, time.Now().Unix())
	}
	w.WriteMsg(m)
}

func (n *notifySink) got() ([]uint32, []bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.serials), slices.Clone(n.signed)
}

func TestServer_NotifyOnSerialChange(t *testing.T) {
	sink := &notifySink{ignore: 1}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: sink, TsigSecret: map[string]string{xfrKey: xfrSecret}}
	go ds.ActivateAndServe()
	t.Cleanup(func() { ds.Shutdown() })

	spec := exampleSpec()
	spec.Zones[0].Transfer.Notify = []string{pc.LocalAddr().String()}
	src := newTestSource(exampleState(spec, 7))
	s := startServer(t, src, Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}, NotifyTimeout: 300 * time.Millisecond})

	waitFor(t, 10*time.Second, "NOTIFY for serial 7 (after one unanswered try)", func() bool {
		serials, _ := sink.got()
		return slices.Contains(serials, 7)
	})

	// A change of a pool's answer bumps the serial and sends NOTIFY.
	spec2 := exampleSpec()
	spec2.Zones[0].Transfer.Notify = []string{pc.LocalAddr().String()}
	spec2.Pools[0].Endpoints[0].Addresses = []string{"127.0.0.21"}
	src.publish(&policy.State{Index: 9, Spec: spec2})
	waitFor(t, 10*time.Second, "NOTIFY for serial 9", func() bool {
		serials, _ := sink.got()
		return slices.Contains(serials, 9)
	})
	_, signed := sink.got()
	for i, ok := range signed {
		if !ok {
			t.Errorf("NOTIFY %d was not signed with the zone's key", i)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	r := exchange(t, s, "udp", m)
	if got := rrLines(r.Answer); len(got) != 1 || got[0] != "www.example.test. 20 IN A 127.0.0.21" {
		t.Errorf("after publish: answer %q, want the new endpoint", got)
	}
	m.SetQuestion("example.test.", dns.TypeSOA)
	r = exchange(t, s, "tcp", m)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 9 {
		t.Errorf("after publish: SOA %v, want serial 9", r.Answer)
	}

	// A state that does not change the zone keeps the serial: no NOTIFY.
	spec3 := exampleSpec()
	spec3.Zones[0].Transfer.Notify = []string{pc.LocalAddr().String()}
	spec3.Pools[0].Endpoints[0].Addresses = []string{"127.0.0.21"}
	src.publish(&policy.State{Index: 11, Spec: spec3})
	waitFor(t, 5*time.Second, "the new state to be served", func() bool {
		v := s.Handler().view.Load()
		return v != nil && v.index == 11
	})
	if v := s.Handler().view.Load(); v.zones["example.test."].soa.Serial != 9 {
		t.Errorf("serial %d after an unchanged zone, want 9", v.zones["example.test."].soa.Serial)
	}
	serials, _ := sink.got()
	if n := len(serials); serials[n-1] != 9 {
		t.Errorf("serials notified %v, want the last to stay 9", serials)
	}
}

func TestServer_TCPPipelining(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{})
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := []string{"mail.example.test.", "www.example.test.", "nope.example.test.", "big.example.test.", "all.example.test."}
	var batch []byte
	ids := map[uint16]string{}
	for i := range 20 {
		m := new(dns.Msg)
		m.SetQuestion(names[i%len(names)], dns.TypeA)
		m.Id = uint16(1000 + i)
		ids[m.Id] = names[i%len(names)]
		b, _ := m.Pack()
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(b)))
		batch = append(batch, b...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 20 {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(b); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Id != uint16(1000+i) || r.Question[0].Name != ids[r.Id] {
			t.Errorf("reply %d has ID %d for %s, want ID %d in order", i, r.Id, r.Question[0].Name, 1000+i)
		}
	}
}

func TestServer_TCPIdleTimeout(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{TCPIdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = c.Read(make([]byte, 1))
	if err != io.EOF {
		t.Fatalf("read on an idle connection: %v, want EOF (closed by the server)", err)
	}
	t.Logf("idle connection closed after %v", time.Since(start))
}

func TestServer_SignedQueryGetsSignedReply(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}})
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeSOA)
		m.SetTsig(xfrKey, dns.HmacSHA256, 300, time.Now().Unix())
		addr := s.UDPAddr().String()
		if network == "tcp" {
			addr = s.TCPAddr().String()
		}
		c := &dns.Client{Net: network, TsigSecret: map[string]string{xfrKey: xfrSecret}, Timeout: 3 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s: signed exchange: %v (the client verifies the reply's TSIG)", network, err)
		}
		if r.IsTsig() == nil || len(r.Answer) != 1 {
			t.Errorf("%s: reply TSIG %v answers %d, want a signed SOA", network, r.IsTsig(), len(r.Answer))
		}
		bad := &dns.Client{Net: network, TsigSecret: map[string]string{xfrKey: "d3Jvbmctc2VjcmV0"}, Timeout: 3 * time.Second}
		m.SetTsig(xfrKey, dns.HmacSHA256, 300, time.Now().Unix())
		r, _, _ = bad.Exchange(m, addr)
		if r == nil || r.Rcode != dns.RcodeNotAuth {
			t.Errorf("%s: badly signed query got %v, want NOTAUTH", network, r)
		}
	}
}

func TestHandler_ServeDNS(t *testing.T) {
	h := NewHandler(HandlerConfig{NodeID: "x"})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: h}
	go ds.ActivateAndServe()
	t.Cleanup(func() { ds.Shutdown() })
	m := new(dns.Msg)
	m.SetQuestion("big.example.test.", dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	var r *dns.Msg
	waitFor(t, 5*time.Second, "the miekg server to answer", func() bool {
		r, _, err = c.Exchange(m, pc.LocalAddr().String())
		return err == nil
	})
	if !r.Truncated || !r.Authoritative {
		t.Errorf("TC=%v AA=%v through ServeDNS over UDP, want a truncated authoritative answer", r.Truncated, r.Authoritative)
	}
}

func TestHandler_NoStateIsServfail(t *testing.T) {
	h := NewHandler(HandlerConfig{})
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	if r := h.Answer(m, netip.AddrPort{}); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s before any state, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	bad := exampleSpec()
	bad.Zones[0].Records = append(bad.Zones[0].Records, policy.Record{Name: "x.example.test.", Type: "A", Values: []string{"not-an-ip"}})
	if err := h.SetState(exampleState(exampleSpec(), 7)); err != nil {
		t.Fatal(err)
	}
	if err := h.SetState(exampleState(bad, 8)); err == nil {
		t.Fatalf("SetState accepted a record that does not parse")
	}
	if v := h.view.Load(); v.index != 7 {
		t.Errorf("view index %d after a bad state, want 7 (kept)", v.index)
	}
}

func TestServer_TCPConnLimitAndShutdown(t *testing.T) {
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{MaxTCPConns: 2})
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// Make sure both are being served before the third one arrives.
	for _, c := range conns {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeA)
		co := &dns.Conn{Conn: c}
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := co.ReadMsg(); err != nil {
			t.Fatalf("served connection: %v", err)
		}
	}
	extra, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection over the limit: read %v, want EOF", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	conns[0].SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("open connection after Shutdown: read %v, want EOF", err)
	}
}
