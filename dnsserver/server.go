package dnsserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/detour-dns/detour/policy"
)

// StateSource gives the server the current replicated state; cluster.Node
// satisfies it. Watch returns the current State (nil before the first one)
// and a channel that is closed when a newer State is published.
type StateSource interface {
	Watch() (*policy.State, <-chan struct{})
}

// Config configures a Server. The zero value of every field but Addr is a
// sensible default.
type Config struct {
	// Addr is the "host:port" for both UDP and TCP; with port 0 a free
	// port is chosen for TCP and the same one is used for UDP. A second
	// server on an address in use fails to start (see listen).
	Addr string
	// NodeID is answered in the EDNS0 NSID option.
	NodeID string
	// TSIGKeys maps absolute key names to base64 hmac-sha256 secrets, for
	// zone transfers and NOTIFY.
	TSIGKeys map[string]string
	// Logger receives serving errors and transfer decisions; nil discards.
	Logger *slog.Logger
	// UDPWorkers is the number of goroutines reading the UDP socket
	// (default GOMAXPROCS).
	UDPWorkers int
	// UDP replies are at most 1232 bytes (the EDNS0 size we advertise,
	// DNS flag day 2020), 512 without EDNS0; larger ones are truncated.

	// TCP bounds: each connection is one goroutine with about 32 KB of
	// buffers and stack, so MaxTCPConns bounds the memory of a flood of
	// connections (default 1000 connections, about 32 MB), and the
	// timeouts below close silent, slow and stuck ones.

	// TCPInitialTimeout closes a TCP connection whose first query has not
	// arrived complete this long after it was accepted (default 5s, or
	// TCPIdleTimeout when that is shorter).
	TCPInitialTimeout time.Duration
	// TCPIdleTimeout closes a TCP connection when no next query starts
	// this long after the last reply (default 10s, RFC 7766 recommends
	// seconds).
	TCPIdleTimeout time.Duration
	// TCPReadTimeout closes a TCP connection when the rest of a query does
	// not arrive this long after its first byte (default 3s): a client
	// that trickles its bytes holds a connection no longer than that.
	TCPReadTimeout time.Duration
	// TCPWriteTimeout closes a TCP connection whose client does not read
	// its replies: writing a batch of replies (or one message of a zone
	// transfer) may take this long (default 10s).
	TCPWriteTimeout time.Duration
	// MaxTCPConns bounds concurrent TCP connections (default 1000); more
	// are closed at once.
	MaxTCPConns int
	// MaxTCPConnsPerClient bounds the concurrent TCP connections of one
	// client address, so that one client cannot take every slot and shut
	// out the clients that rate limiting sends to TCP (default 100, or
	// MaxTCPConns when that is smaller; negative means no bound).
	MaxTCPConnsPerClient int
	// TCPMaxQueries, when positive, is how many queries one TCP
	// connection may send; the replies to them are sent and the
	// connection is then closed, so that the client opens a new one.
	// Queries pipelined past the limit are not answered: RFC 7766
	// clients send them again on a new connection, but some load
	// generators (dnsperf) count them as lost. Zero or negative: no limit
	// (the default, as NSD's tcp-query-count); the timeouts above and
	// MaxTCPConns bound what connections can hold.
	TCPMaxQueries int

	// RateLimit configures response rate limiting of UDP replies; its
	// zero value is on with NSD's defaults, except for loopback clients
	// (see RateLimit).
	RateLimit RateLimit
	// NotifyRetries is how many times a NOTIFY is sent without an answer
	// (default 5), NotifyTimeout how long each try waits (default 2s).
	NotifyRetries int
	NotifyTimeout time.Duration
	// Metrics, when not nil, observes every answered query (see Metrics).
	Metrics Metrics

	// Resolver is the "host:port" of the recursive resolver that
	// flattened hostname endpoints are resolved through (see
	// flatten.go); empty means the first nameserver of
	// /etc/resolv.conf. Each node resolves for itself.
	Resolver string
	// ResolverTimeout bounds one query to the resolver (default 2s).
	ResolverTimeout time.Duration
	// FlattenMinRefresh and FlattenMaxRefresh bound how often a
	// flattened target is re-queried: at half its TTL, but no sooner
	// than the minimum (default 5s) and no later than the maximum
	// (default 5m). Failed refreshes are retried from the minimum,
	// doubling up to the maximum.
	FlattenMinRefresh time.Duration
	FlattenMaxRefresh time.Duration
	// FlattenMaxStale is how long past its TTL the last good answer of a
	// target is served while refreshing it fails (default 1h; RFC 8767
	// serves stale data for up to days). After that the endpoint answers
	// nothing until the resolver answers again.
	FlattenMaxStale time.Duration
}

