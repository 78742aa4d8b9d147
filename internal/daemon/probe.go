package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/probe"
)

// Report retry timing: the first retry after reportRetryMin, doubling up
// to reportRetryMax, with up to 50% jitter.
const (
	reportRetryMin = 50 * time.Millisecond
	reportRetryMax = 2 * time.Second
	// leaderCheckEvery is how often the reporter looks for a leader change
	// (which calls for a full report) when nothing else wakes it.
	leaderCheckEvery = 200 * time.Millisecond
)

// probeConfig maps the runtime's probe section onto the prober's Config.
func probeConfig(rt config.Runtime, log *slog.Logger) probe.Config {
	cfg := probe.Config{
		NodeID:      rt.NodeID,
		Concurrency: rt.Probe.Concurrency,
		History:     rt.Probe.History,
		Canaries:    rt.Probe.Canaries,
		Logger:      log,
	}
	if rt.Probe.SourceAddress.IsValid() {
		cfg.Dial = sourceDialer(rt.Probe.SourceAddress)
	}
	return cfg
}

// sourceDialer returns a dial function that binds every probe connection
// to the local address src.
func sourceDialer(src netip.Addr) func(ctx context.Context, network, address string) (net.Conn, error) {
	ip := net.IP(src.AsSlice())
	tcp := &net.Dialer{KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: ip}}
	udp := &net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if strings.HasPrefix(network, "udp") {
			return udp.DialContext(ctx, network, address)
		}
		return tcp.DialContext(ctx, network, address)
	}
}

// toEvidence converts the prober's results into the cluster's evidence.
func toEvidence(rs []probe.Result) []policy.ProbeResult {
	if len(rs) == 0 {
		return nil
	}
	out := make([]policy.ProbeResult, len(rs))
	for i, r := range rs {
		out[i] = policy.ProbeResult{Time: r.Time, Duration: policy.Duration(r.Duration), OK: r.OK,
			Class: r.Class, Address: r.Address, Status: r.Status, Rcode: r.Rcode,
			Error: r.Error, Body: r.Body, CertExpiryDays: r.CertExpiryDays}
	}
	return out
}

// toUpdate converts a verdict into the view update that reports it.
func toUpdate(v probe.Verdict) policy.ViewUpdate {
	return policy.ViewUpdate{Pool: v.Pool, Endpoint: v.Endpoint, Healthy: v.Healthy, Evidence: toEvidence(v.Evidence)}
}

// localProber adapts *probe.Prober to api.LocalProber.
type localProber struct{ p *probe.Prober }

var _ api.LocalProber = localProber{}

// Results implements api.LocalProber.
func (l localProber) Results(pool, ep string) []policy.ProbeResult {
	return toEvidence(l.p.Results(probe.Target{Pool: pool, Endpoint: ep}))
}

// Degraded implements api.LocalProber.
func (l localProber) Degraded() bool { return l.p.Degraded() }

// ReportViews implements api.ViewWriter.
func (a apiCluster) ReportViews(ctx context.Context, r api.ViewReport) error {
	start := time.Now()
	err := a.node.ReportViews(ctx, cluster.ViewReport{Node: r.Node, Degraded: r.Degraded, Full: r.Full, Views: r.Views})
	a.observe(start, err)
	return mapErr(err)
}

// reporter sends this node's verdicts to the leader: each batch of flips
// as one report, and the whole view set (Full) at start, after a leader
// change and after any report that failed. Flips wait in pending, latest
// verdict per endpoint, so the prober never blocks on the network; a
// failed report is retried with backoff.
type reporter struct {
	nodeID string
	log    *slog.Logger
	// leader returns the leader's ID and API URL as this node knows them
	// ("" while none is known).
	leader func() (id, apiAddr string)
	// send delivers one report to the leader leaderID, bounded by ctx.
	send func(ctx context.Context, leaderID, apiAddr string, r api.ViewReport) error
	// verdicts and degraded read the prober's current state.
	verdicts func() []probe.Verdict
	degraded func() bool
	timeout  time.Duration // bound of one report
	// retryMin and retryMax bound the backoff between failed reports.
	retryMin, retryMax time.Duration
	// closeIdle, if set, runs when run returns (idle connections of send).
	closeIdle func()

	wake chan struct{} // capacity 1

	mu              sync.Mutex
	pending         map[probe.Target]policy.ViewUpdate // flips not yet sent; guarded by mu
	degradedChanged bool                               // guarded by mu
	// stats; guarded by mu.
	sent, failed, full int
}

