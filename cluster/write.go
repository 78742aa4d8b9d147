package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

// writeCtx bounds a write by the ApplyTimeout as well as by ctx.
func (n *Node) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.ApplyTimeout)
}

// remaining returns the time left before ctx's deadline (at least 1 ms),
// for raft calls that take a timeout.
func remaining(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0 // no timeout
	}
	return max(time.Until(d), time.Millisecond)
}

// leaderRaft returns the node's Raft when this node is the leader. When
// another node leads, it returns a *NotLeaderError. While no leader is
// known it waits for one until ctx is done and then returns an error
// wrapping ErrNoQuorum.
func (n *Node) leaderRaft(ctx context.Context) (*raft.Raft, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := n.running()
		if err != nil {
			return nil, err
		}
		if r.State() == raft.Leader {
			return r, nil
		}
		if _, id := r.LeaderWithID(); id != "" && string(id) != n.cfg.NodeID {
			return nil, n.notLeader(string(id))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no leader elected (%w)", ErrNoQuorum, ctx.Err())
		case <-tick.C:
		}
	}
}

// notLeader returns the error for a write sent to a follower of leaderID.
func (n *Node) notLeader(leaderID string) *NotLeaderError {
	return &NotLeaderError{LeaderID: leaderID, LeaderAPIAddr: n.fsm.applied().Members[leaderID].APIAddr}
}

