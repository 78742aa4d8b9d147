package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// leaderLoop follows raft's leadership notifications. Each time this node
// becomes leader it runs establishLeadership under a context that is
// cancelled when leadership is lost or the node stops. It never blocks on
// that work, so raft is never kept waiting on the notify channel.
func (n *Node) leaderLoop(ctx context.Context, r *raft.Raft, notify <-chan bool) {
	defer n.wg.Done()
	cancel := context.CancelFunc(func() {})
	defer func() { cancel() }()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-notify:
			cancel()
			if !leader {
				n.logger.Info("lost leadership", "term", r.CurrentTerm())
				continue
			}
			n.logger.Info("gained leadership", "term", r.CurrentTerm())
			cancel = n.startLeaderWork(ctx, r)
		}
	}
}

// startLeaderWork runs establishLeadership, then the leader tasks
// (expiry of overrides, timed failbacks), in a goroutine and returns the
// function that cancels them.
func (n *Node) startLeaderWork(ctx context.Context, r *raft.Raft) context.CancelFunc {
	wctx, cancel := context.WithCancel(ctx)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.establishLeadership(wctx, r)
		if wctx.Err() == nil {
			n.leaderTasks(wctx)
		}
	}()
	return cancel
}

// establishLeadership runs once per term in which this node leads: after a
// Barrier (so that the FSM holds everything committed before this term),
// it commits the cluster ID if none is known yet (the bootstrapping leader)
// and records this node's Member. It retries until it succeeds or ctx ends.
func (n *Node) establishLeadership(ctx context.Context, r *raft.Raft) {
	wait := 50 * time.Millisecond
	for {
		err := n.establish(ctx, r)
		if err == nil {
			return
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNotLeader) {
			return
		}
		n.logger.Error("establish leadership", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (n *Node) establish(ctx context.Context, r *raft.Raft) error {
	bctx, cancel := n.writeCtx(ctx)
	err := waitFuture(bctx, r.Barrier(remaining(bctx)))
	cancel()
	if err != nil {
		return n.writeErr("barrier", err)
	}
	if n.fsm.applied().ClusterID == "" {
		id := newClusterID()
		wctx, cancel := n.writeCtx(ctx)
		_, err := n.propose(wctx, "init cluster", initClusterType, initClusterCmd{ClusterID: id})
		cancel()
		if err != nil {
			return err
		}
		n.logger.Info("cluster initialised", "cluster_id", id)
	}
	if err := n.AnnounceSelf(ctx); err != nil {
		return fmt.Errorf("announce self: %w", err)
	}
	return n.syncVoters(ctx)
}

// identityLoop records the cluster ID in the data dir's identity file once
// the replicated state knows it.
func (n *Node) identityLoop(ctx context.Context, id identity) {
	defer n.wg.Done()
	for {
		st, changed := n.fsm.watch()
		if st.ClusterID != "" && st.ClusterID != id.ClusterID {
			if id.ClusterID != "" {
				n.logger.Error("replicated cluster id differs from the data dir's; keeping the data dir's record",
					"cluster_id", st.ClusterID, "data_dir_cluster_id", id.ClusterID)
				return
			}
			id.ClusterID = st.ClusterID
			if err := writeIdentity(n.cfg.DataDir, id); err != nil {
				n.logger.Error("record cluster id", "error", err)
			} else {
				n.mu.Lock()
				n.clusterID = id.ClusterID
				n.mu.Unlock()
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
