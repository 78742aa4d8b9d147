package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftTLS turns on mutual TLS between Raft peers (Config.TLS). Every node
// presents Certificate when it dials and when it accepts, and requires the
// peer's certificate to be signed by CA and to name a member of the
// cluster: one of its DNS or IP SANs (or its common name) equals a
// member's node ID or the host of its Raft address, as listed in the
// replicated state or the Raft configuration. A certificate signed by the
// same CA for a machine that is not a member is refused.
//
// A node that knows no members yet (a new node before its join is
// committed) accepts any certificate signed by CA: the leader has to reach
// it before it can learn the membership.
type RaftTLS struct {
	// Certificate is this node's certificate and private key. It should
	// name the node's ID (DNS SAN) and its Raft advertise host (IP or DNS
	// SAN): peers dialling it check the host, peers it dials check that
	// it is a member.
	Certificate tls.Certificate
	// CA holds the certificates that sign the cluster's node
	// certificates.
	CA *x509.CertPool
}

// LoadRaftTLS reads a node's PEM certificate and key and the cluster CA.
func LoadRaftTLS(certFile, keyFile, caFile string) (*RaftTLS, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load raft tls certificate %s and key %s: %w", certFile, keyFile, err)
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read raft tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("raft tls ca %s holds no PEM certificate", caFile)
	}
	return &RaftTLS{Certificate: cert, CA: pool}, nil
}

// tlsHandshakeTimeout bounds the TLS handshake of a Raft connection.
const tlsHandshakeTimeout = 10 * time.Second

// tlsStreamLayer is a raft.StreamLayer over mutual TLS that admits only
// cluster members. Accepted connections are handshaken and checked in
// their own goroutines, so a slow or hostile client cannot hold up the
// others.
type tlsStreamLayer struct {
	ln     net.Listener
	adv    net.Addr // nil: the bound address
	server *tls.Config
	client *tls.Config
	// isPeer checks a verified peer certificate against the membership.
	isPeer func(*x509.Certificate) error
	log    *slog.Logger

	conns  chan net.Conn
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

// newTLSStreamLayer binds bind and starts accepting.
func newTLSStreamLayer(bind string, adv net.Addr, t *RaftTLS, isPeer func(*x509.Certificate) error, log *slog.Logger) (*tlsStreamLayer, error) {
	if t == nil || t.CA == nil || len(t.Certificate.Certificate) == 0 {
		return nil, errors.New("raft tls: certificate and ca are required")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("bind raft transport on %s: %w", bind, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &tlsStreamLayer{
		ln:  ln,
		adv: adv,
		server: &tls.Config{
			Certificates: []tls.Certificate{t.Certificate},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    t.CA,
			MinVersion:   tls.VersionTLS13,
		},
		client: &tls.Config{
			Certificates: []tls.Certificate{t.Certificate},
			RootCAs:      t.CA,
			MinVersion:   tls.VersionTLS13,
		},
		isPeer: isPeer,
		log:    log,
		conns:  make(chan net.Conn),
		ctx:    ctx,
		cancel: cancel,
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *tlsStreamLayer) acceptLoop() {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("raft tls: accept failed", "error", err)
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.wg.Add(1)
		go s.admit(raw)
	}
}

// admit handshakes raw, checks the peer and hands it to Accept.
func (s *tlsStreamLayer) admit(raw net.Conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, tlsHandshakeTimeout)
	defer cancel()
	tc := tls.Server(raw, s.server)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Warn("raft tls: handshake with peer failed", "remote", raw.RemoteAddr().String(), "error", err)
		raw.Close()
		return
	}
	if err := s.check(tc); err != nil {
		s.log.Warn("raft tls: refused a connection", "remote", raw.RemoteAddr().String(), "error", err)
		tc.Close()
		return
	}
	select {
	case s.conns <- tc:
	case <-s.ctx.Done():
		tc.Close()
	}
}

// check applies isPeer to the peer's verified leaf certificate.
func (s *tlsStreamLayer) check(tc *tls.Conn) error {
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	return s.isPeer(st.PeerCertificates[0])
}

// Accept returns the next admitted connection.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for pending handshakes to end.
func (s *tlsStreamLayer) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr returns the advertised address (the bound one by default).
func (s *tlsStreamLayer) Addr() net.Addr {
	if s.adv != nil {
		return s.adv
	}
	return s.ln.Addr()
}

// Dial connects to a peer, verifying that its certificate is valid for
// the address dialled and names a member.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, fmt.Errorf("raft tls: dial %s: %w", address, err)
	}
	conf := s.client.Clone()
	conf.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: conf}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft tls: dial %s: %w", address, err)
	}
	tc := c.(*tls.Conn)
	if err := s.check(tc); err != nil {
		tc.Close()
		return nil, fmt.Errorf("raft tls: dial %s: %w", address, err)
	}
	return tc, nil
}

// certNames lists the names a certificate holds: DNS SANs, IP SANs and
// the common name.
func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

// memberCheck returns the isPeer function of a stream layer: members are
// listed by members (ID and Raft address pairs).
func memberCheck(members func() [][2]string) func(*x509.Certificate) error {
	return func(c *x509.Certificate) error {
		names := certNames(c)
		ms := members()
		if len(ms) == 0 {
			return nil // not joined yet: the CA's signature is all we have
		}
		for _, m := range ms {
			host, _, err := net.SplitHostPort(m[1])
			if err != nil {
				host = m[1]
			}
			for _, n := range names {
				if strings.EqualFold(n, m[0]) || strings.EqualFold(n, host) {
					return nil
				}
			}
		}
		return fmt.Errorf("certificate %q (names %v) matches no cluster member's node id or raft address", c.Subject.CommonName, names)
	}
}

// raftMembers lists the members this node knows, from the replicated
// state and the Raft configuration.
func (n *Node) raftMembers() [][2]string {
	var out [][2]string
	for _, m := range n.fsm.applied().Members {
		out = append(out, [2]string{m.ID, m.RaftAddr})
	}
	if r, err := n.running(); err == nil {
		f := r.GetConfiguration()
		if f.Error() == nil {
			for _, s := range f.Configuration().Servers {
				out = append(out, [2]string{string(s.ID), string(s.Address)})
			}
		}
	}
	return out
}

// openTLSLayer binds the Raft stream layer over mutual TLS.
func (n *Node) openTLSLayer(adv net.Addr) (raft.StreamLayer, error) {
	return newTLSStreamLayer(n.cfg.RaftAddr, adv, n.cfg.TLS, memberCheck(n.raftMembers), n.logger.With("component", "raft-tls"))
}
