package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/cluster"
	"github.com/detour-dns/detour/policy"
)

// apiCluster adapts *cluster.Node to api.Cluster, translating types and
// errors.
type apiCluster struct {
	node *cluster.Node
	// apply observes the latency of the successful Raft writes made
	// through the adapter (nil: none); see observe in wiring.go.
	apply func(time.Duration)
}

var _ api.Cluster = apiCluster{}

// Status implements api.StatusReader.
func (a apiCluster) Status() api.Status {
	s := a.node.Status()
	return api.Status{
		NodeID:        s.NodeID,
		Region:        s.Region,
		Role:          s.Role,
		LeaderID:      s.LeaderID,
		LeaderAPIAddr: s.LeaderAPIAddr,
		Term:          s.Term,
		AppliedIndex:  s.AppliedIndex,
		CommitIndex:   s.CommitIndex,
		LastLogIndex:  s.LastLogIndex,
		SpecVersion:   s.SpecVersion,
		ClusterID:     s.ClusterID,
		LastContact:   s.LastContact,
	}
}

// Members implements api.StatusReader.
func (a apiCluster) Members(ctx context.Context) ([]api.Member, error) {
	ms, err := a.node.Members(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		out[i] = api.Member{ID: m.ID, Region: m.Region, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, Voter: m.Voter, Leader: m.Leader}
	}
	return out, nil
}

// State implements api.StateReader.
func (a apiCluster) State() *policy.State { return a.node.State() }

// ApplySpec implements api.SpecWriter.
func (a apiCluster) ApplySpec(ctx context.Context, spec *policy.Spec) (uint64, error) {
	start := time.Now()
	v, err := a.node.ApplySpec(ctx, spec)
	a.observe(start, err)
	return v, mapErr(err)
}

// Join implements api.MembershipWriter.
func (a apiCluster) Join(ctx context.Context, r api.JoinRequest) error {
	return mapErr(a.node.Join(ctx, cluster.JoinRequest{ID: r.ID, RaftAddr: r.RaftAddr, APIAddr: r.APIAddr,
		Region: r.Region, ClusterID: r.ClusterID, NonVoter: r.NonVoter}))
}

// Remove implements api.MembershipWriter.
func (a apiCluster) Remove(ctx context.Context, id string) error {
	return mapErr(a.node.Remove(ctx, id))
}

// TransferLeadership implements api.MembershipWriter.
func (a apiCluster) TransferLeadership(ctx context.Context, id string) error {
	return mapErr(a.node.TransferLeadership(ctx, id))
}

// mappedError keeps the cluster's message and makes errors.Is match the
// api sentinel as well as the original error.
type mappedError struct {
	kind, err error
}

func (m *mappedError) Error() string   { return m.err.Error() }
func (m *mappedError) Unwrap() []error { return []error{m.kind, m.err} }

// mapErr translates cluster errors into the api package's errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if nl, ok := errors.AsType[*cluster.NotLeaderError](err); ok {
		return &api.NotLeaderError{LeaderID: nl.LeaderID, LeaderAPIAddr: nl.LeaderAPIAddr}
	}
	for _, m := range []struct{ from, to error }{
		{cluster.ErrNotLeader, api.ErrNotLeader},
		{cluster.ErrNoQuorum, api.ErrNoQuorum},
		{cluster.ErrNodeIDTaken, api.ErrNodeIDTaken},
		{cluster.ErrAddrTaken, api.ErrAddrTaken},
		{cluster.ErrWrongCluster, api.ErrWrongCluster},
		{cluster.ErrUnknownMember, api.ErrUnknownMember},
		{cluster.ErrClosed, api.ErrUnavailable},
	} {
		if errors.Is(err, m.from) {
			return &mappedError{kind: m.to, err: err}
		}
	}
	return err
}

var (
	_ api.OverrideWriter = apiCluster{}
	_ api.StateWatcher   = apiCluster{}
)

// Watch implements api.StateWatcher.
func (a apiCluster) Watch() (*policy.State, <-chan struct{}) { return a.node.Watch() }

// SetOverride implements api.OverrideWriter.
func (a apiCluster) SetOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	var (
		res policy.OverrideResult
		err error
	)
	switch r.Kind {
	case policy.OverridePin:
		res, err = a.node.SetPin(ctx, cluster.PinRequest{Pool: r.Pool, Endpoint: r.Endpoint, Actor: r.Actor,
			Reason: r.Reason, ExpiresIn: r.ExpiresIn, RequireHealthy: r.RequireHealthy})
	case policy.OverrideDrain:
		res, err = a.node.SetDrain(ctx, cluster.DrainRequest{Pool: r.Pool, Endpoint: r.Endpoint, Actor: r.Actor,
			Reason: r.Reason, ExpiresIn: r.ExpiresIn, Force: r.Force})
	case policy.OverrideForce:
		res, err = a.node.SetForce(ctx, cluster.ForceRequest{Pool: r.Pool, Endpoint: r.Endpoint, State: r.State,
			Actor: r.Actor, Reason: r.Reason, ExpiresIn: r.ExpiresIn, Force: r.Force})
	default:
		return res, fmt.Errorf("set override: unknown kind %q: %w", r.Kind, policy.ErrBadOverride)
	}
	return res, mapErr(err)
}

// ClearOverride implements api.OverrideWriter.
func (a apiCluster) ClearOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	req := cluster.ReleaseRequest{Pool: r.Pool, Endpoint: r.Endpoint, Actor: r.Actor, Reason: r.Reason}
	var (
		res policy.OverrideResult
		err error
	)
	switch r.Kind {
	case policy.OverridePin:
		res, err = a.node.ReleasePin(ctx, req)
	case policy.OverrideDrain:
		res, err = a.node.ClearDrain(ctx, req)
	case policy.OverrideForce:
		res, err = a.node.ClearForce(ctx, req)
	default:
		return res, fmt.Errorf("clear override: unknown kind %q: %w", r.Kind, policy.ErrBadOverride)
	}
	return res, mapErr(err)
}

// Failback implements api.OverrideWriter.
func (a apiCluster) Failback(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	start := time.Now()
	res, err := a.node.Failback(ctx, cluster.FailbackRequest{Pool: r.Pool, Actor: r.Actor, Reason: r.Reason})
	a.observe(start, err)
	return res, mapErr(err)
}
