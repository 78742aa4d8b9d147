package probe

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// dnsBackend is a miekg/dns server on 127.0.0.1 (UDP and TCP on one port).
type dnsBackend struct {
	addr       string
	port       int
	tcpQueries atomic.Int32
}

// newDNSBackend starts a server answering:
//
//	ok.test. A        127.0.0.7 (and web.test. A 127.0.0.1)
//	big.test. TXT     100 records: truncated over UDP
//	refused.test.     REFUSED
//	anything else     NXDOMAIN
func newDNSBackend(t *testing.T) *dnsBackend {
	t.Helper()
	b := &dnsBackend{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		tcp := w.RemoteAddr().Network() == "tcp"
		if tcp {
			b.tcpQueries.Add(1)
		}
		switch q.Name {
		case "ok.test.", "web.test.":
			ip := map[string]string{"ok.test.": "127.0.0.7", "web.test.": "127.0.0.1"}[q.Name]
			if q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR(q.Name + " 60 IN A " + ip)
				m.Answer = append(m.Answer, rr)
			}
		case "big.test.":
			for i := range 100 {
				rr, _ := dns.NewRR(fmt.Sprintf(`big.test. 60 IN TXT "record-%d padding padding padding"`, i))
				m.Answer = append(m.Answer, rr)
			}
			if !tcp {
				m.Truncate(dnsUDPSize)
			}
		case "refused.test.":
			m.Rcode = dns.RcodeRefused
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	var l net.Listener
	var pc net.PacketConn
	for range 10 {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			break
		}
		l.Close()
		l = nil
	}
	if l == nil {
		t.Fatal("no port free for both udp and tcp")
	}
	b.addr = l.Addr().String()
	b.port = l.Addr().(*net.TCPAddr).Port
	for _, srv := range []*dns.Server{{Listener: l, Handler: handler}, {PacketConn: pc, Handler: handler}} {
		started := make(chan struct{})
		done := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			defer close(done)
			srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return b
}

func TestDNSCheck(t *testing.T) {
	b := newDNSBackend(t)
	p := newTestProber(t, Config{}, nil)
	ep := policy.Endpoint{Name: "ns", Addresses: []string{"127.0.0.1"}}
	tests := []struct {
		name      string
		check     policy.Check
		wantOK    bool
		wantRcode string
		wantErr   string
	}{
		{"answer", policy.Check{Query: "ok.test", ExpectAnswer: "127.0.0.7"}, true, "NOERROR", ""},
		{"any answer", policy.Check{Query: "ok.test."}, true, "NOERROR", ""},
		{"wrong answer", policy.Check{Query: "ok.test.", ExpectAnswer: "10.0.0.1"}, false, "NOERROR", `no answer record contains "10.0.0.1"`},
		{"no answer of that type", policy.Check{Query: "ok.test.", QueryType: "aaaa", ExpectAnswer: "127"}, false, "NOERROR", "0 answers"},
		{"nxdomain expected", policy.Check{Query: "gone.test.", ExpectRcode: "NXDOMAIN"}, true, "NXDOMAIN", ""},
		{"nxdomain", policy.Check{Query: "gone.test."}, false, "NXDOMAIN", "rcode NXDOMAIN, want NOERROR"},
		{"refused", policy.Check{Query: "refused.test."}, false, "REFUSED", "rcode REFUSED"},
		{"truncated retries over tcp", policy.Check{Query: "big.test.", QueryType: "TXT", ExpectAnswer: "record-99 "}, true, "NOERROR", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Type = "dns"
			tc.check.Port = b.port
			got := runCheck(t, compileOne(t, p, tc.check, ep), 5*time.Second)
			wantClass := ClassOK
			if !tc.wantOK {
				wantClass = ClassDNS
			}
			if got.OK != tc.wantOK || got.Class != wantClass || got.Rcode != tc.wantRcode || got.Address != b.addr {
				t.Errorf("got ok=%v class %q rcode %q address %q (%s), want ok=%v class %q rcode %q address %q",
					got.OK, got.Class, got.Rcode, got.Address, got.Error, tc.wantOK, wantClass, tc.wantRcode, b.addr)
			}
			if tc.wantErr != "" && !strings.Contains(got.Error, tc.wantErr) {
				t.Errorf("error %q does not contain %q", got.Error, tc.wantErr)
			}
		})
	}
	if b.tcpQueries.Load() == 0 {
		t.Error("the truncated answer was not retried over tcp")
	}
}

func TestDNSCheckUnreachable(t *testing.T) {
	// A UDP socket that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A UDP port with nothing bound.
	gone, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gonePort := gone.LocalAddr().(*net.UDPAddr).Port
	gone.Close()

	p := newTestProber(t, Config{}, nil)
	ep := policy.Endpoint{Name: "ns", Addresses: []string{"127.0.0.1"}}
	for _, tc := range []struct {
		name    string
		port    int
		timeout time.Duration
		want    string
	}{
		{"no answer", silent.LocalAddr().(*net.UDPAddr).Port, 200 * time.Millisecond, ClassTimeout},
		{"port closed", gonePort, 5 * time.Second, ClassRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := policy.Check{Type: "dns", Port: tc.port, Query: "ok.test."}
			got := runCheck(t, compileOne(t, p, c, ep), tc.timeout)
			if got.OK || got.Class != tc.want {
				t.Errorf("got ok=%v class %q (%s), want %s", got.OK, got.Class, got.Error, tc.want)
			}
		})
	}
}

func TestTCPCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dnsSrv := newDNSBackend(t)
	// A dialer whose resolver asks the test's DNS server, so that hostname
	// targets resolve without leaving loopback.
	dialer := &net.Dialer{Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dnsSrv.addr)
		}}}
	p := newTestProber(t, Config{Dial: dialer.DialContext}, nil)
	closed := closedPort(t)

	tests := []struct {
		name      string
		port      int
		ep        policy.Endpoint
		wantClass string
		wantAddr  string
	}{
		{"open", port, policy.Endpoint{Addresses: []string{"127.0.0.1"}}, ClassOK, l.Addr().String()},
		{"refused", closed, policy.Endpoint{Addresses: []string{"127.0.0.1"}}, ClassRefused, "127.0.0.1:" + strconv.Itoa(closed)},
		{"check_address with port", closed, policy.Endpoint{Addresses: []string{"127.0.0.1"}, CheckAddress: l.Addr().String()}, ClassOK, l.Addr().String()},
		{"check_address without port", port, policy.Endpoint{Addresses: []string{"127.0.0.9"}, CheckAddress: "127.0.0.1"}, ClassOK, l.Addr().String()},
		{"target hostname", port, policy.Endpoint{Target: "web.test."}, ClassOK, "web.test:" + strconv.Itoa(port)},
		{"target does not resolve", port, policy.Endpoint{Target: "gone.test."}, ClassDNS, "gone.test:" + strconv.Itoa(port)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ep.Name = "e"
			got := runCheck(t, compileOne(t, p, policy.Check{Type: "tcp", Port: tc.port}, tc.ep), 5*time.Second)
			if got.Class != tc.wantClass || got.OK != (tc.wantClass == ClassOK) || got.Address != tc.wantAddr {
				t.Errorf("got ok=%v class %q address %q (%s), want class %q address %q",
					got.OK, got.Class, got.Address, got.Error, tc.wantClass, tc.wantAddr)
			}
		})
	}
}