// Server is the authoritative DNS server of one node.
type Server struct {
	cfg     Config
	src     StateSource
	handler *Handler
	log     *slog.Logger
	notify  *notifier
	flat    *flattener
	rrl     *limiter // nil: no rate limiting

	mu      sync.Mutex
	udp     []*net.UDPConn   // one per worker, sharing the port with SO_REUSEPORT
	tcp     *net.TCPListener // bound first, without SO_REUSEPORT: the port's lock
	conns   map[net.Conn]struct{}
	perIP   map[netip.Addr]int // open TCP connections per client address, guarded by mu
	cancel  context.CancelFunc
	stopped chan struct{} // closed by stop
	wg      sync.WaitGroup
	started bool
	closed  bool
}

// New validates cfg and returns a Server that is not yet serving.
func New(cfg Config, src StateSource) (*Server, error) {
	if src == nil {
		return nil, errors.New("dnsserver: nil StateSource")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dnsserver: addr %q: %w", cfg.Addr, err)
	}
	if cfg.UDPWorkers <= 0 {
		cfg.UDPWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.TCPIdleTimeout <= 0 {
		cfg.TCPIdleTimeout = 10 * time.Second
	}
	if cfg.TCPInitialTimeout <= 0 {
		cfg.TCPInitialTimeout = min(5*time.Second, cfg.TCPIdleTimeout)
	}
	if cfg.TCPReadTimeout <= 0 {
		cfg.TCPReadTimeout = 3 * time.Second
	}
	if cfg.TCPWriteTimeout <= 0 {
		cfg.TCPWriteTimeout = 10 * time.Second
	}
	if cfg.MaxTCPConns <= 0 {
		cfg.MaxTCPConns = 1000
	}
	switch {
	case cfg.MaxTCPConnsPerClient == 0:
		cfg.MaxTCPConnsPerClient = min(100, cfg.MaxTCPConns)
	case cfg.MaxTCPConnsPerClient < 0:
		cfg.MaxTCPConnsPerClient = cfg.MaxTCPConns
	}
	if cfg.NotifyRetries <= 0 {
		cfg.NotifyRetries = 5
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 2 * time.Second
	}
	if cfg.ResolverTimeout <= 0 {
		cfg.ResolverTimeout = 2 * time.Second
	}
	if cfg.FlattenMinRefresh <= 0 {
		cfg.FlattenMinRefresh = 5 * time.Second
	}
	if cfg.FlattenMaxRefresh <= 0 {
		cfg.FlattenMaxRefresh = 5 * time.Minute
	}
	if cfg.FlattenMaxRefresh < cfg.FlattenMinRefresh {
		return nil, fmt.Errorf("dnsserver: flatten max refresh %v is below the min refresh %v", cfg.FlattenMaxRefresh, cfg.FlattenMinRefresh)
	}
	if cfg.FlattenMaxStale <= 0 {
		cfg.FlattenMaxStale = time.Hour
	}
	if cfg.Resolver != "" {
		if h, p, err := net.SplitHostPort(cfg.Resolver); err != nil || h == "" || p == "" {
			return nil, fmt.Errorf("dnsserver: resolver %q is not host:port", cfg.Resolver)
		}
	} else if rc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(rc.Servers) > 0 {
		// No resolver found leaves it empty: flattening then fails with
		// a clear error in the log, and the rest of the server works.
		cfg.Resolver = net.JoinHostPort(rc.Servers[0], rc.Port)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rrl, err := newLimiter(cfg.RateLimit, log, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	h := NewHandler(HandlerConfig{NodeID: cfg.NodeID, TSIGKeys: cfg.TSIGKeys, Logger: log, Metrics: cfg.Metrics})
	if rrl != nil {
		h.rrlFor = rrl.applies
	}
	fl := newFlattener(cfg, log, h.setFlat)
	h.onTargets = fl.setTargets
	return &Server{cfg: cfg, src: src, handler: h, log: log, conns: map[net.Conn]struct{}{}, perIP: map[netip.Addr]int{}, flat: fl, rrl: rrl, stopped: make(chan struct{}),
		notify: newNotifier(h.tsig, cfg.NotifyRetries, cfg.NotifyTimeout, log)}, nil
}

// RateLimitStats returns how many UDP responses rate limiting has dropped
// and truncated so far (zero when it is disabled).
func (s *Server) RateLimitStats() RateLimitStats {
	if s.rrl == nil {
		return RateLimitStats{}
	}
	return s.rrl.stats()
}

// Handler returns the server's handler (for tests and metrics).
func (s *Server) Handler() *Handler { return s.handler }

// Start binds UDP and TCP, compiles the current state and starts serving
// and following the StateSource until Shutdown or until ctx is done. On
// error nothing is left running.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("dnsserver: already started")
	}
	udps, ln, err := listen(ctx, s.cfg.Addr, s.cfg.UDPWorkers)
	if err != nil {
		return err
	}
	udp := udps[0]
	s.udp, s.tcp = udps, ln
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.started = true

	st, changed := s.src.Watch()
	s.apply(runCtx, st)
	for _, u := range udps {
		s.wg.Add(1)
		go s.serveUDP(u)
	}
	s.wg.Add(4)
	go func() {
		defer s.wg.Done()
		s.flat.run(runCtx)
	}()
	go s.serveTCP()
	go s.follow(runCtx, st, changed)
	go func() { // stop when the caller's ctx ends
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			s.stop()
		case <-runCtx.Done():
		}
	}()
	s.log.Info("dns: serving", "udp", udp.LocalAddr().String(), "tcp", ln.Addr().String())
	return nil
}

