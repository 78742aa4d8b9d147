package daemontest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/daemon"
	"github.com/detour-dns/detour/internal/testutil"
)

// Node is one daemon of a test cluster.
type Node struct {
	// RT is the runtime config; after the first start its addresses are
	// the bound ones, so that a restart reuses them.
	RT     config.Runtime
	D      *daemon.Daemon // nil while stopped
	Client *api.Client
	cancel context.CancelFunc
}

// Running reports whether the node's daemon is running.
func (n *Node) Running() bool { return n.D != nil }

// Cluster is a set of daemons started by Start.
type Cluster struct {
	t      testing.TB
	Nodes  []*Node
	Logger *slog.Logger
}

// Runtime returns the config of a test node: every address on 127.0.0.1
// port 0, data in dir, Raft timeouts short enough for loopback.
func Runtime(id, dir string) config.Runtime {
	return config.Runtime{
		NodeID:   id,
		Region:   "region-" + id,
		DataDir:  dir,
		DNSAddr:  "127.0.0.1:0",
		APIAddr:  "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0",
		Raft: config.Raft{
			HeartbeatTimeout:   500 * time.Millisecond,
			ElectionTimeout:    500 * time.Millisecond,
			LeaderLeaseTimeout: 250 * time.Millisecond,
			CommitTimeout:      5 * time.Millisecond,
			ApplyTimeout:       3 * time.Second,
		},
		LogLevel:  slog.LevelInfo,
		LogFormat: "text",
	}
}

// Start runs n daemons: the first bootstraps, the others join through it.
// It returns once every node is a member and sees a leader. Everything is
// stopped in t.Cleanup.
func Start(t testing.TB, n int, logger *slog.Logger) *Cluster {
	t.Helper()
	return StartWith(t, n, logger, nil)
}

// StartWith is Start with a hook that adjusts each node's Runtime before
// its first start (for example to use the production Raft timing).
func StartWith(t testing.TB, n int, logger *slog.Logger, mod func(*config.Runtime)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Logger: logger}
	t.Cleanup(c.StopAll)
	dir := t.TempDir()
	for i := range n {
		id := fmt.Sprintf("node%d", i+1)
		rt := Runtime(id, filepath.Join(dir, id))
		if i == 0 {
			rt.Bootstrap = true
		} else {
			rt.Join = []string{c.Nodes[0].D.APIURL()}
		}
		if mod != nil {
			mod(&rt)
		}
		node := &Node{RT: rt}
		c.Nodes = append(c.Nodes, node)
		c.StartNode(i)
		if i == 0 {
			testutil.WaitFor(t, 10*time.Second, func() bool {
				return node.D.Node().Status().Role == "leader" && node.D.Node().ClusterID() != ""
			}, "node1 to lead a bootstrapped cluster")
		}
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		for _, node := range c.Nodes {
			ms, err := node.Client.Members(t.Context())
			if err != nil || len(ms) != n {
				return false
			}
			if st := node.D.Node().Status(); st.LeaderID == "" || st.LeaderAPIAddr == "" {
				return false
			}
		}
		return true
	}, "%d members seen by every node, with a known leader", n)
	return c
}

// StartNode starts (or restarts) node i with its RT, then pins RT's
// addresses to the bound ones.
func (c *Cluster) StartNode(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	d, err := daemon.New(n.RT, daemon.Options{Logger: c.Logger, Version: "test"})
	if err != nil {
		c.t.Fatalf("daemon.New(%s): %v", n.RT.NodeID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Start(ctx); err != nil {
		cancel()
		c.t.Fatalf("start %s: %v", n.RT.NodeID, err)
	}
	n.D, n.cancel = d, cancel
	n.RT.RaftAddr = d.RaftAddr()
	n.RT.DNSAddr = d.DNSAddr().String()
	u := d.APIURL()
	n.RT.APIAddr = u[len("http://"):]
	n.Client, err = api.NewClient(u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
}

// StopNode shuts node i down cleanly (a leader hands over first).
func (c *Cluster) StopNode(i int) { c.stop(i, true) }

// CrashNode stops node i without handing over leadership, as a crashed
// process would leave the cluster.
func (c *Cluster) CrashNode(i int) { c.stop(i, false) }

func (c *Cluster) stop(i int, handoff bool) {
	c.t.Helper()
	n := c.Nodes[i]
	if n.D == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.D.Stop(ctx, handoff); err != nil {
		c.t.Errorf("stop %s: %v", n.RT.NodeID, err)
	}
	n.cancel()
	n.D = nil
}

// StopAll stops every running node.
func (c *Cluster) StopAll() {
	for i := range c.Nodes {
		c.StopNode(i)
	}
}

// Leader returns the index of the running node that leads, or -1.
func (c *Cluster) Leader() int {
	for i, n := range c.Nodes {
		if n.D != nil && n.D.Node().Status().Role == "leader" {
			return i
		}
	}
	return -1
}

// WaitLeader waits until one running node leads and every running node
// knows it (with its API address), and returns the leader's index.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	var leader int
	testutil.WaitFor(c.t, timeout, func() bool {
		leader = c.Leader()
		if leader < 0 {
			return false
		}
		id := c.Nodes[leader].RT.NodeID
		for _, n := range c.Nodes {
			if n.D == nil {
				continue
			}
			if st := n.D.Node().Status(); st.LeaderID != id || st.LeaderAPIAddr == "" {
				return false
			}
		}
		return true
	}, "a leader known to every running node")
	return leader
}

// Follower returns the index of a running node that is not the leader.
func (c *Cluster) Follower() int {
	c.t.Helper()
	l := c.Leader()
	for i, n := range c.Nodes {
		if n.D != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no running follower")
	return -1
}

// WaitSpecVersion waits until every running node has applied spec
// version v.
func (c *Cluster) WaitSpecVersion(v uint64, timeout time.Duration) {
	c.t.Helper()
	testutil.WaitFor(c.t, timeout, func() bool {
		for _, n := range c.Nodes {
			if n.D != nil && n.D.Node().State().SpecVersion != v {
				return false
			}
		}
		return true
	}, "spec version %d on every running node", v)
}
