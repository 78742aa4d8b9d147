package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/dnsserver"
	"github.com/detour-dns/detour/probe"
)

// Options are the daemon's inputs that do not come from the config file.
type Options struct {
	// Logger receives every component's logs; nil discards them.
	Logger *slog.Logger
	// Version is the build version reported by the API.
	Version string
	// JoinRetryMax caps the backoff between join attempts (default 5s).
	JoinRetryMax time.Duration
	// Route53 holds Route 53 inputs that are not in the config file.
	Route53 Route53Options
}

// Daemon is one running detour node. Build it with New, run it with Start
// (or Run), stop it with Shutdown.
type Daemon struct {
	rt   config.Runtime
	opts Options
	base *slog.Logger // Options.Logger, for components that add node_id themselves
	log  *slog.Logger // base with node_id

	mu      sync.Mutex
	started bool
	node    *cluster.Node
	dns     *dnsserver.Server
	api     *api.Server
	apiURL  string
	prober  *probe.Prober
	// reporter sends the prober's verdicts to the leader.
	reporter *reporter
	// wiring holds the metrics and the Route 53 publisher (wiring.go).
	wiring *wiring
	// peer is how the node calls other nodes' APIs; fwd forwards writes
	// to the leader.
	peer    peerAuth
	fwd     *http.Client
	cancel  context.CancelFunc // stops background work (join)
	wg      sync.WaitGroup
	fatal   chan error // a join that can never succeed
	stopped bool
	// stopping makes /readyz fail from the start of Stop, so that load
	// balancers and health checks drain the node before it goes.
	stopping atomic.Bool
}