// UDPAddr returns the bound UDP address (nil before Start).
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.udp) == 0 {
		return nil
	}
	return s.udp[0].LocalAddr()
}

// TCPAddr returns the bound TCP address (nil before Start).
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Shutdown stops serving: it closes the sockets and every TCP connection,
// stops NOTIFY retries, and waits for the goroutines until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.notify.wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dnsserver: shutdown: %w", ctx.Err())
	}
}

// stop closes everything once.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return
	}
	s.closed = true
	close(s.stopped)
	s.cancel()
	s.notify.stop()
	for _, u := range s.udp {
		u.Close()
	}
	s.tcp.Close()
	for c := range s.conns {
		c.Close()
	}
}

// follow compiles every newly published State.
func (s *Server) follow(ctx context.Context, last *policy.State, changed <-chan struct{}) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		var st *policy.State
		st, changed = s.src.Watch()
		if st != last {
			s.apply(ctx, st)
			last = st
		}
	}
}

// apply compiles st and sends NOTIFY for zones whose serial changed.
func (s *Server) apply(ctx context.Context, st *policy.State) {
	if st == nil {
		return
	}
	if err := s.handler.SetState(st); err != nil {
		s.log.Error("dns: keeping the previous view", "err", err)
		return
	}
	s.notify.update(ctx, s.handler.view.Load())
}

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves.
const udpBatch = 32

