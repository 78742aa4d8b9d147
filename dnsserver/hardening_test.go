package dnsserver

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// udpFrom opens a UDP socket on the loopback address local (port 0).
func udpFrom(t *testing.T, local string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(local)})
	if err != nil {
		t.Fatalf("listen udp on %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// burst sends n queries for name/A with IDs 0..n-1 from c to s, then
// reads replies until every query is accounted for: answered in full,
// truncated, or counted as dropped by the server (dropped before reading
// the burst). It returns the full and truncated counts.
func burst(t *testing.T, s *Server, c *net.UDPConn, name string, n int, dropped func() uint64) (full, tc int) {
	t.Helper()
	dst := s.UDPAddr().(*net.UDPAddr)
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = uint16(i)
		pkt, _ := m.Pack()
		if _, err := c.WriteToUDP(pkt, dst); err != nil {
			t.Fatalf("send query %d: %v", i, err)
		}
	}
	buf := make([]byte, 2048)
	seen := map[uint16]bool{}
	for full+tc+int(dropped()) < n {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d full and %d truncated replies and %d dropped of %d: %v", full, tc, dropped(), n, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:k]); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if seen[r.Id] {
			t.Fatalf("two replies to query %d", r.Id)
		}
		seen[r.Id] = true
		if r.Truncated {
			if len(r.Answer) != 0 || len(r.Question) != 1 || r.Question[0].Name != name {
				t.Fatalf("truncated reply %v, want the question alone", r)
			}
			tc++
		} else {
			if len(r.Answer) == 0 {
				t.Fatalf("full reply without an answer: %v", r)
			}
			full++
		}
	}
	return full, tc
}

func TestServer_RateLimitOverUDP(t *testing.T) {
	const rate = 20
	src := newTestSource(exampleState(exampleSpec(), 7))
	logs := &syncBuffer{}
	s := startServer(t, src, Config{RateLimit: RateLimit{Rate: rate, LimitLoopback: true}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	dropped := func() uint64 { return s.RateLimitStats().Dropped }

	// A burst of 200 from one /24: the bucket's 20 (and the few that
	// refill while the burst is sent), then truncated and dropped
	// replies in turn (slip 2, starting with a truncated one).
	a := udpFrom(t, "127.0.0.2")
	full, tc := burst(t, s, a, "mail.example.test.", 200, dropped)
	st := s.RateLimitStats()
	if full < rate || full > rate+10 {
		t.Errorf("%d full replies of 200, want about %d", full, rate)
	}
	if limited := 200 - full; tc != (limited+1)/2 || int(st.Dropped) != limited/2 || int(st.Slipped) != tc {
		t.Errorf("%d limited: %d truncated, %d dropped (stats %+v), want half each, truncated first", limited, tc, st.Dropped, st)
	}
	if want := `msg="dns: rate limiting responses" prefix=127.0.0.0/24 kind=positive`; !strings.Contains(logs.String(), want) {
		t.Errorf("logs %q, want a line with %q", logs.String(), want)
	}
	// Another client of the same /24 shares the bucket.
	b := udpFrom(t, "127.0.0.3")
	before := s.RateLimitStats()
	full, tc = burst(t, s, b, "mail.example.test.", 10, func() uint64 { return dropped() - before.Dropped })
	if full > 2 || tc < 4 {
		t.Errorf("a neighbour in the same /24: %d full, %d truncated of 10, want limited", full, tc)
	}
	// Another /24 and another name from the limited /24 are not limited.
	c := udpFrom(t, "127.0.1.2")
	before = s.RateLimitStats()
	if full, tc := burst(t, s, c, "mail.example.test.", rate, func() uint64 { return dropped() - before.Dropped }); full != rate || tc != 0 {
		t.Errorf("another /24: %d full, %d truncated of %d, want all full", full, tc, rate)
	}
	if full, tc := burst(t, s, a, "www.example.test.", rate, func() uint64 { return dropped() - before.Dropped }); full != rate || tc != 0 {
		t.Errorf("another name: %d full, %d truncated of %d, want all full", full, tc, rate)
	}
	// TCP from the limited address is never limited.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 3 * time.Second}
	cl := &dns.Client{Net: "tcp", Dialer: d, Timeout: 3 * time.Second}
	for i := range 3 * rate {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeA)
		r, _, err := cl.Exchange(m, s.TCPAddr().String())
		if err != nil || r.Truncated || len(r.Answer) != 1 {
			t.Fatalf("TCP query %d from the limited address: %v, %v; want the answer", i, r, err)
		}
	}
	// Tokens refill: at 20 a second one comes back every 50 ms.
	waitFor(t, 5*time.Second, "a full UDP reply again for the limited /24", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeA)
		pkt, _ := m.Pack()
		a.WriteToUDP(pkt, s.UDPAddr().(*net.UDPAddr))
		a.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 2048)
		for {
			k, _, err := a.ReadFromUDP(buf)
			if err != nil {
				return false
			}
			r := new(dns.Msg)
			if r.Unpack(buf[:k]) == nil && r.Id == m.Id && !r.Truncated && len(r.Answer) == 1 {
				return true
			}
		}
	})
}