// New checks rt and returns a daemon that is not started.
func New(rt config.Runtime, opts Options) (*Daemon, error) {
	if rt.NodeID == "" || rt.DataDir == "" {
		return nil, errors.New("daemon: node id and data dir are required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.JoinRetryMax <= 0 {
		opts.JoinRetryMax = 5 * time.Second
	}
	return &Daemon{rt: rt, opts: opts, base: log, log: log.With("node_id", rt.NodeID), fatal: make(chan error, 1)}, nil
}

// NewLogger returns the slog logger described by the runtime config,
// writing to w.
func NewLogger(w io.Writer, rt config.Runtime) *slog.Logger {
	ho := &slog.HandlerOptions{Level: rt.LogLevel}
	if rt.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// Start binds the API, starts the cluster node, the DNS server and the API
// server, and, when the config lists join URLs, starts joining through
// them in the background. ctx bounds the daemon's background work: when it
// ends the DNS server stops following the state, so pass the context of
// the daemon's lifetime, and call Shutdown afterwards. A failed Start
// leaves nothing running.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return errors.New("daemon: already started")
	}
	d.started = true
	var undo []func()
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(undo) {
				f()
			}
		}
	}()

	// Bind the API first: its URL is recorded in the replicated state.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", d.rt.APIAddr)
	if err != nil {
		return fmt.Errorf("listen for api on %s: %w", d.rt.APIAddr, err)
	}
	undo = append(undo, func() { ln.Close() })
	apiURL, err := advertiseURL(d.rt, ln.Addr())
	if err != nil {
		return err
	}

	var raftTLS *cluster.RaftTLS
	if f := d.rt.RaftTLS; f.CertFile != "" {
		if raftTLS, err = cluster.LoadRaftTLS(f.CertFile, f.KeyFile, f.CAFile); err != nil {
			return err
		}
	}
	node, err := cluster.New(cluster.Config{
		TLS:                raftTLS,
		NodeID:             d.rt.NodeID,
		Region:             d.rt.Region,
		DataDir:            d.rt.DataDir,
		RaftAddr:           d.rt.RaftAddr,
		RaftAdvertise:      d.rt.RaftAdvertise,
		APIAddr:            apiURL,
		Bootstrap:          d.rt.Bootstrap,
		HeartbeatTimeout:   d.rt.Raft.HeartbeatTimeout,
		ElectionTimeout:    d.rt.Raft.ElectionTimeout,
		LeaderLeaseTimeout: d.rt.Raft.LeaderLeaseTimeout,
		CommitTimeout:      d.rt.Raft.CommitTimeout,
		ApplyTimeout:       d.rt.Raft.ApplyTimeout,
		SnapshotThreshold:  d.rt.Raft.SnapshotThreshold,
		SnapshotInterval:   d.rt.Raft.SnapshotInterval,
		SnapshotRetain:     d.rt.Raft.SnapshotRetain,
		StoreTimeout:       d.rt.Raft.StoreTimeout,
		Logger:             d.base,
	})
	if err != nil {
		return err
	}
	if err := node.Start(ctx); err != nil {
		node.Close()
		return fmt.Errorf("start cluster node: %w", err)
	}
	undo = append(undo, func() { node.Close() })

	wired, err := d.newWiring(ctx, node)
	if err != nil {
		return err
	}

	dns, err := dnsserver.New(dnsServerConfig(d.rt, d.log.With("component", "dnsserver"), wired.metrics), node)
	if err != nil {
		return fmt.Errorf("dns server: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	undo = append(undo, cancel)
	if err := dns.Start(runCtx); err != nil {
		return fmt.Errorf("start dns server: %w", err)
	}
	undo = append(undo, func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		dns.Shutdown(sctx)
	})

	peer, err := newPeerAuth(d.rt)
	if err != nil {
		return err
	}
	fwd := peer.httpClient(0)
	undo = append(undo, fwd.CloseIdleConnections)
	rep := newReporter(d.rt.NodeID, node, writeTimeout(d.rt), peer, d.log)
	pcfg := probeConfig(d.rt, d.log)
	pcfg.OnDegraded = rep.onDegraded
	pcfg.OnResult = wired.observeProbe
	prober, err := probe.New(pcfg, rep.onFlip)
	if err != nil {
		return fmt.Errorf("prober: %w", err)
	}
	rep.verdicts, rep.degraded = prober.Verdicts, prober.Degraded
	wired.setProber(prober)

	srv, err := api.New(api.Config{
		Addr:     ln.Addr().String(),
		Listener: ln,
		NodeID:   d.rt.NodeID,
		Version:  d.opts.Version,
		Ready: func() error {
			if d.stopping.Load() {
				return errors.New("node is shutting down")
			}
			if dns.UDPAddr() == nil {
				return errors.New("dns server is not serving")
			}
			if node.Replaying() {
				return errors.New("replaying the raft log: serving the restored state until caught up")
			}
			return nil
		},
		WriteTimeout:  writeTimeout(d.rt),
		ForwardClient: fwd,
		Tokens:        apiTokens(d.rt.Auth.Tokens),
		TLSCertFile:   d.rt.APITLS.CertFile,
		TLSKeyFile:    d.rt.APITLS.KeyFile,
		Prober:        localProber{prober},
		Metrics:       wired.metricsHandler(),
		Route53:       wired.route53Reader(),
		Logger:        d.log,
	}, apiCluster{node: node, apply: wired.metrics.ObserveApply})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}

	d.node, d.dns, d.api, d.apiURL, d.cancel = node, dns, srv, apiURL, cancel
	d.wiring = wired
	wired.start(runCtx, &d.wg)
	d.prober, d.reporter, d.peer, d.fwd = prober, rep, peer, fwd
	d.wg.Add(3)
	go func() {
		defer d.wg.Done()
		_ = prober.Run(runCtx) // returns when runCtx ends
	}()
	go func() {
		defer d.wg.Done()
		d.followSpec(runCtx, node, prober)
	}()
	go func() {
		defer d.wg.Done()
		rep.run(runCtx)
	}()
	d.log.Info("node running", "region", d.rt.Region, "api", apiURL, "raft_addr", node.RaftAddr(),
		"dns_addr", dns.UDPAddr().String())
	if len(d.rt.Join) > 0 {
		d.wg.Add(1)
		member := node.ClusterID() != ""
		go func() {
			defer d.wg.Done()
			jctx := runCtx
			if member {
				// The data dir says this node already belongs to the
				// cluster: joining again only refreshes its API address
				// and region, so give up quietly after a while (the
				// members listed may be down for good).
				var cancel context.CancelFunc
				jctx, cancel = context.WithTimeout(runCtx, rejoinTimeout)
				defer cancel()
			}
			err := d.join(jctx)
			switch {
			case err == nil || runCtx.Err() != nil:
			case member && jctx.Err() != nil:
				d.log.Info("could not rejoin through the configured members; continuing as a member", "error", err)
			default:
				d.log.Error("cannot join the cluster", "error", err)
				d.fatal <- err
			}
		}()
	}
	return nil
}

// rejoinTimeout bounds the join attempts of a node whose data dir already
// belongs to the cluster.
const rejoinTimeout = 2 * time.Minute

// writeTimeout bounds API writes: long enough for the cluster's own apply
// timeout plus forwarding.
func writeTimeout(rt config.Runtime) time.Duration {
	t := rt.Raft.ApplyTimeout
	if t <= 0 {
		t = cluster.DefaultApplyTimeout
	}
	return t + 2*time.Second
}

// advertiseURL returns the API base URL other nodes use: the configured
// one, or http:// plus the bound address (with the Raft advertise host
// when the API listens on every interface).
func advertiseURL(rt config.Runtime, bound net.Addr) (string, error) {
	if rt.APIAdvertise != "" {
		return rt.APIAdvertise, nil
	}
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("api address %s: %w", bound, err)
	}
	host := ap.Addr().Unmap().String()
	if ap.Addr().IsUnspecified() {
		h, _, err := net.SplitHostPort(rt.RaftAdvertise)
		if rt.RaftAdvertise == "" || err != nil || h == "" {
			return "", fmt.Errorf("api_addr %s listens on every interface: set api_advertise to the URL other nodes use", rt.APIAddr)
		}
		host = h
	}
	scheme := "http"
	if rt.APITLS.CertFile != "" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, fmt.Sprint(ap.Port()))}
	return u.String(), nil
}

