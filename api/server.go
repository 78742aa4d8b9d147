package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/detour-dns/detour/policy"
)

// StatusReader reports the node's view of the cluster.
type StatusReader interface {
	Status() Status
	Members(ctx context.Context) ([]Member, error)
}

// StateReader gives the current replicated state; it never returns nil.
type StateReader interface {
	State() *policy.State
}

// SpecWriter applies a validated, normalized spec through the cluster log
// and returns the new spec version. On a follower it returns a
// *NotLeaderError; without quorum an error wrapping ErrNoQuorum in bounded
// time.
type SpecWriter interface {
	ApplySpec(ctx context.Context, spec *policy.Spec) (uint64, error)
}

// MembershipWriter changes the cluster's membership and leadership. Every
// method is leader-only and returns a *NotLeaderError on a follower.
type MembershipWriter interface {
	Join(ctx context.Context, req JoinRequest) error
	Remove(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
}

// Cluster is everything the server needs from the replicated node.
type Cluster interface {
	StatusReader
	StateReader
	SpecWriter
	MembershipWriter
	ViewWriter
}

// HeaderForwarded marks a request that a follower forwarded to the leader;
// its value is the forwarding node's ID. A request carrying it is never
// forwarded again.
const HeaderForwarded = "X-Detour-Forwarded-By"

// HeaderSpecVersion carries the spec version in GET /v1/spec answers.
const HeaderSpecVersion = "X-Detour-Spec-Version"

// Default limits of Config.
const (
	DefaultMaxBodyBytes = 1 << 20  // 1 MiB
	DefaultMaxSpecBytes = 16 << 20 // 16 MiB
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Server. The zero value of every field but Addr and
// NodeID is a sensible default.
type Config struct {
	// Addr is the listen address ("127.0.0.1:8053"; port 0 picks one).
	Addr string
	// Listener, when set, is used by Start instead of binding Addr (the
	// daemon binds first to learn its address). Shutdown closes it.
	Listener net.Listener
	// NodeID is this node's ID, sent in HeaderForwarded.
	NodeID string
	// Version is the build version reported by /v1/status.
	Version string
	// Ready, when set, is an extra readiness check for /readyz (for
	// example "DNS is serving"); a non-nil error means not ready.
	Ready func() error
	// MaxBodyBytes caps request bodies (default 1 MiB); MaxSpecBytes caps
	// PUT /v1/spec bodies (default 16 MiB).
	MaxBodyBytes, MaxSpecBytes int64
	// WriteTimeout bounds each write request including waiting for a
	// leader and forwarding to it (default 10s). The cluster bounds its
	// own commit time separately.
	WriteTimeout time.Duration
	// ReadHeaderTimeout (default 5s) and IdleTimeout (default 60s) are the
	// HTTP server's.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// ForwardClient sends forwarded requests (default: a client with no
	// overall timeout; each request is bounded by WriteTimeout).
	ForwardClient *http.Client
	// Prober, when set, gives this node's own probe results and degraded
	// flag to the pool pages and the status; nil: the node does not probe.
	Prober LocalProber
	// Tokens are the API tokens; none turns authentication off (every
	// caller is Anonymous). The daemon refuses to bind a non-loopback
	// address without tokens unless told otherwise.
	Tokens []Token
	// TLSCertFile and TLSKeyFile, when both set, make Start serve HTTPS
	// with that certificate (read once at Start).
	TLSCertFile, TLSKeyFile string
	// StreamHeartbeat is how often an idle event stream sends a comment
	// line (default 15s).
	StreamHeartbeat time.Duration
	// Metrics, when set, serves GET /metrics (its own content type).
	Metrics http.Handler
	// Route53, when set, gives the leader's Route 53 publisher status to
	// GET /v1/route53.
	Route53 Route53Reader
	// Logger receives request errors and forwarding events; nil discards.
	Logger *slog.Logger
}

// Server is the admin API server. Build it with New, then either serve its
// Handler yourself or call Start and Shutdown. It is safe for concurrent
// use.
type Server struct {
	cfg     Config
	cluster Cluster
	log     *slog.Logger
	handler http.Handler
	fwd     *http.Client
	tokens  []authToken

	// closing is closed when Shutdown begins, so that event streams end.
	closing   chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	srv  *http.Server // guarded by mu; nil until Start
	ln   net.Listener // guarded by mu
	done chan struct{}
}

// New validates cfg and builds a Server on top of c. It starts nothing.
func New(cfg Config, c Cluster) (*Server, error) {
	if c == nil {
		return nil, errors.New("api: nil cluster")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("api: config: node id is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxSpecBytes <= 0 {
		cfg.MaxSpecBytes = DefaultMaxSpecBytes
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = 15 * time.Second
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("api: config: tls cert file and key file go together")
	}
	tokens, err := newAuth(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, cluster: c, log: log.With("component", "api"), fwd: cfg.ForwardClient,
		tokens: tokens, closing: make(chan struct{})}
	if s.fwd == nil {
		s.fwd = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the API's http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Start binds Config.Addr (or takes Config.Listener) and serves in a
// goroutine until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("api: already started")
	}
	ln := s.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("api: listen on %s: %w", s.cfg.Addr, err)
		}
	}
	var tlsConf *tls.Config
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			if s.cfg.Listener == nil {
				ln.Close()
			}
			return fmt.Errorf("api: load tls certificate %s and key %s: %w", s.cfg.TLSCertFile, s.cfg.TLSKeyFile, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadHeaderTimeout + s.cfg.WriteTimeout,
		WriteTimeout:      2*s.cfg.WriteTimeout + 5*time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConf,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.srv, s.ln, s.done = srv, ln, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		var err error
		if tlsConf != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "error", err)
		}
	}(s.done)
	s.log.Info("api listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting requests and waits, bounded by ctx, for those
// in flight. It is safe to call more than once and before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("api: shutdown: %w", err), srv.Close())
	}
	<-done
	if t, ok := s.fwd.Transport.(*http.Transport); ok && s.cfg.ForwardClient == nil {
		t.CloseIdleConnections()
	}
	return err
}