func TestServer_RateLimitSparesLoopbackByDefault(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{RateLimit: RateLimit{Rate: 5}})
	a := udpFrom(t, "127.0.0.2")
	full, tc := burst(t, s, a, "mail.example.test.", 100, func() uint64 { return s.RateLimitStats().Dropped })
	if full != 100 || tc != 0 || s.RateLimitStats() != (RateLimitStats{}) {
		t.Errorf("loopback burst of 100 at rate 5: %d full, %d truncated, stats %+v; want every reply full", full, tc, s.RateLimitStats())
	}
}

// dialTCP connects to s over TCP.
func dialTCP(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.TCPAddr().String(), 3*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpQuery returns a length-prefixed query for name/A.
func tcpQuery(name string, id uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Id = id
	pkt, _ := m.Pack()
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
}

// readReply reads one length-prefixed reply from c.
func readReply(c net.Conn) (*dns.Msg, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	return m, m.Unpack(b)
}

// closedWithin reads from c until the server closes it, which must be
// within d; it returns how long that took.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection still open after %v", d)
		}
		return time.Since(start)
	}
}

// smallRecvBuffer makes a socket's receive buffer small, so that a
// client that does not read fills it quickly.
func smallRecvBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// tcpConns is how many TCP connections s is serving.
func (s *Server) tcpConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestServer_TCPTimeouts(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	long := time.Minute
	t.Run("silent connection: closed at the initial timeout", func(t *testing.T) {
		s := startServer(t, src, Config{TCPInitialTimeout: 200 * time.Millisecond, TCPIdleTimeout: long, TCPReadTimeout: long})
		c := dialTCP(t, s)
		if d := closedWithin(t, c, 10*time.Second); d < 150*time.Millisecond {
			t.Errorf("closed after %v, before the initial timeout", d)
		}
	})
	t.Run("first query trickled: closed at the initial timeout", func(t *testing.T) {
		s := startServer(t, src, Config{TCPInitialTimeout: 300 * time.Millisecond, TCPIdleTimeout: long, TCPReadTimeout: long})
		c := dialTCP(t, s)
		q := tcpQuery("mail.example.test.", 1)
		done := make(chan struct{})
		defer func() { c.Close(); <-done }()
		go func() { // one byte every 50 ms: the query would take over 2 s
			defer close(done)
			for _, b := range q {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond) // pacing the client, not synchronisation
			}
		}()
		if _, err := readReply(c); err == nil {
			t.Fatalf("a trickled first query was answered")
		}
	})
	t.Run("idle after a reply: closed at the idle timeout", func(t *testing.T) {
		s := startServer(t, src, Config{TCPInitialTimeout: long, TCPIdleTimeout: 200 * time.Millisecond, TCPReadTimeout: long})
		c := dialTCP(t, s)
		c.Write(tcpQuery("mail.example.test.", 1))
		if r, err := readReply(c); err != nil || len(r.Answer) != 1 {
			t.Fatalf("first query: %v, %v", r, err)
		}
		closedWithin(t, c, 10*time.Second)
	})
	t.Run("half a query after the first: closed at the read timeout", func(t *testing.T) {
		s := startServer(t, src, Config{TCPInitialTimeout: long, TCPIdleTimeout: long, TCPReadTimeout: 200 * time.Millisecond})
		c := dialTCP(t, s)
		c.Write(tcpQuery("mail.example.test.", 1))
		if _, err := readReply(c); err != nil {
			t.Fatalf("first query: %v", err)
		}
		q := tcpQuery("mail.example.test.", 2)
		c.Write(q[:len(q)/2])
		closedWithin(t, c, 10*time.Second) // the idle timeout is a minute
	})
	t.Run("a client that never reads: closed at the write timeout", func(t *testing.T) {
		s := startServer(t, src, Config{TCPInitialTimeout: long, TCPIdleTimeout: long, TCPReadTimeout: long, TCPWriteTimeout: 200 * time.Millisecond, TCPMaxQueries: -1})
		d := net.Dialer{Control: smallRecvBuffer}
		c, err := d.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		defer func() { c.Close(); <-done }()
		waitFor(t, 5*time.Second, "the connection to be served", func() bool { return s.tcpConns() == 1 })
		// Replies of ~1.7 KB to 40-byte queries: the server's writes
		// block long before the client's do.
		go func() {
			defer close(done)
			q := tcpQuery("big.example.test.", 1)
			for range 20000 {
				if _, err := c.Write(q); err != nil {
					return
				}
			}
		}()
		waitFor(t, 10*time.Second, "the server to close the connection", func() bool { return s.tcpConns() == 0 })
	})
}