// writeErr maps an error of a raft future to ours, prefixed with op.
func (n *Node) writeErr(op string, err error) error {
	switch {
	case errors.Is(err, ErrStorage):
		return fmt.Errorf("%s: %w: this node could not write the entry and stepped down as leader: %w", op, ErrNoQuorum, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w: not committed in time (apply timeout %v): %w", op, ErrNoQuorum, n.cfg.ApplyTimeout, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%s: %w: not committed: %w", op, ErrNoQuorum, err)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		id := ""
		if r, rerr := n.running(); rerr == nil {
			_, sid := r.LeaderWithID()
			id = string(sid)
		}
		if id == "" || id == n.cfg.NodeID {
			// Leadership is moving and nobody else leads yet: pointing
			// the caller at this node would send it in a circle.
			return fmt.Errorf("%s: %w: leadership is changing (%w)", op, ErrNoQuorum, err)
		}
		return fmt.Errorf("%s: %w", op, n.notLeader(id))
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%s: %w", op, ErrClosed)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// propose commits a command through this node, which must be the leader,
// and returns the FSM's response. The caller's ctx should already be
// bounded by writeCtx.
func (n *Node) propose(ctx context.Context, op string, t msgType, payload any) (any, error) {
	data, err := encodeCommand(t, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	r, err := n.leaderRaft(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	f := r.Apply(data, remaining(ctx))
	if err := waitFuture(ctx, f); err != nil {
		return nil, n.writeErr(op, err)
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// ApplySpec replicates spec, which the caller has validated, and returns
// the spec version it became. It must run on the leader (a follower
// returns a *NotLeaderError) and returns an error wrapping ErrNoQuorum when
// the spec is not committed within ctx and the ApplyTimeout. spec is
// encoded before ApplySpec returns; the caller keeps ownership of it.
func (n *Node) ApplySpec(ctx context.Context, spec *policy.Spec) (version uint64, err error) {
	if spec == nil {
		return 0, errors.New("apply spec: no spec given")
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	resp, err := n.propose(ctx, "apply spec", applySpecType, applySpecCmd{Spec: spec, At: time.Now()})
	if err != nil {
		return 0, err
	}
	res, ok := resp.(specResult)
	if !ok {
		return 0, fmt.Errorf("apply spec: unexpected FSM response %T", resp)
	}
	return res.Version, nil
}

// JoinRequest asks the leader to add a node to the cluster.
type JoinRequest struct {
	// ID and RaftAddr are required: the node's ID and the Raft address
	// it advertises.
	ID, RaftAddr string
	// APIAddr and Region are recorded in State.Members.
	APIAddr, Region string
	// ClusterID, when set, must match this cluster's ID: a node that
	// already belongs to another cluster is refused.
	ClusterID string
	// NonVoter adds the node without a vote (a read replica).
	NonVoter bool
}

// Join adds a node to the cluster and records its region and API address.
// It runs on the leader only. Joining again with the same ID and address
// succeeds without changing the Raft configuration (and updates region
// and API address); the same ID at another address returns an error
// wrapping ErrNodeIDTaken, another ID at a member's address ErrAddrTaken,
// and a ClusterID other than this cluster's ErrWrongCluster.
func (n *Node) Join(ctx context.Context, req JoinRequest) error {
	op := fmt.Sprintf("join %s at %s", req.ID, req.RaftAddr)
	if req.ID == "" || req.RaftAddr == "" {
		return fmt.Errorf("join: node id and raft address are required (got id %q, raft address %q)", req.ID, req.RaftAddr)
	}
	host, port, err := splitHostPort(req.RaftAddr)
	switch {
	case err != nil:
		return fmt.Errorf("%s: raft address: %w", op, err)
	case unspecified(host) || port == 0:
		return fmt.Errorf("%s: raft address must name a host and port other nodes can dial", op)
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	r, err := n.leaderRaft(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if cid := n.ClusterID(); req.ClusterID != "" && cid != "" && req.ClusterID != cid {
		return fmt.Errorf("%s: %w: the node belongs to cluster %s, this is cluster %s", op, ErrWrongCluster, req.ClusterID, cid)
	}
	servers, err := n.configuration(ctx, r)
	if err != nil {
		return n.writeErr(op, err)
	}
	present := false
	for _, s := range servers {
		switch {
		case string(s.ID) == req.ID && string(s.Address) != req.RaftAddr:
			return fmt.Errorf("%s: %w: member %s is at %s", op, ErrNodeIDTaken, s.ID, s.Address)
		case string(s.ID) != req.ID && string(s.Address) == req.RaftAddr:
			return fmt.Errorf("%s: %w: member %s uses that address", op, ErrAddrTaken, s.ID)
		case string(s.ID) == req.ID:
			present = true
		}
	}
	if !present {
		var f raft.IndexFuture
		if req.NonVoter {
			f = r.AddNonvoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, remaining(ctx))
		} else {
			f = r.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, remaining(ctx))
		}
		if err := waitFuture(ctx, f); err != nil {
			return n.writeErr(op, err)
		}
		n.logger.Info("member added", "member", req.ID, "raft_addr", req.RaftAddr, "voter", !req.NonVoter)
	}
	m := policy.Member{ID: req.ID, Region: req.Region, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr, Voter: !req.NonVoter}
	if present {
		// An existing server keeps its suffrage; record what Raft says.
		for _, s := range servers {
			if string(s.ID) == req.ID {
				m.Voter = s.Suffrage == raft.Voter
			}
		}
	}
	if cur, ok := n.fsm.applied().Members[req.ID]; ok && cur == m {
		return nil
	}
	_, err = n.propose(ctx, op, upsertMemberType, upsertMemberCmd{Member: m, At: time.Now()})
	return err
}

// Remove removes the member id from the Raft configuration and from
// State.Members. It runs on the leader only; an id that is neither in the
// configuration nor in State.Members returns an error wrapping
// ErrUnknownMember. The leader may remove itself: it then steps down and
// its node stops (further calls return ErrClosed).
func (n *Node) Remove(ctx context.Context, id string) error {
	op := fmt.Sprintf("remove member %s", id)
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	r, err := n.leaderRaft(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// A leader elected a moment ago may not have applied its
	// predecessor's last entries yet (a join's member record, say): read
	// the state only after a barrier, or the member would be taken out of
	// the configuration and stay recorded.
	if err := waitFuture(ctx, r.Barrier(remaining(ctx))); err != nil {
		return n.writeErr(op, err)
	}
	servers, err := n.configuration(ctx, r)
	if err != nil {
		return n.writeErr(op, err)
	}
	inConfig := false
	for _, s := range servers {
		inConfig = inConfig || string(s.ID) == id
	}
	_, recorded := n.fsm.applied().Members[id]
	if !inConfig && !recorded {
		return fmt.Errorf("%s: %w", op, ErrUnknownMember)
	}
	removeServer := func() error {
		if !inConfig {
			return nil
		}
		if err := waitFuture(ctx, r.RemoveServer(raft.ServerID(id), 0, remaining(ctx))); err != nil {
			return n.writeErr(op, err)
		}
		n.logger.Info("member removed", "member", id)
		return nil
	}
	forget := func() error {
		if !recorded {
			return nil
		}
		_, err := n.propose(ctx, op, removeMemberType, removeMemberCmd{ID: id, At: time.Now()})
		return err
	}
	// The leader forgets itself while it can still commit; anyone else is
	// forgotten once it is out of the configuration.
	steps := []func() error{removeServer, forget}
	if id == n.cfg.NodeID {
		steps = []func() error{forget, removeServer}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// TransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is "". It runs on the leader only and returns
// once the transfer completed or failed.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	op := "transfer leadership"
	if id != "" {
		op += " to " + id
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	r, err := n.leaderRaft(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var f raft.Future
	if id == "" {
		f = r.LeadershipTransfer()
	} else {
		if id == n.cfg.NodeID {
			return fmt.Errorf("%s: this node is already the leader", op)
		}
		servers, err := n.configuration(ctx, r)
		if err != nil {
			return n.writeErr(op, err)
		}
		var target *raft.Server
		for i := range servers {
			if string(servers[i].ID) == id {
				target = &servers[i]
			}
		}
		switch {
		case target == nil:
			return fmt.Errorf("%s: %w", op, ErrUnknownMember)
		case target.Suffrage != raft.Voter:
			return fmt.Errorf("%s: member %s has no vote", op, id)
		}
		f = r.LeadershipTransferToServer(target.ID, target.Address)
	}
	if err := waitFuture(ctx, f); err != nil {
		return n.writeErr(op, err)
	}
	n.logger.Info("leadership transferred", "to", id)
	return nil
}

// AnnounceSelf records this node's region and addresses in State.Members.
// It runs on the leader only; the leader calls it on its own whenever it
// gains leadership, so that followers can name the leader's API address.
func (n *Node) AnnounceSelf(ctx context.Context) error {
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	m := policy.Member{ID: n.cfg.NodeID, Region: n.cfg.Region, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr, Voter: true}
	if cur, ok := n.fsm.applied().Members[m.ID]; ok && cur == m {
		return nil
	}
	_, err := n.propose(ctx, "announce self", upsertMemberType, upsertMemberCmd{Member: m, At: time.Now()})
	return err
}

// syncVoters makes Member.Voter in the replicated state agree with the
// Raft configuration: members recorded before the flag existed, members
// whose suffrage changed, and members that are no longer in the
// configuration (a removal whose second step did not commit), which lose
// their vote so that they do not count towards effective health. It runs
// on the leader only.
func (n *Node) syncVoters(ctx context.Context) error {
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	r, err := n.leaderRaft(ctx)
	if err != nil {
		return fmt.Errorf("sync voters: %w", err)
	}
	servers, err := n.configuration(ctx, r)
	if err != nil {
		return n.writeErr("sync voters", err)
	}
	voter := make(map[string]bool, len(servers))
	for _, s := range servers {
		voter[string(s.ID)] = s.Suffrage == raft.Voter
	}
	members := n.fsm.applied().Members
	for _, id := range slices.Sorted(maps.Keys(members)) {
		m := members[id]
		if m.Voter == voter[id] {
			continue
		}
		m.Voter = voter[id]
		if _, err := n.propose(ctx, "sync voters", upsertMemberType, upsertMemberCmd{Member: m, At: time.Now(), IfPresent: true}); err != nil {
			return err
		}
	}
	return nil
}

// ViewReport is one node's batch of health verdicts for ReportViews.
type ViewReport struct {
	// Node is the reporting node's ID; it must be a member.
	Node string
	// Degraded, when not nil, is the node's degraded flag (every canary
	// failing): a degraded node's views stop counting.
	Degraded *bool
	// Full means Views is the node's complete view set: its views of
	// endpoints not listed are dropped. Nodes send a full report after a
	// leader change.
	Full bool
	// Views are the node's verdicts, with the pool's name as written in
	// the spec. Views of pools or endpoints that are not in the spec are
	// ignored. Evidence beyond policy.MaxEvidence results per view is
	// dropped (the oldest), bodies and error texts are cut.
	Views []policy.ViewUpdate
}

// ReportViews commits r as one log entry, stamped with the leader's
// clock. It runs on the leader only: a follower returns a
// *NotLeaderError, and an error wrapping ErrNoQuorum means the report was
// not committed within ctx and the ApplyTimeout (resending it is safe: a
// report is idempotent except for the time it stamps on views whose
// verdict changed). A report from a node that is not a member returns an
// error wrapping ErrUnknownMember; a report with an empty node ID, pool
// or endpoint an error saying which; neither changes anything. A report
// without views, degraded flag or Full commits nothing.
func (n *Node) ReportViews(ctx context.Context, r ViewReport) error {
	op := fmt.Sprintf("report views of %s", r.Node)
	if r.Node == "" {
		return errors.New("report views: empty node id")
	}
	views := make([]policy.ViewUpdate, len(r.Views))
	for i, v := range r.Views {
		if v.Pool == "" || v.Endpoint == "" {
			return fmt.Errorf("%s: views[%d]: pool and endpoint are required (got pool %q, endpoint %q)", op, i, v.Pool, v.Endpoint)
		}
		v.Evidence = policy.TrimEvidence(v.Evidence)
		views[i] = v
	}
	if len(views) == 0 && r.Degraded == nil && !r.Full {
		return nil // nothing to report
	}
	if _, ok := n.fsm.applied().Members[r.Node]; !ok && n.IsLeader() {
		return fmt.Errorf("%s: %w", op, ErrUnknownMember)
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	cmd := reportViewsCmd{Node: r.Node, Degraded: r.Degraded, Full: r.Full, Views: views, At: time.Now()}
	_, err := n.propose(ctx, op, reportViewsType, cmd)
	return err
}

// newClusterID returns a random cluster ID (128 bits, hex).
func newClusterID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
