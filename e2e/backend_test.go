package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Backend modes.
const (
	modeOK   = "ok"   // /healthz answers 200
	mode503  = "503"  // every request answers 503
	modeHang = "hang" // requests get no answer until the mode changes
)

// backendPort is the port of the example spec's checks.
const backendPort = 18080

// backend is an HTTP server on one loopback address, port 18080, that a
// test switches between answering 200, answering 503, hanging, and being
// stopped (connections refused). It can also reset the connections that
// come from chosen source addresses, as a broken path from one node would.
type backend struct {
	addr string // host:port

	mu      sync.Mutex
	mode    string
	changed chan struct{}       // closed when the mode changes; guarded by mu
	blocked map[netip.Addr]bool // source addresses whose connections are reset; guarded by mu
	srv     *http.Server        // nil while stopped; guarded by mu
	done    chan struct{}       // closed when srv's Serve returns; guarded by mu
	hits    map[netip.Addr]int  // requests served per source; guarded by mu
	resets  map[netip.Addr]int  // connections reset per source; guarded by mu
}

// errPortTaken reports that a backend's address is in use.
var errPortTaken = errors.New("port taken")

// startBackends listens on 127.0.0.11, .12 and .13 port 18080. When one of
// them is taken it stops the others and returns errPortTaken.
func startBackends(tb testing.TB) ([]*backend, error) {
	tb.Helper()
	var bs []*backend
	for _, host := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		b := &backend{addr: net.JoinHostPort(host, fmt.Sprint(backendPort)), mode: modeOK,
			changed: make(chan struct{}), blocked: map[netip.Addr]bool{},
			hits: map[netip.Addr]int{}, resets: map[netip.Addr]int{}}
		if err := b.start(); err != nil {
			for _, o := range bs {
				o.stop()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%w: %s: %v", errPortTaken, b.addr, err)
			}
			return nil, err
		}
		tb.Cleanup(b.stop)
		bs = append(bs, b)
	}
	return bs, nil
}

// start listens and serves (again, after stop).
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	b.srv, b.done = srv, done
	go func() {
		defer close(done)
		_ = srv.Serve(&resetListener{Listener: ln, b: b})
	}()
	return nil
}

// stop closes the listener and every connection: connections are refused
// until start.
func (b *backend) stop() {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// setMode switches between modeOK, mode503 and modeHang; hanging requests
// are released.
func (b *backend) setMode(m string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mode = m
	close(b.changed)
	b.changed = make(chan struct{})
}

// block makes the backend reset every connection from src (or accept them
// again when on is false).
func (b *backend) block(src netip.Addr, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.blocked[src] = true
	} else {
		delete(b.blocked, src)
	}
}

// counts returns how many requests were served to src and how many of its
// connections were reset.
func (b *backend) counts(src netip.Addr) (hits, resets int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[src], b.resets[src]
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	mode, changed := b.mode, b.changed
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		b.hits[ap.Addr().Unmap()]++
	}
	b.mu.Unlock()
	switch mode {
	case modeHang:
		select {
		case <-changed:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	case mode503:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "backend is failing on purpose")
	default:
		fmt.Fprintln(w, "ok")
	}
}

// resetListener resets (RST) the connections from blocked sources as soon
// as they are accepted.
type resetListener struct {
	net.Listener
	b *backend
}

func (l *resetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := netip.Addr{}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			src = ap.Addr().Unmap()
		}
		l.b.mu.Lock()
		blocked := l.b.blocked[src]
		if blocked {
			l.b.resets[src]++
		}
		l.b.mu.Unlock()
		if !blocked {
			return c, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
		_ = c.Close()
	}
}
