package metrics

import (
	"time"

	"github.com/detour-dns/detour/policy"
)

// StateSource gives the node's current replicated state; cluster.Node
// satisfies it. State returns nil before the first state is restored.
type StateSource interface {
	State() *policy.State
}

// RaftStatus is what the metrics read of the node's Raft server.
type RaftStatus struct {
	// Role is leader, follower, candidate or shutdown.
	Role string
	// Term is the current term.
	Term uint64
	// CommitIndex, AppliedIndex and LastLogIndex are Raft's indexes.
	CommitIndex, AppliedIndex, LastLogIndex uint64
	// LastContact is when a follower last heard from its leader (the
	// zero time when it never did); a leader reports the current time.
	LastContact time.Time
}

// RaftSource gives the node's Raft status.
type RaftSource interface {
	RaftStatus() RaftStatus
}

// RaftFunc adapts a function to RaftSource.
type RaftFunc func() RaftStatus

// RaftStatus calls f.
func (f RaftFunc) RaftStatus() RaftStatus { return f() }

// ProbeEndpoint is this node's view of one probed endpoint.
type ProbeEndpoint struct {
	// Pool and Endpoint name the endpoint as in the spec.
	Pool, Endpoint string
	// Healthy is the node's local verdict (after rise/fall).
	Healthy bool
	// HasResult reports that at least one probe finished; LastOK and
	// LastDuration describe the newest result.
	HasResult    bool
	LastOK       bool
	LastDuration time.Duration
}

// ProbeSnapshot is the prober's state at one moment.
type ProbeSnapshot struct {
	// Probes and Failures count finished and failed probes since start.
	Probes, Failures uint64
	// Skipped counts turns skipped because the previous probe of the same
	// check had not finished or no slot was free.
	Skipped uint64
	// InFlight is the number of probes running.
	InFlight int64
	// Degraded reports that every canary fails (the node's views do not
	// count).
	Degraded bool
	// Endpoints holds one entry per probed endpoint (canaries excluded).
	Endpoints []ProbeEndpoint
}

// ProbeSource gives the node's prober state.
type ProbeSource interface {
	ProbeSnapshot() ProbeSnapshot
}

// ProbeFunc adapts a function to ProbeSource.
type ProbeFunc func() ProbeSnapshot

// ProbeSnapshot calls f.
func (f ProbeFunc) ProbeSnapshot() ProbeSnapshot { return f() }

// Route53Record is the sync state of one published name and type.
type Route53Record struct {
	Pool, Name, Type string
	// State is unknown, in_sync, pending, error or refused (the route53
	// package's State constants).
	State string
}

// Route53Source gives the Route 53 reconciler's per-name states; it is
// empty on a node that does not lead.
type Route53Source interface {
	Route53Status() []Route53Record
}

// Route53Func adapts a function to Route53Source.
type Route53Func func() []Route53Record

// Route53Status calls f.
func (f Route53Func) Route53Status() []Route53Record { return f() }
