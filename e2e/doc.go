// Package e2e holds end-to-end tests that build the detour binary and run
// it as separate processes on 127.0.0.1: three "detour server" nodes
// driven through the CLI and the admin API, with a killed leader and a
// restart of every node from disk; and the example spec probed at local
// HTTP backends on 127.0.0.11-13:18080 that fail, hang, stop or refuse one
// node (failover, agreement, weighted and multivalue answers), with the
// failover convergence benchmark; and operator control with API tokens
// (manual failover through a follower, expiry, 401 and 403, a refused
// unsafe drain, gated failback, overrides across a restart). The tests are
// skipped with -short.
package e2e
