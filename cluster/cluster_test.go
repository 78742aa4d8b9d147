package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// testTimeout bounds every wait in the cluster tests.
const testTimeout = 10 * time.Second

// testCluster is a set of nodes over real TCP on 127.0.0.1 with bbolt
// stores in temporary directories.
type testCluster struct {
	t     testing.TB
	nodes []*Node  // nil once closed
	cfgs  []Config // the config each node was last started with
}

// nodeConfig returns a config with short timeouts for node i.
func nodeConfig(t testing.TB, i int) Config {
	return Config{
		NodeID:             fmt.Sprintf("n%d", i),
		Region:             fmt.Sprintf("region-%d", i),
		DataDir:            filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i)),
		RaftAddr:           "127.0.0.1:0",
		APIAddr:            fmt.Sprintf("http://n%d.api.example.test:8053", i),
		HeartbeatTimeout:   400 * time.Millisecond,
		ElectionTimeout:    400 * time.Millisecond,
		LeaderLeaseTimeout: 300 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       3 * time.Second,
		Logger:             testutil.Logger(t, slog.LevelWarn),
	}
}

// skipShort skips the slow loopback tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("three nodes over TCP: skipped with -short")
	}
}

// startNode starts a node with cfg and closes it when the test ends. prep
// functions, if any, adjust the node before it starts.
func startNode(t testing.TB, cfg Config, prep ...func(*Node)) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New %s: %v", cfg.NodeID, err)
	}
	for _, p := range prep {
		p(n)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close %s: %v", cfg.NodeID, err)
		}
	})
	if err := n.Start(t.Context()); err != nil {
		t.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	return n
}

// newTestCluster bootstraps node 0, joins size-1 more through it and waits
// until every node knows every member. tweak, if not nil, adjusts each
// config.
func newTestCluster(t testing.TB, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	return newTestClusterWith(t, size, tweak, nil)
}

// newTestClusterWith is newTestCluster with prep, if not nil, called on
// node i before it starts.
func newTestClusterWith(t testing.TB, size int, tweak func(*Config), prep func(i int, n *Node)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := range size {
		cfg := nodeConfig(t, i)
		cfg.Bootstrap = i == 0
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, startNode(t, cfg, func(n *Node) {
			if prep != nil {
				prep(i, n)
			}
		}))
		if i == 0 {
			c.waitLeader()
			continue
		}
		c.join(i)
	}
	c.waitConverged()
	return c
}

// join asks the leader to add node i. Like a real joining node, it asks
// again (Join is idempotent) when leadership moved under the request.
func (c *testCluster) join(i int) {
	c.t.Helper()
	n := c.nodes[i]
	req := JoinRequest{ID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr, Region: n.cfg.Region}
	var err error
	ok := testutil.Eventually(testTimeout, func() bool {
		err = c.waitLeader().Join(c.t.Context(), req)
		return err == nil || !(errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrNotLeader))
	})
	if !ok || err != nil {
		c.t.Fatalf("join %s: %v", n.cfg.NodeID, err)
	}
}

// live returns the nodes that are not closed.
func (c *testCluster) live() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitLeader waits until one live node is leader and the leader has
// announced itself, and returns it.
func (c *testCluster) waitLeader() *Node {
	c.t.Helper()
	var leader *Node
	testutil.WaitFor(c.t, testTimeout, func() bool {
		leader = nil
		for _, n := range c.live() {
			if n.IsLeader() {
				leader = n
			}
		}
		return leader != nil && leader.State().Members[leader.cfg.NodeID].APIAddr != ""
	}, "a leader that has announced itself")
	return leader
}

