package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "detour test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial int64 = 100

// issue makes a node certificate for name (DNS SAN and CN), valid for
// 127.0.0.1 when withIP, for both client and server use.
func (ca *testCA) issue(t testing.TB, name string, withIP bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if withIP {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newLayer(t *testing.T, ca *testCA, cert tls.Certificate, members func() [][2]string) *tlsStreamLayer {
	t.Helper()
	l, err := newTLSStreamLayer("127.0.0.1:0", nil, &RaftTLS{Certificate: cert, CA: ca.pool}, memberCheck(members),
		testutil.Logger(t, slog.LevelError))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// accepted runs Accept in the background and delivers its connections.
func accepted(t *testing.T, l *tlsStreamLayer) <-chan net.Conn {
	ch := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(ch)
				return
			}
			ch <- c
		}
	}()
	return ch
}

func TestTLSStreamLayer_MembersOnly(t *testing.T) {
	ca := newTestCA(t)
	members := func() [][2]string { return [][2]string{{"n1", "10.0.0.1:8054"}, {"n2", "10.0.0.2:8054"}} }
	server := newLayer(t, ca, ca.issue(t, "n1", true), members)
	conns := accepted(t, server)
	addr := raft.ServerAddress(server.Addr().String())

	// A certificate signed by the same CA for a machine that is not a
	// member: the handshake passes, then the server closes the
	// connection instead of handing it to Raft.
	intruder := newLayer(t, ca, ca.issue(t, "intruder", false), func() [][2]string { return nil })
	c, err := intruder.Dial(addr, 2*time.Second)
	if err != nil {
		t.Fatalf("intruder dial: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("intruder read: got %v, want the server to close the connection", err)
	}
	c.Close()

	// A certificate from another CA fails the handshake.
	other := newTestCA(t)
	stranger := newLayer(t, other, other.issue(t, "n2", true), func() [][2]string { return nil })
	stranger.client.RootCAs = ca.pool // trust the server, so that only the server's check can refuse
	if c, err := stranger.Dial(addr, 2*time.Second); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("stranger read: got %v, want a refused handshake", err)
		}
		c.Close()
	}

	// A member (its node ID in the certificate) gets through, and it is
	// the first connection the server hands over.
	member := newLayer(t, ca, ca.issue(t, "n2", false), members)
	mc, err := member.Dial(addr, 2*time.Second)
	if err != nil {
		t.Fatalf("member dial: %v", err)
	}
	defer mc.Close()
	if _, err := mc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case sc := <-conns:
		defer sc.Close()
		if cn := sc.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "n2" {
			t.Fatalf("first accepted connection is from %q, want n2", cn)
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(sc, b); err != nil || string(b) != "hello" {
			t.Fatalf("read %q, %v", b, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the member's connection was not accepted")
	}

	// The dialling side checks membership too: a server whose certificate
	// names no member is refused.
	rogue := newLayer(t, ca, ca.issue(t, "rogue", true), func() [][2]string { return nil })
	if _, err := member.Dial(raft.ServerAddress(rogue.Addr().String()), 2*time.Second); err == nil {
		t.Fatal("dial to a non-member server succeeded")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestCluster_MutualTLS(t *testing.T) {
	skipShort(t)
	ca := newTestCA(t)
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.TLS = &RaftTLS{Certificate: ca.issue(t, cfg.NodeID, true), CA: ca.pool}
	})
	leader := c.waitLeader()
	if _, err := leader.ApplySpec(t.Context(), testSpec(1, 1)); err != nil {
		t.Fatalf("apply over mutual TLS: %v", err)
	}
	st := c.waitConverged()
	if st.SpecVersion != 1 || len(st.Members) != 3 {
		t.Fatalf("state after apply: spec version %d, %d members", st.SpecVersion, len(st.Members))
	}
}
