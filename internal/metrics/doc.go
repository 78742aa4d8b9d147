// Package metrics exports a detour node's metrics in the Prometheus text
// format at /metrics.
//
// A Metrics value owns its own prometheus.Registry (nothing is registered
// globally). It is fed in two ways:
//
//   - Pushed on the hot paths: ObserveQuery implements dnsserver's Metrics
//     hook (one observation per DNS reply, no allocation once a label triple
//     has been seen), ObserveProbe records one probe result, ObserveApply
//     one Raft apply, and InstrumentRoute53 wraps the HTTP transport of the
//     Route 53 client to count every attempt (retries included) by
//     operation and outcome (ok, throttled, error).
//   - Read at scrape time from small interfaces declared here: StateSource
//     (effective health, fail-open pools, overrides, degraded nodes),
//     RaftSource (role, term, indexes, last contact), ProbeSource (local
//     verdicts, last result per endpoint, probe counters) and
//     Route53Source (sync state of every published name). Each is
//     optional; a nil source exports nothing for its part.
//
// metrics imports policy and no other package of detour: internal/daemon
// adapts cluster.Node, probe.Prober and route53.Reconciler to the source
// interfaces (RaftFunc, ProbeFunc and Route53Func make each adapter a
// closure) and hands the Metrics value to dnsserver.Config.Metrics.
//
// Metric names all start with detour_; docs/operations.md lists them and
// deploy/grafana/detour.json charts them.
package metrics
