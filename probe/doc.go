// Package probe runs detour's health checks and turns their results into
// this node's own verdicts about every endpoint.
//
// A Prober reads the pools of a policy.Spec (Update), probes every endpoint
// on its check's interval (Run), keeps the last results of each endpoint as
// evidence (Results), and decides a local verdict with rise/fall
// hysteresis: an endpoint becomes healthy after Check.Rise successes in a
// row and unhealthy after Check.Fall failures in a row. Each change of a
// verdict is a flip. A lone flip is delivered to the caller at once; flips
// that follow within Config.FlipWindow are delivered together as one
// batch, so that the cluster can commit a regional outage in a few log
// entries. Until an endpoint has had Rise successes or Fall
// failures in a row, this node has no verdict for it: it is absent from
// Views and no flip has been delivered for it.
//
// Checks are http, https, tcp and dns. Every probe opens a fresh
// connection, so it measures real reachability, and every probe is bounded
// by the check's timeout. Response bodies are read up to Config.BodyLimit;
// a longer body fails the probe. Where a probe goes:
//
//   - check_url (http or https checks): that URL.
//   - check_address: that host or host:port.
//   - target (a hostname): the hostname, resolved by the system resolver.
//   - addresses: every address, one after the other within one timeout;
//     the probe succeeds only when every address passes (an endpoint's
//     addresses are all answered to clients, so all of them must work).
//
// The Host header and the TLS server name are the check's host, or the
// check_url's host, or else the pool's name (the name clients use).
//
// Zero fields of a policy.Check (a spec that skipped policy.Normalize) get
// policy's defaults (policy.DefaultCheckInterval, DefaultCheckTimeout but
// at most half the interval, DefaultRise, DefaultFall, DefaultCheckPort,
// DefaultExpectStatus, ...). A tcp check needs a port, a dns check a
// query.
//
// The scheduler spreads the first probe of each check over its interval,
// then keeps each check on its own cadence. At most Config.Concurrency
// probes run at once; a due probe waits for a free slot. A check never
// overlaps itself: a turn that comes while its previous probe is still
// running or waiting for a slot is skipped, as are the turns a scheduler
// that fell behind has missed; Stats counts them.
//
// For the cluster: the flip callback gets batches of Verdicts to commit as
// this node's views; Verdicts (or Views) gives the whole current view to
// resend after a leader change; Results gives the evidence for the API.
//
// Canaries (Config.Canaries) are tcp addresses this node should always
// reach. When every canary has failed twice in a row the prober is
// degraded: its own network is probably broken, so the caller should stop
// counting its views. The prober keeps probing and reporting flips; the
// decision to abstain belongs to the caller.
//
// probe imports policy and nothing else of detour. It knows nothing about
// Raft or DNS serving: the wiring passes flips to the cluster.
package probe
