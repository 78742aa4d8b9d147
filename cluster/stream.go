package cluster

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStreamLayer is a plain TCP raft.StreamLayer: a listener on the bind
// address, advertising adv (nil: the bound address).
type tcpStreamLayer struct {
	ln  net.Listener
	adv net.Addr
}

var _ raft.StreamLayer = (*tcpStreamLayer)(nil)

// newTCPStreamLayer binds bind.
func newTCPStreamLayer(bind string, adv net.Addr) (*tcpStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tcpStreamLayer{ln: ln, adv: adv}, nil
}

// Accept implements net.Listener.
func (s *tcpStreamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }

// Close implements net.Listener.
func (s *tcpStreamLayer) Close() error { return s.ln.Close() }

// Addr implements net.Listener: the advertised address, else the bound one.
func (s *tcpStreamLayer) Addr() net.Addr {
	if s.adv != nil {
		return s.adv
	}
	return s.ln.Addr()
}

// Dial implements raft.StreamLayer.
func (s *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// trackingLayer wraps a raft.StreamLayer and remembers every connection it
// dialled or accepted, so that closeConns can end them all. Raft's
// transport keeps a connection out of its pool while an RPC uses it, and
// Raft's shutdown waits for its replication goroutines; one of them
// blocked writing to a peer that stopped reading would hold the shutdown
// for the transport's whole I/O timeout. Closing every connection once the
// shutdown has begun ends such writes at once.
type trackingLayer struct {
	raft.StreamLayer

	mu     sync.Mutex
	conns  map[*trackedConn]struct{} // guarded by mu
	closed bool                      // guarded by mu: closeConns ran
}

// newTrackingLayer wraps l.
func newTrackingLayer(l raft.StreamLayer) *trackingLayer {
	return &trackingLayer{StreamLayer: l, conns: map[*trackedConn]struct{}{}}
}

// Accept implements net.Listener.
func (t *trackingLayer) Accept() (net.Conn, error) {
	c, err := t.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return t.track(c)
}

// Dial implements raft.StreamLayer.
func (t *trackingLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := t.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	return t.track(c)
}

// errLayerClosed is returned for connections made after closeConns.
var errLayerClosed = errors.New("raft stream layer is closed")

func (t *trackingLayer) track(c net.Conn) (net.Conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, fmt.Errorf("connection to %s: %w", c.RemoteAddr(), errLayerClosed)
	}
	tc := &trackedConn{Conn: c, layer: t}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// closeConns closes every tracked connection and refuses new ones.
func (t *trackingLayer) closeConns() {
	t.mu.Lock()
	t.closed = true
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// open returns how many tracked connections are open.
func (t *trackingLayer) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// trackedConn removes itself from its layer when closed.
type trackedConn struct {
	net.Conn
	layer *trackingLayer
	once  sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.layer.mu.Lock()
		delete(c.layer.conns, c)
		c.layer.mu.Unlock()
	})
	return c.Conn.Close()
}
