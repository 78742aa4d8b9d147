package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/daemon"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
)

// exampleSpec returns the example spec with every endpoint's checks sent
// to a local backend that always answers 200, so that the nodes' probes
// keep every endpoint healthy whatever listens on the spec's addresses
// (the e2e tests run backends there that fail on purpose).
func exampleSpec(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("../../policy/testdata/example.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tb.Cleanup(ok.Close)
	re := regexp.MustCompile(`(?m)^(\s+)(addresses: \[127\.0\.0\.1[123]\])$`)
	b = re.ReplaceAll(b, []byte("${1}${2}\n${1}check_address: "+ok.Listener.Addr().String()))
	if n := bytes.Count(b, []byte("check_address:")); n != 7 {
		tb.Fatalf("example spec: %d endpoints routed to the local backend, want 7", n)
	}
	return b
}

// queryA asks the node's DNS server for name's A records over UDP.
func queryA(t *testing.T, n *daemontest.Node, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, n.D.DNSAddr().String())
	if err != nil {
		t.Fatalf("query %s at %s: %v", name, n.RT.NodeID, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestCluster_EndToEnd runs three full daemons in this process: applies
// through a follower, loses the leader, applies through the survivors and
// restarts everything from disk.
func TestCluster_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons over loopback TCP; skipped with -short")
	}
	c := daemontest.Start(t, 3, testutil.Logger(t, slog.LevelWarn))
	ctx := t.Context()
	spec := exampleSpec(t)

	// Apply through a follower: the write is forwarded to the leader.
	leader := c.WaitLeader(10 * time.Second)
	f := c.Follower()
	res, err := c.Nodes[f].Client.ApplySpec(ctx, spec, false)
	if err != nil {
		t.Fatalf("apply through follower %s: %v", c.Nodes[f].RT.NodeID, err)
	}
	if res.Version != 1 || len(res.Changes) == 0 {
		t.Errorf("apply result = %+v", res)
	}
	c.WaitSpecVersion(1, 10*time.Second)
	for _, n := range c.Nodes {
		st, err := n.Client.Status(ctx)
		if err != nil || st.SpecVersion != 1 || st.ClusterID == "" {
			t.Errorf("%s status = %+v, %v", n.RT.NodeID, st, err)
		}
		testutil.WaitFor(t, 5*time.Second, func() bool {
			return cmp.Equal(queryA(t, n, "www.example.test."), []string{"127.0.0.11"})
		}, "%s to answer www.example.test. A 127.0.0.11", n.RT.NodeID)
	}
	clusterID := c.Nodes[0].D.Node().ClusterID()

	// A dry run changes nothing and reports a diff.
	changed := bytes.Replace(spec, []byte("weight: 70"), []byte("weight: 50"), 1)
	res, err = c.Nodes[f].Client.ApplySpec(ctx, changed, true)
	if err != nil || !res.DryRun || res.Version != 1 || len(res.Changes) == 0 {
		t.Errorf("dry run = %+v, %v", res, err)
	}

	// Lose the leader: a new one is elected and applies succeed through
	// the survivors.
	old := c.Nodes[leader].RT.NodeID
	start := time.Now()
	c.CrashNode(leader)
	newLeader := c.WaitLeader(10 * time.Second)
	t.Logf("new leader %s elected %s after %s stopped", c.Nodes[newLeader].RT.NodeID, time.Since(start), old)
	f = c.Follower()
	res, err = c.Nodes[f].Client.ApplySpec(ctx, changed, false)
	if err != nil || res.Version != 2 {
		t.Fatalf("apply through survivor %s = %+v, %v", c.Nodes[f].RT.NodeID, res, err)
	}
	c.WaitSpecVersion(2, 10*time.Second)

	// Restart all three from disk: the state is intact.
	c.StopAll()
	for i := range c.Nodes {
		c.StartNode(i)
	}
	c.WaitLeader(20 * time.Second)
	c.WaitSpecVersion(2, 20*time.Second)
	var first []byte
	for _, n := range c.Nodes {
		if got := n.D.Node().ClusterID(); got != clusterID {
			t.Errorf("%s cluster id after restart = %q, want %q", n.RT.NodeID, got, clusterID)
		}
		y, v, err := n.Client.SpecYAML(ctx)
		if err != nil || v != 2 || !bytes.Contains(y, []byte("weight: 50")) {
			t.Fatalf("%s spec after restart: v%d %v\n%s", n.RT.NodeID, v, err, y)
		}
		if first == nil {
			first = y
		} else if !bytes.Equal(first, y) {
			t.Errorf("%s serves another spec than node1 after restart", n.RT.NodeID)
		}
	}

	// An invalid spec is refused with every problem, and changes nothing.
	bad := bytes.Replace(spec, []byte("addresses: [127.0.0.12]"), []byte("addresses: [1.2.3]"), 1)
	bad = bytes.Replace(bad, []byte("policy: weighted"), []byte("policy: heaviest"), 1)
	_, err = c.Nodes[c.Follower()].Client.ApplySpec(ctx, bad, false)
	if !api.IsCode(err, api.CodeInvalidSpec) {
		t.Fatalf("bad spec: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "pools[0].endpoints[1].addresses[0]") || !strings.Contains(msg, "pools[1].policy") {
		t.Errorf("bad spec error does not name both problems:\n%s", msg)
	}
	c.WaitSpecVersion(2, time.Second)
}

// TestCluster_NoQuorum: with two of three nodes down a write fails with
// 503 in bounded time and applies nothing.
func TestCluster_NoQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons over loopback TCP; skipped with -short")
	}
	c := daemontest.Start(t, 3, testutil.Logger(t, slog.LevelError))
	ctx := t.Context()
	if _, err := c.Nodes[0].Client.ApplySpec(ctx, exampleSpec(t), false); err != nil {
		t.Fatal(err)
	}
	c.WaitSpecVersion(1, 10*time.Second)
	leader := c.WaitLeader(5 * time.Second)
	survivor := (leader + 1) % 3
	for i := range c.Nodes {
		if i != survivor {
			c.StopNode(i)
		}
	}
	start := time.Now()
	_, err := c.Nodes[survivor].Client.ApplySpec(ctx, bytes.Replace(exampleSpec(t), []byte("ttl: 300"), []byte("ttl: 301"), 1), false)
	took := time.Since(start)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Fatalf("write without quorum = %v, want a 503", err)
	}
	t.Logf("write without quorum answered %d %s in %s", ae.StatusCode, ae.Code, took)
	if took > 15*time.Second {
		t.Errorf("write without quorum took %s", took)
	}
	if v := c.Nodes[survivor].D.Node().State().SpecVersion; v != 1 {
		t.Errorf("spec version = %d after a failed write", v)
	}
}