// followers returns the live nodes other than leader.
func (c *testCluster) followers(leader *Node) []*Node {
	var out []*Node
	for _, n := range c.live() {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

// waitConverged waits until every live node has applied the same index as
// the leader and holds a state equal to the leader's, and returns it.
func (c *testCluster) waitConverged() *policy.State {
	c.t.Helper()
	leader := c.waitLeader()
	var want *policy.State
	testutil.WaitFor(c.t, testTimeout, func() bool {
		want = leader.State()
		for _, n := range c.live() {
			if !cmp.Equal(want, n.State()) {
				return false
			}
		}
		return true
	}, "every node to hold the leader's state")
	return want
}

// closeNode closes node i.
func (c *testCluster) closeNode(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Errorf("close n%d: %v", i, err)
	}
	c.nodes[i] = nil
}

// indexOf returns the position of n in the cluster.
func (c *testCluster) indexOf(n *Node) int {
	for i, m := range c.nodes {
		if m == n {
			return i
		}
	}
	c.t.Fatalf("node %s not in the cluster", n.cfg.NodeID)
	return -1
}

func TestCluster_ApplyAndForwardingHint(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	ctx := t.Context()

	v, err := leader.ApplySpec(ctx, testSpec(1, 3))
	if err != nil || v != 1 {
		t.Fatalf("ApplySpec on the leader = %d, %v; want version 1", v, err)
	}
	st := c.waitConverged()
	if st.SpecVersion != 1 || st.Spec == nil || len(st.Spec.Pools) != 3 || st.ClusterID == "" {
		t.Fatalf("converged state: version %d, cluster %q", st.SpecVersion, st.ClusterID)
	}
	for _, n := range c.live() {
		if n.ClusterID() != st.ClusterID {
			t.Errorf("%s: ClusterID %q, want %q", n.ID(), n.ClusterID(), st.ClusterID)
		}
	}

	t.Run("a follower names the leader's API address", func(t *testing.T) {
		f := c.followers(leader)[0]
		_, err := f.ApplySpec(ctx, testSpec(2, 3))
		nl, ok := errors.AsType[*NotLeaderError](err)
		if !ok || !errors.Is(err, ErrNotLeader) {
			t.Fatalf("ApplySpec on a follower: %v, want a *NotLeaderError", err)
		}
		if nl.LeaderID != leader.ID() || nl.LeaderAPIAddr != leader.cfg.APIAddr {
			t.Errorf("NotLeaderError = %+v, want leader %s at %s", nl, leader.ID(), leader.cfg.APIAddr)
		}
		if f.State().SpecVersion != 1 {
			t.Errorf("the refused write changed the spec version to %d", f.State().SpecVersion)
		}
		for _, err := range []error{
			f.Join(ctx, JoinRequest{ID: "x", RaftAddr: "127.0.0.1:1"}),
			f.Remove(ctx, leader.ID()),
			f.TransferLeadership(ctx, ""),
		} {
			if !errors.Is(err, ErrNotLeader) {
				t.Errorf("write on a follower: %v, want ErrNotLeader", err)
			}
		}
	})

	t.Run("status and members", func(t *testing.T) {
		for _, n := range c.live() {
			s := n.Status()
			wantRole := "follower"
			if n == leader {
				wantRole = "leader"
			}
			if s.Role != wantRole || s.LeaderID != leader.ID() || s.LeaderAPIAddr != leader.cfg.APIAddr ||
				s.SpecVersion != 1 || s.ClusterID != st.ClusterID || s.Term == 0 || s.AppliedIndex < st.Index {
				t.Errorf("%s: status %+v", n.ID(), s)
			}
		}
		ms, err := c.followers(leader)[1].Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []MemberInfo
		for _, n := range c.nodes {
			want = append(want, MemberInfo{
				ID: n.ID(), Region: n.cfg.Region, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr,
				Voter: true, Leader: n == leader,
			})
		}
		if diff := cmp.Diff(want, ms); diff != "" {
			t.Errorf("Members (-want +got):\n%s", diff)
		}
	})

	t.Run("join refusals", func(t *testing.T) {
		other := c.followers(leader)[0]
		for _, tc := range []struct {
			name string
			req  JoinRequest
			want error
		}{
			{"another cluster's node", JoinRequest{ID: "n9", RaftAddr: "127.0.0.1:1", ClusterID: "not-" + st.ClusterID}, ErrWrongCluster},
			{"a taken node id at another address", JoinRequest{ID: other.ID(), RaftAddr: "127.0.0.1:1"}, ErrNodeIDTaken},
			{"another id at a member's address", JoinRequest{ID: "n9", RaftAddr: other.RaftAddr()}, ErrAddrTaken},
		} {
			if err := leader.Join(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("%s: Join = %v, want %v", tc.name, err, tc.want)
			}
		}
		for _, bad := range []JoinRequest{
			{ID: "", RaftAddr: "127.0.0.1:1"},
			{ID: "n9", RaftAddr: "0.0.0.0:8054"},
			{ID: "n9", RaftAddr: "127.0.0.1:0"},
			{ID: "n9", RaftAddr: "127.0.0.1"},
		} {
			if err := leader.Join(ctx, bad); err == nil || errors.Is(err, ErrNotLeader) {
				t.Errorf("Join(%+v) = %v, want a clear refusal", bad, err)
			}
		}
		if err := leader.Remove(ctx, "n9"); !errors.Is(err, ErrUnknownMember) {
			t.Errorf("Remove of an unknown member = %v, want ErrUnknownMember", err)
		}
		// The same id and address again is an idempotent success.
		same := JoinRequest{ID: other.ID(), RaftAddr: other.RaftAddr(), APIAddr: other.cfg.APIAddr, Region: other.cfg.Region, ClusterID: st.ClusterID}
		before := leader.State()
		if err := leader.Join(ctx, same); err != nil {
			t.Errorf("repeated Join = %v, want success", err)
		}
		if leader.State() != before {
			t.Error("a repeated Join committed a command")
		}
		ms, _ := leader.Members(ctx)
		if len(ms) != 3 {
			t.Errorf("after refusals there are %d members, want 3", len(ms))
		}
	})
}

func TestCluster_LeaderFailover(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx := t.Context()
	old := c.waitLeader()
	if _, err := old.ApplySpec(ctx, testSpec(1, 1)); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()

	start := time.Now()
	c.closeNode(c.indexOf(old))
	leader := c.waitLeader()
	elected := time.Since(start)
	t.Logf("new leader %s elected %v after the old one closed (heartbeat timeout %v)", leader.ID(), elected, c.cfgs[0].HeartbeatTimeout)
	if leader == old {
		t.Fatal("the closed node is still leader")
	}

	v, err := leader.ApplySpec(ctx, testSpec(2, 1))
	if err != nil || v != 2 {
		t.Fatalf("ApplySpec after failover = %d, %v; want version 2", v, err)
	}
	if st := c.waitConverged(); st.SpecVersion != 2 {
		t.Errorf("survivors hold spec version %d, want 2", st.SpecVersion)
	}
}

func TestCluster_TransferLeadership(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx := t.Context()
	leader := c.waitLeader()
	target := c.followers(leader)[1]
	if err := leader.TransferLeadership(ctx, target.ID()); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	testutil.WaitFor(t, testTimeout, target.IsLeader, "%s to lead", target.ID())
	if _, err := target.ApplySpec(ctx, testSpec(1, 1)); err != nil {
		t.Errorf("ApplySpec on the new leader: %v", err)
	}
	if err := target.TransferLeadership(ctx, "n9"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("transfer to an unknown member = %v, want ErrUnknownMember", err)
	}
	if err := target.TransferLeadership(ctx, ""); err != nil {
		t.Fatalf("TransferLeadership to any voter: %v", err)
	}
	testutil.WaitFor(t, testTimeout, func() bool {
		l := c.waitLeader()
		return l != target
	}, "another node to lead")
}

func TestCluster_RestartFromDisk(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx := t.Context()
	for v := 1; v <= 4; v++ {
		if _, err := c.waitLeader().ApplySpec(ctx, testSpec(v, 2)); err != nil {
			t.Fatal(err)
		}
		if v == 2 {
			// Every node snapshots here, so the restart restores a
			// snapshot and then replays the entries after it.
			c.waitConverged()
			for _, n := range c.live() {
				if err := n.Snapshot(ctx); err != nil {
					t.Fatalf("snapshot %s: %v", n.ID(), err)
				}
			}
		}
	}
	before := c.waitConverged()
	if before.SpecVersion != 4 {
		t.Fatalf("spec version %d before the restart, want 4", before.SpecVersion)
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.RaftAddr()
		c.closeNode(i)
	}
	for i := range c.nodes {
		id, ok, err := readIdentity(c.cfgs[i].DataDir)
		if err != nil || !ok || id != (identity{ClusterID: before.ClusterID, NodeID: c.cfgs[i].NodeID}) {
			t.Errorf("n%d identity file = %+v, %v, %v", i, id, ok, err)
		}
	}

	// Restart on the same addresses (the Raft configuration records
	// them); node 0 keeps Bootstrap, which must change nothing.
	for i := range c.nodes {
		cfg := c.cfgs[i]
		cfg.RaftAddr = addrs[i]
		c.nodes[i] = startNode(t, cfg)
	}
	// Restarted nodes hold their snapshot at once and replay the entries
	// after it once a leader has committed in the new term.
	testutil.WaitFor(t, testTimeout, func() bool {
		for _, n := range c.live() {
			if n.State().Index < before.Index {
				return false
			}
		}
		return true
	}, "every node to replay its log up to index %d", before.Index)
	after := c.waitConverged()
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("state after restart (-before +after):\n%s", diff)
	}
	for _, n := range c.live() {
		if n.fsm.restores.Load() != 1 {
			t.Errorf("%s restored %d snapshots at start, want 1", n.ID(), n.fsm.restores.Load())
		}
		if id, api := n.Leader(); id == "" || api == "" {
			t.Errorf("%s: Leader() = %q, %q after restart", n.ID(), id, api)
		}
	}
	if v, err := c.waitLeader().ApplySpec(ctx, testSpec(5, 2)); err != nil || v != 5 {
		t.Errorf("ApplySpec after restart = %d, %v; want version 5", v, err)
	}
}

