package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// raftRoles are the roles exported as detour_raft_role (one series each,
// 1 for the current role).
var raftRoles = []string{"leader", "follower", "candidate", "shutdown"}

// route53States are the sync states always exported by
// detour_route53_records, so that a state with no name reads 0.
var route53States = []string{"unknown", "in_sync", "pending", "error", "refused"}

// overrideKinds are the override kinds always exported by
// detour_overrides_active.
var overrideKinds = []string{"pin", "drain", "force"}

// scrapeCollector reads the sources of a Config when Prometheus scrapes.
type scrapeCollector struct {
	cfg Config
	now func() time.Time

	specVersion, stateIndex, epHealthy, epProbeHealthy, poolAllDown, overrides, degraded *prometheus.Desc

	raftRole, raftTerm, raftCommit, raftApplied, raftLastLog, raftContact *prometheus.Desc

	probeRuns, probeFailures, probeSkipped, probeInFlight, probeDegraded *prometheus.Desc
	localHealthy, lastOK, lastDuration                                   *prometheus.Desc

	r53Records, r53InSync *prometheus.Desc
}

func newScrapeCollector(cfg Config) *scrapeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &scrapeCollector{
		cfg: cfg,
		now: time.Now,

		specVersion:    d("detour_spec_version", "Number of specs applied so far (0: none)."),
		stateIndex:     d("detour_state_index", "Raft index of the last command applied to the state this node serves."),
		epHealthy:      d("detour_endpoint_healthy", "Effective health of an endpoint (1 healthy), what DNS answers follow.", "pool", "endpoint"),
		epProbeHealthy: d("detour_endpoint_probe_healthy", "What the nodes' committed probe views alone say of an endpoint (1 healthy), before overrides.", "pool", "endpoint"),
		poolAllDown:    d("detour_pool_all_down", "1 when no endpoint of the pool is healthy and the pool answers by its when_all_down setting (fail open or NODATA).", "pool"),
		overrides:      d("detour_overrides_active", "Operator overrides in force, by kind.", "kind"),
		degraded:       d("detour_nodes_degraded", "Nodes that reported themselves degraded (their views do not count)."),

		raftRole:    d("detour_raft_role", "1 for this node's current Raft role.", "role"),
		raftTerm:    d("detour_raft_term", "Current Raft term."),
		raftCommit:  d("detour_raft_commit_index", "Last Raft index known to be committed."),
		raftApplied: d("detour_raft_applied_index", "Last Raft index applied to the state."),
		raftLastLog: d("detour_raft_last_log_index", "Last Raft index stored in the log."),
		raftContact: d("detour_raft_last_contact_seconds", "Seconds since a follower last heard from its leader (0 on the leader; absent when never)."),

		probeRuns:     d("detour_probes_total", "Probes finished by this node."),
		probeFailures: d("detour_probe_failures_total", "Probes failed on this node."),
		probeSkipped:  d("detour_probe_skipped_total", "Probe turns skipped (previous probe not finished or no slot free)."),
		probeInFlight: d("detour_probes_in_flight", "Probes running now."),
		probeDegraded: d("detour_node_degraded", "1 when every canary of this node fails."),
		localHealthy:  d("detour_endpoint_local_healthy", "This node's local verdict of an endpoint after rise/fall (1 healthy).", "pool", "endpoint", "node"),
		lastOK:        d("detour_probe_last_success", "1 when the newest probe of an endpoint by this node passed.", "pool", "endpoint", "node"),
		lastDuration:  d("detour_probe_last_duration_seconds", "Duration of the newest probe of an endpoint by this node.", "pool", "endpoint", "node"),

		r53Records: d("detour_route53_records", "Published Route 53 names by sync state (only the leader publishes).", "state"),
		r53InSync:  d("detour_route53_record_in_sync", "1 when a published name is in sync with Route 53.", "pool", "name", "type"),
	}
}

