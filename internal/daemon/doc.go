// Package daemon wires a detour node together: from a config.Runtime it
// builds the cluster node, the DNS server, the health prober and the admin
// API server, connects them through the interfaces those packages declare,
// joins an existing cluster when asked, runs until its context ends and
// stops everything in order.
//
// The prober follows the spec of every new state. Its verdicts reach the
// leader through a reporter: each batch of flips becomes one report (one
// Raft entry), sent to the local cluster node when this node leads and to
// the leader's API (POST /v1/views) otherwise; after a leader change, at
// start and after a failed report the node's whole view set is sent
// instead. Reports are retried with backoff and never block the prober.
//
// Every node has a Prometheus registry (internal/metrics) served at
// /metrics on the API listener: the DNS server, the prober and the API's
// Raft writes push into it, and the cluster node, the prober and the
// Route 53 publisher are read at scrape time. With route53.enabled in the
// node config, the node runs the Route 53 reconciler while it leads: it
// checks its leadership every 200 ms, waits until its state holds its
// whole log, and runs the reconciler under a context cancelled when
// leadership goes (wiring.go, route53.go).
//
// daemon may import every package of detour; only cmd/detour and the
// end-to-end tests import it.
package daemon
