package daemon

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/internal/metrics"
	"github.com/detour-dns/detour/probe"
)

// Route53Options are the daemon's Route 53 inputs that do not come from
// the config file.
type Route53Options struct {
	// Credentials replace the AWS SDK's default credential chain when
	// set (the demo and tests give static ones for the stand-in); nil
	// uses the chain (environment, shared files, instance role).
	Credentials aws.CredentialsProvider
}

// wiring holds the parts Start connects around the core components: the
// metrics registry (fed by the DNS server, the cluster, the prober and the
// Route 53 client) and the leader-only Route 53 publisher.
type wiring struct {
	metrics *metrics.Metrics
	sources *metricSources
	// r53 is nil when Route 53 mode is off on this node.
	r53 *route53Publisher
}

// newWiring builds the metrics and, when the config enables Route 53
// mode, the publisher (no network call). It starts nothing.
func (d *Daemon) newWiring(ctx context.Context, node *cluster.Node) (*wiring, error) {
	m, src, err := newMetrics(d.rt.NodeID, node, d.log)
	if err != nil {
		return nil, err
	}
	w := &wiring{metrics: m, sources: src}
	if d.rt.Route53.Enabled {
		p, err := newRoute53Publisher(ctx, d.rt.Route53, node, m, d.opts.Route53.Credentials, d.log)
		if err != nil {
			return nil, err
		}
		w.r53, src.r53 = p, p
		d.log.Info("route53 mode on", "settings", d.rt.Route53.String())
	}
	return w, nil
}

// setProber makes the prober's state visible in the metrics.
func (w *wiring) setProber(p *probe.Prober) { w.sources.prober = p }

// observeProbe counts one finished probe in the metrics (probe.Config's
// OnResult).
func (w *wiring) observeProbe(t probe.Target, r probe.Result) {
	w.metrics.ObserveProbe(t.Pool, t.Endpoint, r.OK, r.Duration)
}

// metricsHandler returns the /metrics handler.
func (w *wiring) metricsHandler() http.Handler { return w.metrics.Handler() }

// route53Reader returns the publisher for GET /v1/route53, or a nil
// interface when Route 53 mode is off.
func (w *wiring) route53Reader() api.Route53Reader {
	if w.r53 == nil {
		return nil
	}
	return w.r53
}

// start runs the publisher (when enabled) until ctx ends, counted in wg.
func (w *wiring) start(ctx context.Context, wg *sync.WaitGroup) {
	if w.r53 == nil {
		return
	}
	wg.Go(func() { w.r53.run(ctx) })
}

// Metrics returns the node's metrics (nil before Start), for tests and
// diagnostics.
func (d *Daemon) Metrics() *metrics.Metrics {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.wiring == nil {
		return nil
	}
	return d.wiring.metrics
}

// Route53Records returns the sync state of every name this node publishes
// to Route 53: empty while it does not lead or when Route 53 mode is off.
func (d *Daemon) Route53Records() []api.Route53Record {
	d.mu.Lock()
	w := d.wiring
	d.mu.Unlock()
	if w == nil || w.r53 == nil {
		return nil
	}
	return w.r53.Route53Records()
}

// observe records the latency of a successful Raft write made through a
// (on a follower the write fails with "not leader" and is not counted:
// the leader that it is forwarded to counts it).
func (a apiCluster) observe(start time.Time, err error) {
	if a.apply != nil && err == nil {
		a.apply(time.Since(start))
	}
}
