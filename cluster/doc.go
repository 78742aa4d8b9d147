// Package cluster is detour's Raft node: it replicates the declarative spec
// and the cluster's membership between the nodes of one cluster and
// publishes the result as an immutable *policy.State.
//
// A Node wraps hashicorp/raft with a bbolt log and stable store, a file
// snapshot store and a TCP transport, all under one data directory. Its
// finite state machine applies typed, numbered commands (see DESIGN.md for
// the command table) copy-on-write and publishes every new State through an
// atomic pointer; readers call State or Watch and never take a lock.
//
// Writes (ApplySpec, Join, Remove, TransferLeadership) go to the leader.
// On a follower they return a *NotLeaderError naming the leader's API
// address, which the api package uses to forward the request. Every write
// is bounded by its context and by Config.ApplyTimeout: a write that the
// cluster cannot commit in time returns an error wrapping ErrNoQuorum.
//
// The Raft stores are guarded: an operation on the log or stable store that
// fails or does not return within Config.StoreTimeout gives an error
// wrapping ErrStorage, and a leader whose disk fails steps down. At start,
// a corrupt newest snapshot falls back to the older one when the log can
// replay from it, and the start fails with a clear error otherwise.
//
// cluster imports policy and internal/logging and no other detour package;
// api and dnsserver declare the small interfaces they need and
// internal/daemon connects them to a *Node.
package cluster