// listen binds a TCP listener and n UDP sockets on the same port. The TCP
// listener is bound first and without SO_REUSEPORT: it is the lock that
// makes a second server on the same address fail to start, instead of
// silently sharing the UDP traffic through SO_REUSEPORT (every server
// binds TCP first, so the second one never reaches its UDP sockets). With
// port 0 the TCP listener picks the port; when UDP is taken there it
// tries others.
func listen(ctx context.Context, addr string, n int) ([]*net.UDPConn, *net.TCPListener, error) {
	host, port, _ := net.SplitHostPort(addr)
	tries := 1
	if port == "0" {
		tries = 20
	}
	var lc net.ListenConfig
	var err error
	for range tries {
		var ln net.Listener
		ln, err = lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen tcp %s: %w", addr, err)
		}
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		var udps []*net.UDPConn
		udps, err = listenUDP(ctx, net.JoinHostPort(host, p), n)
		if err == nil {
			return udps, ln.(*net.TCPListener), nil
		}
		ln.Close()
	}
	return nil, nil, err
}

// listenUDP binds n UDP sockets to addr with SO_REUSEPORT, so that the
// kernel spreads clients over them and each worker reads its own socket
// (readers sharing one socket contend and run slower than one). With port
// 0 the first socket picks the port and the others join it. Callers hold
// the TCP port first (see listen).
func listenUDP(ctx context.Context, addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var out []*net.UDPConn
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, u := range out {
			u.Close()
		}
		return nil, fmt.Errorf("dnsserver: listen udp %s: %w", addr, err)
	}
	for i := range n {
		a := addr
		if i > 0 {
			a = out[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(ctx, "udp", a)
		if err != nil {
			return fail(err)
		}
		u := pc.(*net.UDPConn)
		// Room for bursts; the kernel caps these at net.core.[rw]mem_max.
		_ = u.SetReadBuffer(4 << 20)
		_ = u.SetWriteBuffer(4 << 20)
		out = append(out, u)
	}
	return out, nil
}

// serveUDP reads batches of queries from one socket and writes batches of
// replies (see udpio_linux.go).
func (s *Server) serveUDP(conn *net.UDPConn) {
	defer s.wg.Done()
	b, err := newUDPIO(conn, udpBatch, 4096)
	if err != nil {
		s.log.Error("dns: udp", "err", err)
		return
	}
	for {
		n, err := b.read()
		if err != nil {
			if isClosed(err) {
				return
			}
			s.log.Warn("dns: udp read", "err", err)
			continue
		}
		var now int64
		if s.rrl != nil {
			now = s.rrl.now() // once per batch
		}
		k := 0
		for i := range n {
			pkt, remote := b.query(i)
			r := s.handler.handleRaw(pkt, remote, true, b.scratch(k))
			if len(r.out) == 0 {
				continue
			}
			if s.rrl != nil {
				if r.out = s.rrl.apply(r.out, r.class, remote.Addr(), now); len(r.out) == 0 {
					continue
				}
			}
			b.setReply(k, i, r.out)
			k++
		}
		if k == 0 {
			continue
		}
		skipped, err := b.flush(k)
		for _, e := range skipped {
			s.log.Debug("dns: udp reply not sent", "to", e.to, "err", e.err)
		}
		if err != nil {
			if isClosed(err) {
				return
			}
			s.log.Warn("dns: udp write", "err", err)
		}
	}
}

// isClosed reports whether err says the socket was closed.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// serveTCP accepts connections. When accepting fails (out of file
// descriptors, say) it waits before trying again, from 5 ms doubling to
// 1 s, instead of spinning.
func (s *Server) serveTCP() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("dns: tcp accept", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		ip := addrPort(c.RemoteAddr()).Addr().Unmap()
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.cfg.MaxTCPConns || s.perIP[ip] >= s.cfg.MaxTCPConnsPerClient {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.perIP[ip]++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c, ip)
	}
}

