package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/metrics"
	"github.com/detour-dns/detour/route53"
)

// leaderPollInterval is how often the Route 53 publisher checks whether
// this node leads. The cluster has no leadership hook of its own; a new
// leader starts publishing within this interval, and a node that lost
// leadership stops within it (an old leader's batch in flight does no
// harm: every change is idempotent and the new leader reads back first).
const leaderPollInterval = 200 * time.Millisecond

// route53Publisher runs the Route 53 reconciler while this node leads,
// under a context cancelled when leadership is lost.
type route53Publisher struct {
	rec  *route53.Reconciler
	node *cluster.Node
	log  *slog.Logger
	// transport is the client's HTTP transport, closed at the end of run.
	transport *http.Transport
}

// newRoute53Publisher builds the SDK client and the reconciler from the
// runtime's route53 section (which must be enabled). It makes no network
// call. m, when not nil, counts every HTTP attempt; creds, when not nil,
// replaces the SDK's default credential chain.
func newRoute53Publisher(ctx context.Context, rt config.Route53, node *cluster.Node, m *metrics.Metrics,
	creds aws.CredentialsProvider, log *slog.Logger) (*route53Publisher, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var rtp http.RoundTripper = tr
	if m != nil {
		rtp = m.InstrumentRoute53(tr)
	}
	client, err := route53.NewSDKClient(ctx, route53.Options{
		Endpoint:    rt.Endpoint,
		Region:      rt.Region,
		Rate:        rt.Rate,
		Burst:       rt.Burst,
		MaxAttempts: rt.MaxAttempts,
		Credentials: creds,
		HTTPClient:  &http.Client{Transport: rtp},
	})
	if err != nil {
		return nil, fmt.Errorf("route53: %w", err)
	}
	rec, err := route53.New(route53.Config{
		Logger:         log,
		ResyncInterval: rt.ResyncInterval,
		PollInterval:   rt.PollInterval,
	}, client)
	if err != nil {
		return nil, fmt.Errorf("route53: %w", err)
	}
	return &route53Publisher{rec: rec, node: node, log: log.With("component", "route53"), transport: tr}, nil
}

// run publishes while this node leads, until ctx ends: it polls the
// node's leadership and runs the reconciler under a context that is
// cancelled when leadership is lost or ctx ends. It returns once the
// reconciler has stopped.
func (p *route53Publisher) run(ctx context.Context) {
	defer p.transport.CloseIdleConnections()
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	stop := func() {
		if cancel != nil {
			cancel()
			wg.Wait()
			cancel = nil
			p.log.Info("stopped publishing to Route 53")
		}
	}
	defer stop()
	t := time.NewTicker(leaderPollInterval)
	defer t.Stop()
	for {
		leads := p.node.IsLeader()
		switch {
		case leads && cancel == nil:
			cancel = p.lead(ctx, &wg)
		case !leads && cancel != nil:
			stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lead starts the reconciler under a context derived from ctx, counted in
// wg, and returns the function that cancels it.
func (p *route53Publisher) lead(ctx context.Context, wg *sync.WaitGroup) context.CancelFunc {
	lctx, cancel := context.WithCancel(ctx)
	p.log.Info("leading: publishing to Route 53")
	wg.Go(func() {
		if !p.caughtUp(lctx) {
			return
		}
		if err := p.rec.Run(lctx, p.node); err != nil {
			p.log.Error("route53 reconciler", "error", err)
		}
	})
	return cancel
}

// caughtUp waits until this new leader's state holds every entry of its
// log as of now (which ends with the no-op of its term), so that the first
// pass publishes current decisions rather than those of a lagging
// follower. It returns false when ctx ends first.
func (p *route53Publisher) caughtUp(ctx context.Context) bool {
	last := p.node.Status().LastLogIndex
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if p.node.Status().AppliedIndex >= last {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// Route53Records implements api.Route53Reader.
func (p *route53Publisher) Route53Records() []api.Route53Record {
	st := p.rec.Status()
	out := make([]api.Route53Record, len(st))
	for i, s := range st {
		out[i] = api.Route53Record{Pool: s.Pool, ZoneID: s.ZoneID, Name: s.Name, Type: s.Type, State: s.State,
			ChangeID: s.ChangeID, Since: s.Since, Message: s.Message, Messages: s.Messages, FailOpen: s.FailOpen,
			Changes: s.Changes}
	}
	return out
}

// Route53Status implements metrics.Route53Source.
func (p *route53Publisher) Route53Status() []metrics.Route53Record {
	st := p.rec.Status()
	out := make([]metrics.Route53Record, len(st))
	for i, s := range st {
		out[i] = metrics.Route53Record{Pool: s.Pool, Name: s.Name, Type: s.Type, State: s.State}
	}
	return out
}

var (
	_ api.Route53Reader     = (*route53Publisher)(nil)
	_ metrics.Route53Source = (*route53Publisher)(nil)
)
