package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
)

// memCluster is a cluster of real Nodes (bbolt stores on disk) whose
// transports are raft's in-memory transport, so tests can partition nodes
// without sockets. It runs under -short.
type memCluster struct {
	*testCluster
	trans []*raft.InmemTransport
}

// newMemCluster bootstraps node 0 and joins size-1 more, every transport
// connected to every other.
func newMemCluster(t *testing.T, size int) *memCluster {
	t.Helper()
	c := &memCluster{testCluster: &testCluster{t: t}}
	for i := range size {
		cfg := nodeConfig(t, i)
		cfg.Bootstrap = i == 0
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 80*time.Millisecond
		cfg.ApplyTimeout = time.Second
		cfg.RaftAddr = fmt.Sprintf("inmem-%d.example.test:8054", i) // a label: nothing binds it
		_, tr := raft.NewInmemTransport(raft.ServerAddress(cfg.RaftAddr))
		for _, other := range c.trans {
			tr.Connect(other.LocalAddr(), other)
			other.Connect(tr.LocalAddr(), tr)
		}
		c.trans = append(c.trans, tr)
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.newTransport = func() (raft.Transport, error) { return tr, nil }
		t.Cleanup(func() { n.Close() })
		if err := n.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, n)
		if i == 0 {
			c.waitLeader()
			continue
		}
		c.join(i)
	}
	c.waitConverged()
	return c
}

// isolate cuts node i off from every other node, both ways.
func (c *memCluster) isolate(i int) {
	c.trans[i].DisconnectAll()
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// heal connects every node to every other again.
func (c *memCluster) heal() {
	for i, a := range c.trans {
		for j, b := range c.trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

// waitLeaderAmong waits until one of the given nodes leads and returns it.
func (c *memCluster) waitLeaderAmong(nodes ...*Node) *Node {
	c.t.Helper()
	var leader *Node
	testutil.WaitFor(c.t, testTimeout, func() bool {
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, "a leader among the majority")
	return leader
}

func TestMemCluster_PartitionedLeader(t *testing.T) {
	c := newMemCluster(t, 3)
	ctx := t.Context()
	old := c.waitLeader()
	if _, err := old.ApplySpec(ctx, testSpec(1, 1)); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	c.isolate(c.indexOf(old))

	start := time.Now()
	_, err := old.ApplySpec(ctx, testSpec(99, 1))
	took := time.Since(start)
	if !errors.Is(err, ErrNoQuorum) || took > old.cfg.ApplyTimeout+500*time.Millisecond {
		t.Fatalf("write on the cut-off leader: %v after %v, want ErrNoQuorum within %v", err, took, old.cfg.ApplyTimeout)
	}
	t.Logf("cut-off leader refused the write after %v", took)
	if old.State().SpecVersion != 1 {
		t.Errorf("the cut-off leader serves spec version %d, want its last committed 1", old.State().SpecVersion)
	}

	majority := c.followers(old)
	leader := c.waitLeaderAmong(majority...)
	if v, err := leader.ApplySpec(ctx, testSpec(2, 1)); err != nil || v != 2 {
		t.Fatalf("ApplySpec on the majority's leader = %d, %v", v, err)
	}
	if old.State().SpecVersion != 1 {
		t.Errorf("the cut-off node changed state while cut off")
	}

	c.heal()
	st := c.waitConverged()
	if st.SpecVersion != 2 || st.Spec.Zones[0].Records[0].Values[0] != "version=2" {
		t.Errorf("after healing: spec version %d with %v; the refused write must not appear", st.SpecVersion, st.Spec.Zones[0].Records[0].Values)
	}
}

func TestMemCluster_CutOffFollowerKeepsServing(t *testing.T) {
	c := newMemCluster(t, 3)
	ctx := t.Context()
	leader := c.waitLeader()
	if _, err := leader.ApplySpec(ctx, testSpec(1, 1)); err != nil {
		t.Fatal(err)
	}
	before := c.waitConverged()
	f := c.followers(leader)[0]
	c.isolate(c.indexOf(f))

	if _, err := leader.ApplySpec(ctx, testSpec(2, 1)); err != nil {
		t.Fatalf("the majority lost a follower and refused a write: %v", err)
	}
	if diff := cmp.Diff(before, f.State()); diff != "" {
		t.Errorf("the cut-off follower's state changed (-before +now):\n%s", diff)
	}
	// Its writes fail fast (leader hint) or within the apply timeout.
	start := time.Now()
	_, err := f.ApplySpec(ctx, testSpec(3, 1))
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoQuorum) {
		t.Errorf("write on the cut-off follower = %v", err)
	}
	if took := time.Since(start); took > f.cfg.ApplyTimeout+500*time.Millisecond {
		t.Errorf("write on the cut-off follower took %v", took)
	}

	c.heal()
	if st := c.waitConverged(); st.SpecVersion != 2 {
		t.Errorf("after healing the cluster holds spec version %d, want 2", st.SpecVersion)
	}
}