// join asks the members listed in the config to add this node, trying
// them in turn with exponential backoff, until one succeeds, an answer
// says it can never succeed (wrong cluster, ID or address taken), or ctx
// ends.
func (d *Daemon) join(ctx context.Context) error {
	req := api.JoinRequest{ID: d.rt.NodeID, RaftAddr: d.node.RaftAddr(), APIAddr: d.apiURL, Region: d.rt.Region,
		ClusterID: d.node.ClusterID()}
	backoff := 100 * time.Millisecond
	hc := d.peer.httpClient(0)
	defer hc.CloseIdleConnections()
	for attempt := 0; ; attempt++ {
		target := d.rt.Join[attempt%len(d.rt.Join)]
		c, err := api.NewClient(target, hc)
		if err != nil {
			return fmt.Errorf("join through %s: %w", target, err)
		}
		c = c.WithToken(d.peer.token)
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = c.Join(actx, req)
		cancel()
		if err == nil {
			d.log.Info("joined the cluster", "through", target, "attempts", attempt+1)
			return nil
		}
		for _, code := range []string{api.CodeWrongCluster, api.CodeNodeIDTaken, api.CodeAddrTaken, api.CodeBadRequest} {
			if api.IsCode(err, code) {
				return fmt.Errorf("join through %s: %w", target, err)
			}
		}
		d.log.Warn("join attempt failed; retrying", "through", target, "error", err, "retry_in", backoff)
		t := time.NewTimer(backoff + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, d.opts.JoinRetryMax)
	}
}

// Fatal returns a channel that receives an error when the daemon can no
// longer do its job (for example, its join was refused for good).
func (d *Daemon) Fatal() <-chan error { return d.fatal }

// Shutdown stops the daemon in order: background work; leadership, handed
// to another voter when this node leads (bounded, best effort), so that
// writes resume without waiting for an election; the API (so no new writes
// arrive); the DNS server; then the cluster node. It waits for each,
// bounded by ctx, and returns every failure joined. It is safe to call more
// than once.
func (d *Daemon) Shutdown(ctx context.Context) error { return d.Stop(ctx, true) }

// Stop is Shutdown with the leadership hand-off optional: tests that
// simulate a crashed leader pass handoff=false.
func (d *Daemon) Stop(ctx context.Context, handoff bool) error {
	d.mu.Lock()
	if d.stopped || d.node == nil {
		d.stopped = true
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	d.mu.Unlock()
	d.stopping.Store(true)

	var errs []error
	d.cancel()
	d.wg.Wait()
	if handoff {
		d.handOff(ctx)
	}
	if err := d.api.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	d.fwd.CloseIdleConnections()
	if err := d.dns.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("dns server: %w", err))
	}
	if err := d.node.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cluster node: %w", err))
	}
	d.log.Info("node stopped")
	return errors.Join(errs...)
}

// handOff transfers leadership to another voter when this node leads.
func (d *Daemon) handOff(ctx context.Context) {
	if !d.node.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, handoffTimeout)
	defer cancel()
	ms, err := d.node.Members(ctx)
	if err != nil {
		return
	}
	voters := 0
	for _, m := range ms {
		if m.Voter && m.ID != d.rt.NodeID {
			voters++
		}
	}
	if voters == 0 {
		return
	}
	start := time.Now()
	if err := d.node.TransferLeadership(ctx, ""); err != nil {
		d.log.Warn("could not hand over leadership before stopping", "error", err)
		return
	}
	d.log.Info("handed over leadership before stopping", "took", time.Since(start))
}

// handoffTimeout bounds the leadership hand-off of Shutdown.
const handoffTimeout = 3 * time.Second

// Run starts the daemon, runs it until ctx ends or it fails for good, and
// shuts it down (waiting up to 10 s).
func Run(ctx context.Context, rt config.Runtime, opts Options) error {
	d, err := New(rt, opts)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-d.fatal:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(runErr, d.Shutdown(sctx))
}

// APIURL returns the API base URL this node advertises ("" before Start).
func (d *Daemon) APIURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apiURL
}

// RaftAddr returns the advertised Raft address ("" before Start).
func (d *Daemon) RaftAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.node == nil {
		return ""
	}
	return d.node.RaftAddr()
}

// DNSAddr returns the DNS server's UDP address (nil before Start); TCP
// listens on the same port.
func (d *Daemon) DNSAddr() net.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dns == nil {
		return nil
	}
	return d.dns.UDPAddr()
}

// Node returns the cluster node (nil before Start), for tests and
// diagnostics.
func (d *Daemon) Node() *cluster.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node
}

// Prober returns the node's prober (nil before Start), for tests and
// diagnostics.
func (d *Daemon) Prober() *probe.Prober {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prober
}
