package daemon_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
	"github.com/detour-dns/detour/policy"
)

// backend is a local HTTP server whose /healthz answers with status.
type backend struct {
	*httptest.Server
	status atomic.Int32
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	b.status.Store(200)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(b.status.Load()))
		fmt.Fprintln(w, "backend says", b.status.Load())
	}))
	t.Cleanup(b.Close)
	return b
}

// probeSpec is a failover pool whose endpoints answer 198.51.100.1 and .2
// but are probed at the local backends primary and secondary.
func probeSpec(primary, secondary *backend) []byte {
	return fmt.Appendf(nil, `zones:
  - name: example.test.
    soa: {mname: ns1.example.test., rname: hostmaster.example.test.}
    nameservers:
      - {name: ns1.example.test., addresses: [127.0.0.1]}
pools:
  - name: www.example.test.
    policy: failover
    ttl: 5
    check: {type: http, path: /healthz, expect_status: [200], interval: 200ms, timeout: 150ms, rise: 2, fall: 2}
    endpoints:
      - {name: primary, priority: 1, addresses: [198.51.100.1], check_address: "%s"}
      - {name: secondary, priority: 2, addresses: [198.51.100.2], check_address: "%s"}
`, primary.Listener.Addr(), secondary.Listener.Addr())
}

// viewsOf returns the nodes whose committed view of www's endpoint ep in
// n's state says healthy.
func viewsOf(n *daemontest.Node, ep string, healthy bool) []string {
	var nodes []string
	for _, v := range n.D.Node().State().EndpointHealth("www.example.test.", ep).Views {
		if v.Healthy == healthy {
			nodes = append(nodes, v.Node)
		}
	}
	return nodes
}

// TestCluster_ProbesDecideAnswers: every node probes the endpoints and
// reports its verdicts (followers through the leader's API); a failing
// primary moves the answer on every node, with an event carrying the
// evidence; after a leader change the nodes resend their views in full.
func TestCluster_ProbesDecideAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three daemons over loopback TCP; skipped with -short")
	}
	primary, secondary := newBackend(t), newBackend(t)
	c := daemontest.Start(t, 3, testutil.Logger(t, slog.LevelWarn))
	ctx := t.Context()
	if _, err := c.Nodes[c.Follower()].Client.ApplySpec(ctx, probeSpec(primary, secondary), false); err != nil {
		t.Fatal(err)
	}
	c.WaitSpecVersion(1, 10*time.Second)
	all := []string{"node1", "node2", "node3"}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, n := range c.Nodes {
			if !slices.Equal(viewsOf(n, "primary", true), all) || !slices.Equal(viewsOf(n, "secondary", true), all) {
				return false
			}
		}
		return true
	}, "every node's healthy view of both endpoints on every node")
	for _, n := range c.Nodes {
		if got := queryA(t, n, "www.example.test."); !slices.Equal(got, []string{"198.51.100.1"}) {
			t.Errorf("%s answers %v, want the primary", n.RT.NodeID, got)
		}
	}

	primary.status.Store(503)
	start := time.Now()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, n := range c.Nodes {
			if !slices.Equal(queryA(t, n, "www.example.test."), []string{"198.51.100.2"}) {
				return false
			}
		}
		return true
	}, "every node to answer the secondary")
	t.Logf("failover on all three nodes %s after the primary started failing (interval 200ms, fall 2)", time.Since(start))

	evs, err := c.Nodes[0].Client.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var down *policy.Event
	for i, e := range evs.Events {
		if e.Kind == policy.EventEndpointDown && e.Endpoint == "primary" {
			down = &evs.Events[i]
		}
	}
	if down == nil || down.Details == nil {
		t.Fatalf("no endpoint_down event for the primary: %+v", evs.Events)
	}
	failing := 0
	for node, v := range down.Details.Views {
		if !v.Healthy {
			failing++
			if len(v.Evidence) == 0 || v.Evidence[len(v.Evidence)-1].Status != 503 || v.Evidence[len(v.Evidence)-1].Class != "status" {
				t.Errorf("%s's evidence = %+v, want a 503 status failure", node, v.Evidence)
			}
		}
	}
	if failing < 2 {
		t.Errorf("endpoint_down with %d failing views: %+v", failing, down.Details.Views)
	}

	// A follower's pool page shows its own latest results.
	f := c.Follower()
	p, err := c.Nodes[f].Client.Pool(ctx, "www.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoints[0].Healthy || len(p.Endpoints[0].Local) == 0 || !slices.Equal(p.Answer.Endpoints, []string{"secondary"}) {
		t.Errorf("pool page on %s = %+v", c.Nodes[f].RT.NodeID, p)
	}
	if st := c.Nodes[f].D.ReportStats(); st.Sent == 0 || st.Full == 0 {
		t.Errorf("%s report stats = %+v", c.Nodes[f].RT.NodeID, st)
	}

	// Back after rise successes.
	primary.status.Store(200)
	start = time.Now()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, n := range c.Nodes {
			if !slices.Equal(queryA(t, n, "www.example.test."), []string{"198.51.100.1"}) {
				return false
			}
		}
		return true
	}, "every node to answer the primary again")
	t.Logf("failback on all three nodes %s after the primary recovered", time.Since(start))

	// A new leader gets full reports from the others.
	leader := c.WaitLeader(5 * time.Second)
	before := make([]int, len(c.Nodes))
	for i, n := range c.Nodes {
		before[i] = n.D.ReportStats().Full
	}
	c.StopNode(leader)
	c.WaitLeader(10 * time.Second)
	for i, n := range c.Nodes {
		if i == leader {
			continue
		}
		testutil.WaitFor(t, 10*time.Second, func() bool { return n.D.ReportStats().Full > before[i] },
			"%s to send a full report to the new leader", n.RT.NodeID)
	}
}