// Describe sends every descriptor.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.specVersion, c.stateIndex, c.epHealthy, c.epProbeHealthy, c.poolAllDown, c.overrides, c.degraded,
		c.raftRole, c.raftTerm, c.raftCommit, c.raftApplied, c.raftLastLog, c.raftContact,
		c.probeRuns, c.probeFailures, c.probeSkipped, c.probeInFlight, c.probeDegraded,
		c.localHealthy, c.lastOK, c.lastDuration, c.r53Records, c.r53InSync,
	} {
		ch <- d
	}
}

// Collect reads every configured source once.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.cfg.State != nil {
		c.collectState(ch)
	}
	if c.cfg.Raft != nil {
		c.collectRaft(ch)
	}
	if c.cfg.Probes != nil {
		c.collectProbes(ch)
	}
	if c.cfg.Route53 != nil {
		c.collectRoute53(ch)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *scrapeCollector) collectState(ch chan<- prometheus.Metric) {
	st := c.cfg.State.State()
	if st == nil {
		return
	}
	gauge(ch, c.specVersion, float64(st.SpecVersion))
	gauge(ch, c.stateIndex, float64(st.Index))
	gauge(ch, c.degraded, float64(len(st.Degraded)))
	kinds := map[string]int{}
	for _, o := range st.Overrides() {
		kinds[o.Kind]++
	}
	for _, k := range overrideKinds {
		gauge(ch, c.overrides, float64(kinds[k]), k)
	}
	if st.Spec == nil {
		return
	}
	for i := range st.Spec.Pools {
		p := &st.Spec.Pools[i]
		for _, ep := range p.Endpoints {
			gauge(ch, c.epHealthy, b2f(st.EndpointHealthy(p.Name, ep.Name)), p.Name, ep.Name)
			gauge(ch, c.epProbeHealthy, b2f(st.ProbeHealthy(p.Name, ep.Name)), p.Name, ep.Name)
		}
		gauge(ch, c.poolAllDown, b2f(st.PoolAnswer(p).AllDown), p.Name)
	}
}

func (c *scrapeCollector) collectRaft(ch chan<- prometheus.Metric) {
	rs := c.cfg.Raft.RaftStatus()
	for _, r := range raftRoles {
		gauge(ch, c.raftRole, b2f(rs.Role == r), r)
	}
	gauge(ch, c.raftTerm, float64(rs.Term))
	gauge(ch, c.raftCommit, float64(rs.CommitIndex))
	gauge(ch, c.raftApplied, float64(rs.AppliedIndex))
	gauge(ch, c.raftLastLog, float64(rs.LastLogIndex))
	switch {
	case rs.Role == "leader":
		gauge(ch, c.raftContact, 0)
	case !rs.LastContact.IsZero():
		gauge(ch, c.raftContact, max(0, c.now().Sub(rs.LastContact).Seconds()))
	}
}

func (c *scrapeCollector) collectProbes(ch chan<- prometheus.Metric) {
	ps := c.cfg.Probes.ProbeSnapshot()
	counter(ch, c.probeRuns, float64(ps.Probes))
	counter(ch, c.probeFailures, float64(ps.Failures))
	counter(ch, c.probeSkipped, float64(ps.Skipped))
	gauge(ch, c.probeInFlight, float64(ps.InFlight))
	gauge(ch, c.probeDegraded, b2f(ps.Degraded))
	node := c.cfg.NodeID
	for _, e := range ps.Endpoints {
		gauge(ch, c.localHealthy, b2f(e.Healthy), e.Pool, e.Endpoint, node)
		if e.HasResult {
			gauge(ch, c.lastOK, b2f(e.LastOK), e.Pool, e.Endpoint, node)
			gauge(ch, c.lastDuration, e.LastDuration.Seconds(), e.Pool, e.Endpoint, node)
		}
	}
}

func (c *scrapeCollector) collectRoute53(ch chan<- prometheus.Metric) {
	recs := c.cfg.Route53.Route53Status()
	states := map[string]int{}
	for _, r := range recs {
		states[r.State]++
		gauge(ch, c.r53InSync, b2f(r.State == "in_sync"), r.Pool, r.Name, r.Type)
	}
	for _, s := range route53States {
		gauge(ch, c.r53Records, float64(states[s]), s)
		delete(states, s)
	}
	for s, n := range states { // a state added after this list
		gauge(ch, c.r53Records, float64(n), s)
	}
}
