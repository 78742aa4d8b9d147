// Package api is detour's admin HTTP API and the Go client that the CLI
// uses to talk to it.
//
// The server exposes the node's status and membership, accepts specs
// (PUT /v1/spec, with a dry run that only returns the diff), joins and
// removes members and transfers leadership. Every error is a JSON object
// {"error": {"code", "message", "details"}} with a fitting status code. A
// write that reaches a follower is forwarded to the leader's API, marked
// with a header so that it is never forwarded twice.
//
// api imports only policy. It declares the small interfaces it needs from
// the replicated node (StatusReader, StateReader, SpecWriter,
// MembershipWriter) and the errors those may return (ErrNoQuorum,
// *NotLeaderError, ...); internal/daemon adapts the cluster node to them.
package api
