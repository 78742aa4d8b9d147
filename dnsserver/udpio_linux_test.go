package dnsserver

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// The kernel's struct mmsghdr is a msghdr and a 32-bit length, padded to
// pointer alignment.
func TestMmsghdrLayout(t *testing.T) {
	want := unsafe.Sizeof(unix.Msghdr{}) + 4
	if a := unsafe.Alignof(uintptr(0)); want%a != 0 {
		want += a - want%a
	}
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Fatalf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
	if got := unsafe.Offsetof(mmsghdr{}.n); got != unsafe.Sizeof(unix.Msghdr{}) {
		t.Fatalf("offsetof(mmsghdr.n) = %d, want %d", got, unsafe.Sizeof(unix.Msghdr{}))
	}
}

func TestSockaddrAddrPort(t *testing.T) {
	var v4 unix.RawSockaddrInet6
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&v4))
	sa4.Family = unix.AF_INET
	*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = [2]byte{0x14, 0xe9} // 5353
	sa4.Addr = [4]byte{127, 0, 0, 9}

	var v6 unix.RawSockaddrInet6
	v6.Family = unix.AF_INET6
	*(*[2]byte)(unsafe.Pointer(&v6.Port)) = [2]byte{0, 53}
	v6.Addr = netip.MustParseAddr("::ffff:127.0.0.10").As16()

	tests := []struct {
		name string
		sa   *unix.RawSockaddrInet6
		n    uint32
		want netip.AddrPort
	}{
		{"ipv4", &v4, unix.SizeofSockaddrInet4, netip.MustParseAddrPort("127.0.0.9:5353")},
		{"ipv4-mapped ipv6", &v6, unix.SizeofSockaddrInet6, netip.MustParseAddrPort("[::ffff:127.0.0.10]:53")},
		{"short ipv6", &v6, unix.SizeofSockaddrInet4, netip.AddrPort{}},
		{"unknown family", &unix.RawSockaddrInet6{Family: unix.AF_UNIX}, sizeofSockaddr, netip.AddrPort{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sockaddrAddrPort(tc.sa, tc.n); got != tc.want {
				t.Errorf("sockaddrAddrPort = %v, want %v", got, tc.want)
			}
		})
	}
}

// A batch read from real sockets, replied to in one flush, in which the
// kernel refuses one reply (port 0): the others still arrive, and the
// refused one is reported.
func TestUDPIO_BatchAndRefusedReply(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b, err := newUDPIO(srv, 8, 512)
	if err != nil {
		t.Fatal(err)
	}
	var clients []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for i, c := range clients {
		if _, err := c.Write([]byte{'q', byte(i)}); err != nil {
			t.Fatal(err)
		}
	}

	// Loopback delivers within the sender's write, so one read takes
	// all three.
	type query struct {
		pkt  []byte
		from netip.AddrPort
		slot int
	}
	n, err := b.read()
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("read %d queries in a batch, want 3", n)
	}
	var got []query
	for i := range n {
		pkt, from := b.query(i)
		if len(pkt) != 2 || pkt[0] != 'q' || pkt[1] > 2 {
			t.Fatalf("query %d = %q, want \"q\" and a client number", i, pkt)
		}
		if want := clients[pkt[1]].LocalAddr().(*net.UDPAddr).AddrPort(); from != want {
			t.Errorf("query %q from %v, want %v", pkt, from, want)
		}
		got = append(got, query{append([]byte(nil), pkt...), from, i})
	}

	// Reply to each in turn; the second reply goes to port 0.
	for k, q := range got {
		msg := append(b.scratch(k)[:0], 'r', q.pkt[1])
		b.setReply(k, q.slot, msg)
		if k == 1 {
			b.outSa[k].Port = 0
		}
	}
	skipped, err := b.flush(len(got))
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0].err, syscall.EINVAL) {
		t.Fatalf("skipped = %v, want one EINVAL", skipped)
	}
	refused := int(got[1].pkt[1])
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if i == refused {
			if err == nil {
				t.Errorf("client %d got %q, want no reply", i, buf[:n])
			}
			continue
		}
		if err != nil || n != 2 || buf[0] != 'r' || buf[1] != byte(i) {
			t.Errorf("client %d: reply %q, %v; want \"r\\x%02x\"", i, buf[:n], err, i)
		}
	}

	srv.Close()
	if _, err := b.read(); !isClosed(err) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
}

// A server on IPv6 loopback: replies go back to the sender's sockaddr_in6,
// over UDP as over TCP.
func TestServer_IPv6Loopback(t *testing.T) {
	if ln, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	s := startServer(t, newTestSource(exampleState(exampleSpec(), 7)), Config{Addr: "[::1]:0"})
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		r := exchange(t, s, network, m)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].String() != "www.example.test.\t20\tIN\tA\t127.0.0.11" {
			t.Errorf("%s: rcode %d, answer %v; want www.example.test. A 127.0.0.11", network, r.Rcode, r.Answer)
		}
	}
}
