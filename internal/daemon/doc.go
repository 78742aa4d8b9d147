// Package daemon wires a detour node together: from a config.Runtime it
// builds the cluster node, the DNS server and the admin API server,
// connects them through the interfaces those packages declare, joins an
// existing cluster when asked, runs until its context ends and stops
// everything in order.
//
// daemon may import every package of detour; only cmd/detour and the
// end-to-end tests import it.
package daemon