// TestViews_BadInput: the internal views endpoint refuses a report of a
// node that is not a member, and changes nothing.
func TestViews_BadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon over loopback TCP; skipped with -short")
	}
	c := daemontest.Start(t, 1, testutil.Logger(t, slog.LevelError))
	idx := c.Nodes[0].D.Node().State().Index
	err := c.Nodes[0].Client.ReportViews(t.Context(), api.ViewReport{Node: "ghost",
		Views: []policy.ViewUpdate{{Pool: "www.example.test.", Endpoint: "x"}}})
	if !api.IsCode(err, api.CodeUnknownMember) {
		t.Errorf("report of a non-member = %v, want unknown_member", err)
	}
	if got := c.Nodes[0].D.Node().State().Index; got != idx {
		// The node's own reports may commit meanwhile; none of them
		// carries ghost's views.
		if _, ok := c.Nodes[0].D.Node().State().Views["www.example.test."]; ok {
			t.Errorf("ghost's report changed the state")
		}
	}
}

// TestCluster_DegradedNode: a node whose every canary fails reports itself
// degraded; the status, the state and the events say so.
func TestCluster_DegradedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon over loopback TCP; skipped with -short")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there any more: the canary is refused
	c := daemontest.StartWith(t, 1, testutil.Logger(t, slog.LevelError), func(rt *config.Runtime) {
		rt.Probe.Canaries = []string{closed}
	})
	n := c.Nodes[0]
	testutil.WaitFor(t, 15*time.Second, func() bool { return n.D.Node().State().IsDegraded("node1") },
		"node1 to be degraded in the replicated state")
	st, err := n.Client.Status(t.Context())
	if err != nil || !st.Degraded || !slices.Equal(st.DegradedNodes, []string{"node1"}) {
		t.Errorf("status = %+v, %v; want degraded", st, err)
	}
	evs, err := n.Client.Events(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs.Events {
		found = found || (e.Kind == policy.EventNodeDegraded && e.Node == "node1")
	}
	if !found {
		t.Errorf("no node_degraded event in %+v", evs.Events)
	}
}