// newReporter returns a reporter of node's verdicts, sending to the local
// cluster node when it leads and to the leader's API otherwise. Set
// verdicts and degraded (the prober's) before run.
func newReporter(nodeID string, node *cluster.Node, timeout time.Duration, peer peerAuth, log *slog.Logger) *reporter {
	hc := &http.Client{Timeout: timeout + time.Second, Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		TLSClientConfig:     peer.tls.Clone(), // a transport may add its ALPN protocols to it
	}}
	r := &reporter{
		nodeID:   nodeID,
		log:      log.With("component", "reporter"),
		leader:   node.Leader,
		timeout:  timeout,
		retryMin: reportRetryMin,
		retryMax: reportRetryMax,
		wake:     make(chan struct{}, 1),
		pending:  make(map[probe.Target]policy.ViewUpdate),
	}
	r.send = func(ctx context.Context, leaderID, apiAddr string, rep api.ViewReport) error {
		if leaderID == nodeID {
			return node.ReportViews(ctx, cluster.ViewReport{Node: rep.Node, Degraded: rep.Degraded, Full: rep.Full, Views: rep.Views})
		}
		if apiAddr == "" {
			return fmt.Errorf("leader %s has no known API address yet", leaderID)
		}
		c, err := api.NewClient(apiAddr, hc)
		if err != nil {
			return err
		}
		return c.WithToken(peer.token).ReportViews(ctx, rep)
	}
	r.closeIdle = hc.CloseIdleConnections
	return r
}

// onFlip is the prober's flip callback: it queues the batch and returns.
func (r *reporter) onFlip(batch []probe.Verdict) {
	r.mu.Lock()
	for _, v := range batch {
		r.pending[v.Target] = toUpdate(v)
	}
	r.mu.Unlock()
	r.poke()
}

// onDegraded is the prober's degraded callback.
func (r *reporter) onDegraded(bool) {
	r.mu.Lock()
	r.degradedChanged = true
	r.mu.Unlock()
	r.poke()
}

func (r *reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run sends reports until ctx ends.
func (r *reporter) run(ctx context.Context) {
	if r.closeIdle != nil {
		defer r.closeIdle()
	}
	tick := time.NewTicker(leaderCheckEvery)
	defer tick.Stop()
	var (
		accepted string // the leader that accepted the last report; "": send Full
		backoff  time.Duration
		retry    <-chan time.Time // armed while waiting to retry
	)
	for {
		if retry == nil {
			leaderID, apiAddr := r.leader()
			full := accepted == "" || accepted != leaderID
			r.mu.Lock()
			has := len(r.pending) > 0 || r.degradedChanged
			r.mu.Unlock()
			if leaderID != "" && (full || has) {
				if err := r.report(ctx, leaderID, apiAddr, full); err != nil {
					if ctx.Err() != nil {
						return
					}
					accepted = ""
					backoff = min(max(2*backoff, r.retryMin), r.retryMax)
					wait := backoff + rand.N(backoff/2+1)
					r.log.Warn("view report failed; retrying with a full report", "leader", leaderID, "error", err, "retry_in", wait)
					retry = time.After(wait)
				} else {
					accepted, backoff = leaderID, 0
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		case <-retry:
			retry = nil
		}
	}
}

// report sends one report to leaderID: the pending flips, or with full
// every current verdict; always with the degraded flag.
func (r *reporter) report(ctx context.Context, leaderID, apiAddr string, full bool) error {
	r.mu.Lock()
	views := make([]policy.ViewUpdate, 0, len(r.pending))
	for _, v := range r.pending {
		views = append(views, v)
	}
	clear(r.pending)
	r.degradedChanged = false
	r.mu.Unlock()
	if full {
		// The current verdicts cover every flip taken above.
		vs := r.verdicts()
		views = make([]policy.ViewUpdate, len(vs))
		for i, v := range vs {
			views[i] = toUpdate(v)
		}
	} else {
		slices.SortFunc(views, func(a, b policy.ViewUpdate) int {
			return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Endpoint, b.Endpoint))
		})
	}
	degraded := r.degraded()
	rep := api.ViewReport{Node: r.nodeID, Degraded: &degraded, Full: full, Views: views}

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	err := r.send(ctx, leaderID, apiAddr, rep)
	r.mu.Lock()
	if err != nil {
		r.failed++
	} else {
		r.sent++
		if full {
			r.full++
		}
	}
	r.mu.Unlock()
	if err != nil {
		if errors.Is(err, cluster.ErrUnknownMember) || api.IsCode(err, api.CodeUnknownMember) {
			return fmt.Errorf("this node's join is not committed yet: %w", err)
		}
		return err
	}
	r.log.Debug("views reported", "leader", leaderID, "views", len(views), "full", full, "degraded", degraded,
		"took", time.Since(start))
	return nil
}

// ReportStats counts the view reports this daemon has sent.
type ReportStats struct {
	// Sent counts the reports the leader accepted, Full the full ones
	// among them; Failed the reports that failed (and were retried).
	Sent, Full, Failed int
}

// ReportStats returns the counters of the view reporter (zero before
// Start).
func (d *Daemon) ReportStats() ReportStats {
	d.mu.Lock()
	r := d.reporter
	d.mu.Unlock()
	if r == nil {
		return ReportStats{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReportStats{Sent: r.sent, Full: r.full, Failed: r.failed}
}

// followSpec gives the prober the spec of every new state until ctx ends.
func (d *Daemon) followSpec(ctx context.Context, node *cluster.Node, p *probe.Prober) {
	var bad *policy.Spec // the last spec Update refused, logged once
	for {
		st, changed := node.Watch()
		if st.Spec != bad {
			if err := p.Update(st.Spec); err != nil {
				bad = st.Spec
				d.log.Error("cannot probe the spec in force", "spec_version", st.SpecVersion, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
