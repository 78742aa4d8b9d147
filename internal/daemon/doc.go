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
// daemon may import every package of detour; only cmd/detour and the
// end-to-end tests import it.
package daemon