func TestServer_TCPQueryCap(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{TCPMaxQueries: 5})
	c := dialTCP(t, s)
	var all []byte
	for i := range 8 {
		all = append(all, tcpQuery("mail.example.test.", uint16(i))...)
	}
	c.Write(all) // pipelined
	for i := range 5 {
		r, err := readReply(c)
		if err != nil || r.Id != uint16(i) || len(r.Answer) != 1 {
			t.Fatalf("reply %d: %v, %v", i, r, err)
		}
	}
	if r, err := readReply(c); err == nil {
		t.Fatalf("a sixth reply on a connection capped at 5 queries: %v", r)
	}
	// A new connection is served again.
	c2 := dialTCP(t, s)
	c2.Write(tcpQuery("mail.example.test.", 9))
	if r, err := readReply(c2); err != nil || r.Id != 9 {
		t.Fatalf("new connection: %v, %v", r, err)
	}
}

func TestServer_TCPQueryTooLong(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	s := startServer(t, src, Config{})
	c := dialTCP(t, s)
	c.Write([]byte{0xFF, 0xFF}) // 65535 bytes announced
	c.Write(make([]byte, 1000))
	closedWithin(t, c, 10*time.Second)
}

func TestServer_TCPConnectionCap(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	const max = 20
	s := startServer(t, src, Config{MaxTCPConns: max})
	var held []net.Conn
	for i := range max {
		c := dialTCP(t, s)
		c.Write(tcpQuery("mail.example.test.", uint16(i)))
		if _, err := readReply(c); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	// A flood of connections beyond the cap is closed at once; the
	// server never holds more than max.
	for range 3 * max {
		c := dialTCP(t, s)
		closedWithin(t, c, 10*time.Second)
		if n := s.tcpConns(); n > max {
			t.Fatalf("%d connections served, cap %d", n, max)
		}
	}
	// The held ones still work; closing one makes room for another.
	held[0].Write(tcpQuery("www.example.test.", 77))
	if r, err := readReply(held[0]); err != nil || r.Id != 77 {
		t.Fatalf("held connection: %v, %v", r, err)
	}
	held[1].Close()
	waitFor(t, 5*time.Second, "a free slot", func() bool { return s.tcpConns() == max-1 })
	c := dialTCP(t, s)
	c.Write(tcpQuery("mail.example.test.", 78))
	if r, err := readReply(c); err != nil || r.Id != 78 {
		t.Fatalf("connection after one closed: %v, %v", r, err)
	}
}

func TestServer_TCPConnectionsPerClient(t *testing.T) {
	src := newTestSource(exampleState(exampleSpec(), 7))
	const per = 3
	s := startServer(t, src, Config{MaxTCPConns: 50, MaxTCPConnsPerClient: per})
	dialFrom := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 3 * time.Second}
		c, err := d.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", local, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for i := range per {
		c := dialFrom("127.0.0.2")
		c.Write(tcpQuery("mail.example.test.", uint16(i)))
		if _, err := readReply(c); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	// A fourth from the same address is closed at once; another address
	// is served.
	closedWithin(t, dialFrom("127.0.0.2"), 10*time.Second)
	other := dialFrom("127.0.0.3")
	other.Write(tcpQuery("mail.example.test.", 10))
	if _, err := readReply(other); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// Closing one makes room for the client again.
	held[0].Close()
	waitFor(t, 5*time.Second, "the slot to be freed", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.perIP[netip.MustParseAddr("127.0.0.2")] == per-1
	})
	c := dialFrom("127.0.0.2")
	c.Write(tcpQuery("mail.example.test.", 11))
	if _, err := readReply(c); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}