func TestCluster_JoinFromSnapshotAndRemove(t *testing.T) {
	skipShort(t)
	small := func(cfg *Config) {
		cfg.SnapshotThreshold = 4
		cfg.TrailingLogs = 2
	}
	c := newTestCluster(t, 3, small)
	ctx := t.Context()
	for v := 1; v <= 8; v++ {
		if _, err := c.waitLeader().ApplySpec(ctx, testSpec(v, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.waitLeader().Snapshot(ctx); err != nil {
		t.Fatalf("force a snapshot: %v", err)
	}

	cfg := nodeConfig(t, 3)
	small(&cfg)
	c.cfgs = append(c.cfgs, cfg)
	c.nodes = append(c.nodes, startNode(t, cfg))
	n3 := c.nodes[3]
	c.join(3)
	st := c.waitConverged()
	if got := n3.fsm.restores.Load(); got < 1 {
		t.Errorf("the new node restored %d snapshots; it should have caught up from one", got)
	}
	if n3.State().SpecVersion != 8 || st.Members["n3"].APIAddr != cfg.APIAddr {
		t.Errorf("new node: spec version %d, members %v", n3.State().SpecVersion, st.Members)
	}

	leader := c.waitLeader()
	if err := leader.Remove(ctx, "n3"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	ms, err := leader.Members(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("after Remove: %d members, %v", len(ms), err)
	}
	if _, ok := leader.State().Members["n3"]; ok {
		t.Error("State.Members still has the removed node")
	}
	c.closeNode(3)
	if _, err := leader.ApplySpec(ctx, testSpec(9, 2)); err != nil {
		t.Errorf("ApplySpec with three members left: %v", err)
	}
}

func TestCluster_NoQuorum(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.ApplyTimeout = time.Second })
	leader := c.waitLeader()
	if _, err := leader.ApplySpec(t.Context(), testSpec(1, 1)); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, f := range c.followers(leader) {
		c.closeNode(c.indexOf(f))
	}
	before := leader.State()

	start := time.Now()
	_, err := leader.ApplySpec(t.Context(), testSpec(2, 1))
	took := time.Since(start)
	t.Logf("write without quorum failed after %v: %v", took, err)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("ApplySpec without quorum = %v, want ErrNoQuorum", err)
	}
	if limit := leader.cfg.ApplyTimeout + 500*time.Millisecond; took > limit {
		t.Errorf("ApplySpec took %v, more than the apply timeout %v", took, leader.cfg.ApplyTimeout)
	}
	if leader.State() != before {
		t.Error("the failed write changed the state")
	}
	// A second write, with no leader at all now, is bounded the same way.
	start = time.Now()
	_, err = leader.ApplySpec(t.Context(), testSpec(3, 1))
	if took := time.Since(start); !errors.Is(err, ErrNoQuorum) || took > leader.cfg.ApplyTimeout+500*time.Millisecond {
		t.Errorf("second write: %v after %v, want ErrNoQuorum within the apply timeout", err, took)
	}
}

func TestNode_DataDirOfAnotherNode(t *testing.T) {
	dir := t.TempDir()
	cfg := nodeConfig(t, 1)
	cfg.DataDir = dir
	if err := writeIdentity(dir, identity{NodeID: "n7", ClusterID: "c1"}); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	err = n.Start(t.Context())
	if !errors.Is(err, ErrWrongNode) {
		t.Fatalf("Start = %v, want ErrWrongNode", err)
	}
	if n.RaftAddr() != "" || n.Status().Role != "shutdown" {
		t.Errorf("a refused Start left the node running: addr %q status %+v", n.RaftAddr(), n.Status())
	}
	if _, err := n.ApplySpec(t.Context(), testSpec(1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("ApplySpec on a node that failed to start = %v, want ErrClosed", err)
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	base := Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0"}
	if _, err := New(base); err != nil {
		t.Fatalf("New(minimal config) = %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no node id", func(c *Config) { c.NodeID = "" }, "node id: required"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir: required"},
		{"no raft addr", func(c *Config) { c.RaftAddr = "" }, "raft addr: required"},
		{"raft addr without port", func(c *Config) { c.RaftAddr = "127.0.0.1" }, `raft addr "127.0.0.1"`},
		{"wildcard bind without advertise", func(c *Config) { c.RaftAddr = "0.0.0.0:8054" }, "binds every interface"},
		{"unspecified advertise", func(c *Config) { c.RaftAdvertise = "[::]:8054" }, "unspecified address"},
		{"advertise without port on port 0", func(c *Config) { c.RaftAdvertise = "127.0.0.1:0" }, "needs a port"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 2 * DefaultHeartbeatTimeout }, "must not exceed"},
		{"tiny heartbeat", func(c *Config) { c.HeartbeatTimeout = time.Millisecond }, "heartbeat timeout 1ms"},
		{"negative store timeout", func(c *Config) { c.StoreTimeout = -time.Second }, "store timeout -1s: must be at least 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestNode_AdvertiseAddress(t *testing.T) {
	cfg := nodeConfig(t, 1)
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Bootstrap = true
	n := startNode(t, cfg)
	if a := n.RaftAddr(); a == "" || a == "127.0.0.1:0" {
		t.Errorf("RaftAddr = %q, want the bound port", a)
	}
	host, port, err := splitHostPort(n.RaftAddr())
	if err != nil || host != "127.0.0.1" || port == 0 {
		t.Errorf("RaftAddr %q: %v", n.RaftAddr(), err)
	}
	// A fixed port advertised under another loopback address.
	cfg2 := nodeConfig(t, 2)
	cfg2.RaftAddr = "127.0.0.1:0"
	cfg2.RaftAdvertise = "127.0.0.2:7000"
	n2 := startNode(t, cfg2)
	if got := n2.RaftAddr(); got != "127.0.0.2:7000" {
		t.Errorf("RaftAddr with an advertise address = %q", got)
	}
	if err := n.WaitForLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := n2.WaitForLeader(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForLeader on a node that never joined = %v, want a deadline error", err)
	}
}

func TestNode_FailedStartLeavesNothingOpen(t *testing.T) {
	a := startNode(t, func() Config { c := nodeConfig(t, 1); c.Bootstrap = true; return c }())

	t.Run("data dir in use by another node object", func(t *testing.T) {
		cfg := a.cfg
		cfg.Logger = nil
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		err = b.Start(t.Context())
		if err == nil || !strings.Contains(err.Error(), "locked by another process") {
			t.Fatalf("Start on a data dir in use = %v, want a lock error", err)
		}
	})

	t.Run("raft address in use", func(t *testing.T) {
		cfg := nodeConfig(t, 2)
		cfg.RaftAddr = a.RaftAddr()
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Start(t.Context())
		if err == nil || !strings.Contains(err.Error(), "bind raft transport") {
			t.Fatalf("Start on a taken address = %v, want a bind error", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		// The failed Start released the data dir: another node object
		// opens it at once.
		cfg.RaftAddr = "127.0.0.1:0"
		startNode(t, cfg)
	})
}
