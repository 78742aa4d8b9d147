package daemon

import (
	"log/slog"

	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/internal/metrics"
	"github.com/detour-dns/detour/probe"
)

// newMetrics builds the node's Prometheus registry, reading the cluster
// node (state and Raft) and the prober at scrape time. The Route 53
// source is added by setRoute53 once the publisher exists, since the
// publisher's client counts its requests in these metrics.
func newMetrics(nodeID string, node *cluster.Node, log *slog.Logger) (*metrics.Metrics, *metricSources, error) {
	src := &metricSources{node: node}
	m, err := metrics.New(metrics.Config{
		NodeID:  nodeID,
		State:   node,
		Raft:    metrics.RaftFunc(src.raftStatus),
		Probes:  metrics.ProbeFunc(src.probeSnapshot),
		Route53: metrics.Route53Func(src.route53Status),
		Logger:  log,
	})
	if err != nil {
		return nil, nil, err
	}
	return m, src, nil
}

// metricSources adapts the node's components to the metrics' source
// interfaces. prober and r53 are set once during Start, before the API
// (and so /metrics) serves; nil means "not running" and exports nothing.
type metricSources struct {
	node   *cluster.Node
	prober *probe.Prober
	r53    *route53Publisher
}

func (s *metricSources) raftStatus() metrics.RaftStatus {
	st := s.node.Status()
	return metrics.RaftStatus{Role: st.Role, Term: st.Term, CommitIndex: st.CommitIndex,
		AppliedIndex: st.AppliedIndex, LastLogIndex: st.LastLogIndex, LastContact: st.LastContact}
}

// probeSnapshot reads the prober's counters and, for every endpoint of
// the current spec, its local verdict and newest result.
func (s *metricSources) probeSnapshot() metrics.ProbeSnapshot {
	p := s.prober
	if p == nil {
		return metrics.ProbeSnapshot{}
	}
	stats := p.Stats()
	out := metrics.ProbeSnapshot{Probes: stats.Probes, Failures: stats.Failures, Skipped: stats.Skipped,
		InFlight: stats.InFlight, Degraded: p.Degraded()}
	st := s.node.State()
	if st == nil || st.Spec == nil {
		return out
	}
	views := p.Views()
	for i := range st.Spec.Pools {
		pool := &st.Spec.Pools[i]
		for _, ep := range pool.Endpoints {
			t := probe.Target{Pool: pool.Name, Endpoint: ep.Name}
			e := metrics.ProbeEndpoint{Pool: pool.Name, Endpoint: ep.Name, Healthy: views[t]}
			if rs := p.Results(t); len(rs) > 0 {
				last := rs[len(rs)-1]
				e.HasResult, e.LastOK, e.LastDuration = true, last.OK, last.Duration
			}
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	return out
}

func (s *metricSources) route53Status() []metrics.Route53Record {
	if s.r53 == nil {
		return nil
	}
	return s.r53.Route53Status()
}