// TestCluster_JoinRefused: a node whose data dir belongs to another
// cluster is refused, and the daemon reports it as fatal.
func TestCluster_JoinRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemons over loopback TCP; skipped with -short")
	}
	a := daemontest.Start(t, 1, testutil.Logger(t, slog.LevelError))
	b := daemontest.Start(t, 1, testutil.Logger(t, slog.LevelError))
	// node1 of cluster b tries to join cluster a under another name:
	// its data dir carries cluster b's ID.
	rt := b.Nodes[0].RT
	b.StopNode(0)
	rt.NodeID = "node1" // same ID as its data dir
	rt.Bootstrap = false
	rt.Join = []string{a.Nodes[0].D.APIURL()}
	d, err := daemon.New(rt, daemon.Options{Logger: testutil.Logger(t, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	select {
	case err := <-d.Fatal():
		if !strings.Contains(err.Error(), "another cluster") && !strings.Contains(err.Error(), "already taken") {
			t.Errorf("fatal error = %v", err)
		}
		t.Logf("join refused: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("join of a node from another cluster was not refused")
	}
}

// TestStart_FailureLeavesNothingRunning: a start that fails (DNS port
// taken) releases the API port and the Raft port and the data dir lock.
func TestStart_FailureLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	good := daemontest.Runtime("solo", filepath.Join(dir, "a"))
	good.Bootstrap = true
	d1, err := daemon.New(good, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d1.Shutdown(context.Background()) })

	rt := daemontest.Runtime("other", filepath.Join(dir, "b"))
	rt.Bootstrap = true
	rt.DNSAddr = d1.DNSAddr().String() // taken
	d2, _ := daemon.New(rt, daemon.Options{})
	if err := d2.Start(t.Context()); err == nil {
		d2.Shutdown(context.Background())
		t.Fatal("start with a taken DNS port succeeded")
	} else {
		t.Logf("start failed as expected: %v", err)
	}
	// The data dir is free again: a daemon on it starts.
	rt.DNSAddr = "127.0.0.1:0"
	d3, _ := daemon.New(rt, daemon.Options{})
	if err := d3.Start(t.Context()); err != nil {
		t.Fatalf("restart on the same data dir after a failed start: %v", err)
	}
	if err := d3.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestAdvertiseURLNeedsHost(t *testing.T) {
	rt := config.Runtime{NodeID: "n", DataDir: t.TempDir(), APIAddr: "0.0.0.0:0", DNSAddr: "127.0.0.1:0",
		RaftAddr: "127.0.0.1:0", Bootstrap: true}
	d, _ := daemon.New(rt, daemon.Options{})
	err := d.Start(t.Context())
	if err == nil {
		d.Shutdown(context.Background())
		t.Fatal("start with api on every interface and no advertise address succeeded")
	}
	if !strings.Contains(err.Error(), "api_advertise") {
		t.Errorf("error does not say what to set: %v", err)
	}
}

// TestCluster_MembershipThroughAPI: a fourth node joins, leadership is
// handed to a chosen node, and the fourth node is removed, all through a
// follower's API.
func TestCluster_MembershipThroughAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four daemons over loopback TCP; skipped with -short")
	}
	c := daemontest.Start(t, 3, testutil.Logger(t, slog.LevelWarn))
	ctx := t.Context()
	leader := c.WaitLeader(10 * time.Second)

	rt := daemontest.Runtime("node4", filepath.Join(t.TempDir(), "node4"))
	rt.Join = []string{c.Nodes[c.Follower()].D.APIURL()}
	c.Nodes = append(c.Nodes, &daemontest.Node{RT: rt})
	c.StartNode(3)
	members := func(n int) func() bool {
		return func() bool {
			ms, err := c.Nodes[0].Client.Members(ctx)
			if err != nil || len(ms) != n {
				return false
			}
			for _, m := range ms {
				if m.APIAddr == "" { // the join's member record is not committed yet
					return false
				}
			}
			return true
		}
	}
	testutil.WaitFor(t, 20*time.Second, members(4), "four members with their API addresses")

	// Hand leadership to a chosen follower through another follower.
	var target, via int = -1, -1
	for i := range 3 {
		if i == leader {
			continue
		}
		if target < 0 {
			target = i
		} else {
			via = i
		}
	}
	if err := c.Nodes[via].Client.TransferLeadership(ctx, c.Nodes[target].RT.NodeID); err != nil {
		t.Fatalf("transfer to %s: %v", c.Nodes[target].RT.NodeID, err)
	}
	if got := c.WaitLeader(10 * time.Second); got != target {
		t.Errorf("leader after transfer = %s, want %s", c.Nodes[got].RT.NodeID, c.Nodes[target].RT.NodeID)
	}

	// Remove node4 through a follower.
	if err := c.Nodes[c.Follower()].Client.RemoveMember(ctx, "node4"); err != nil {
		t.Fatalf("remove node4: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, members(3), "three members after removing node4")
	err := c.Nodes[0].Client.RemoveMember(ctx, "node4")
	if !api.IsCode(err, api.CodeUnknownMember) {
		t.Errorf("second removal = %v, want unknown_member", err)
	}
	c.StopNode(3)
}
