package api

import (
	"time"

	"github.com/detour-dns/detour/policy"
)

// Status is what GET /v1/status reports about the node that answers.
type Status struct {
	NodeID string `json:"node_id"`
	Region string `json:"region,omitempty"`
	// Role is leader, follower, candidate or shutdown.
	Role string `json:"role"`
	// LeaderID and LeaderAPIAddr name the current leader; empty while none
	// is known.
	LeaderID      string `json:"leader_id,omitempty"`
	LeaderAPIAddr string `json:"leader_api_addr,omitempty"`
	Term          uint64 `json:"term"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"`
	LastLogIndex  uint64 `json:"last_log_index"`
	// SpecVersion counts the specs applied so far (0: none yet).
	SpecVersion uint64 `json:"spec_version"`
	// ClusterID is empty until the node knows which cluster it is in.
	ClusterID string `json:"cluster_id,omitempty"`
	// LastContact is when a follower last heard from the leader.
	LastContact time.Time `json:"last_contact,omitzero"`
	// Version is the detour build answering.
	Version string `json:"version,omitempty"`
	// Degraded reports that every probe canary of this node is failing:
	// its views do not count.
	Degraded bool `json:"degraded"`
	// Pools and Endpoints count the spec's pools and endpoints;
	// EndpointsDown the endpoints that are effectively unhealthy;
	// PoolsAllDown the pools answering by their when_all_down rule.
	Pools         int `json:"pools"`
	Endpoints     int `json:"endpoints"`
	EndpointsDown int `json:"endpoints_down"`
	PoolsAllDown  int `json:"pools_all_down"`
	// Overrides counts the operator overrides in force (pins, drains,
	// forces); PoolsHeld the failover pools held on a worse tier by a
	// gated failback.
	Overrides int `json:"overrides"`
	PoolsHeld int `json:"pools_held"`
	// DegradedNodes lists the nodes that reported themselves degraded.
	DegradedNodes []string `json:"degraded_nodes,omitempty"`
}

// Member is one node of the cluster as GET /v1/members reports it.
type Member struct {
	ID       string `json:"id"`
	Region   string `json:"region,omitempty"`
	RaftAddr string `json:"raft_addr"`
	// APIAddr is the base URL of the member's admin API.
	APIAddr string `json:"api_addr,omitempty"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
}

// JoinRequest is the body of POST /v1/members: a node asking to be added to
// the cluster. ClusterID, when set, must match the cluster's.
type JoinRequest struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_addr"`
	APIAddr   string `json:"api_addr,omitempty"`
	Region    string `json:"region,omitempty"`
	ClusterID string `json:"cluster_id,omitempty"`
	NonVoter  bool   `json:"non_voter,omitempty"`
}

// TransferRequest is the optional body of POST /v1/leadership/transfer; an
// empty ID lets the leader pick any voter.
type TransferRequest struct {
	ID string `json:"id,omitempty"`
}

// SpecDocument is the JSON form of GET /v1/spec.
type SpecDocument struct {
	// Version is the spec version (0 when no spec was applied).
	Version uint64 `json:"version"`
	// Index is the Raft index at which the spec was applied.
	Index uint64       `json:"index,omitempty"`
	Spec  *policy.Spec `json:"spec"`
}

// ApplyResult is the answer to PUT /v1/spec.
type ApplyResult struct {
	// Version is the new spec version, or for a dry run the current one.
	Version uint64 `json:"version"`
	// DryRun is true when nothing was applied.
	DryRun bool `json:"dry_run"`
	// Changes is the difference between the spec in force before the
	// request and the one sent.
	Changes []policy.Change `json:"changes"`
}