// done returns a channel closed when the server stops.
func (s *Server) done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// maxTCPQuery is the longest query read over TCP; a longer one closes the
// connection. Real queries are a few hundred bytes (a question, an OPT
// record, perhaps a TSIG or an SOA); the bound keeps a connection's
// memory small.
const maxTCPQuery = 16384

// serveConn answers the queries of one TCP connection from the client
// address ip in order; pipelined queries are read from the buffer and
// their replies flushed together.
// The first query must arrive within TCPInitialTimeout of the accept, each
// later one must start within TCPIdleTimeout of the previous replies and,
// once started, arrive within TCPReadTimeout; each batch of replies must
// be written within TCPWriteTimeout; after TCPMaxQueries queries the
// connection is closed.
func (s *Server) serveConn(c net.Conn, ip netip.Addr) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
		c.Close()
	}()
	remote := addrPort(c.RemoteAddr())
	rw := streamIO(c)
	br := bufio.NewReaderSize(rw, 4096)
	bw := bufio.NewWriterSize(rw, 8192)
	pkt := make([]byte, 512) // grows to the largest query seen
	scratch := make([]byte, 4096)
	var lenb [2]byte
	c.SetReadDeadline(time.Now().Add(s.cfg.TCPInitialTimeout))
	for served := 0; ; served++ {
		if br.Buffered() == 0 {
			// Nothing pipelined left: send the replies, then wait for
			// the next query to start.
			if bw.Buffered() > 0 {
				c.SetWriteDeadline(time.Now().Add(s.cfg.TCPWriteTimeout))
				if err := bw.Flush(); err != nil {
					return
				}
			}
			if served > 0 {
				c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
			}
		}
		if s.cfg.TCPMaxQueries > 0 && served >= s.cfg.TCPMaxQueries {
			if bw.Buffered() > 0 {
				c.SetWriteDeadline(time.Now().Add(s.cfg.TCPWriteTimeout))
				bw.Flush()
			}
			return
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		// A query has started. The rest of it (beyond what is already
		// buffered) must come within the read timeout; the first query
		// keeps its initial deadline.
		waiting := served > 0 && br.Buffered() < 2
		if waiting {
			c.SetReadDeadline(time.Now().Add(s.cfg.TCPReadTimeout))
		}
		if _, err := io.ReadFull(br, lenb[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenb[:]))
		if n > maxTCPQuery {
			s.log.Debug("dns: tcp query too long", "remote", remote.String(), "length", n)
			return
		}
		if n > len(pkt) {
			pkt = make([]byte, n)
		}
		if served > 0 && !waiting && br.Buffered() < n {
			c.SetReadDeadline(time.Now().Add(s.cfg.TCPReadTimeout))
		}
		if _, err := io.ReadFull(br, pkt[:n]); err != nil {
			return
		}
		if bw.Buffered() == 0 {
			// The first reply of a batch: writing the batch (it may fill
			// the buffer before the flush) gets a fresh deadline.
			c.SetWriteDeadline(time.Now().Add(s.cfg.TCPWriteTimeout))
		}
		r := s.handler.handleRaw(pkt[:n], remote, false, scratch)
		if r.xfr != nil {
			if err := bw.Flush(); err != nil {
				return
			}
			if err := s.handler.transfer(c, bw, r.xfr.req, remote, r.xfr.key, s.cfg.TCPWriteTimeout); err != nil {
				s.log.Warn("dns: zone transfer", "remote", remote.String(), "err", err)
				return
			}
			continue
		}
		if r.out == nil {
			continue
		}
		binary.BigEndian.PutUint16(lenb[:], uint16(len(r.out)))
		bw.Write(lenb[:])
		if _, err := bw.Write(r.out); err != nil {
			return
		}
	}
}
