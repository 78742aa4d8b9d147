package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

// t0 is the time stamped on commands in the FSM tests.
var t0 = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

// voters returns an fsm with three voting members n1..n3 and testSpec(1,
// pools) applied (indexes 1-5).
func voters(t *testing.T, pools int) *fsm {
	t.Helper()
	f := newFSM(slog.New(slog.DiscardHandler))
	applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "0123456789abcdef0123456789abcdef"})
	for i := 1; i <= 3; i++ {
		m := policy.Member{ID: fmt.Sprintf("n%d", i), Region: fmt.Sprintf("region-%d", i), RaftAddr: fmt.Sprintf("127.0.0.%d:8054", i), Voter: true}
		applyCmd(t, f, uint64(1+i), upsertMemberType, upsertMemberCmd{Member: m, At: t0})
	}
	applyCmd(t, f, 5, applySpecType, applySpecCmd{Spec: testSpec(1, pools), At: t0})
	return f
}

// failing returns an unhealthy view of pool i's endpoint ep with one
// result of evidence.
func failing(i int, ep string) policy.ViewUpdate {
	return policy.ViewUpdate{Pool: fmt.Sprintf("pool%d.example.test.", i), Endpoint: ep, Healthy: false,
		Evidence: []policy.ProbeResult{{Time: t0, Duration: policy.Duration(3 * time.Millisecond), Class: "status", Status: 503, Error: "status 503", Body: "down"}}}
}

// report applies a report of node at index and returns the response.
func report(t *testing.T, f *fsm, index uint64, node string, at time.Time, views ...policy.ViewUpdate) any {
	t.Helper()
	return applyCmd(t, f, index, reportViewsType, reportViewsCmd{Node: node, Views: views, At: at})
}

// withHealth returns the state of the golden version 2 snapshot: three
// voters, two pools, n1 and n2 failing pool0's primary (flipped), n3
// degraded.
func withHealth(t *testing.T) *fsm {
	t.Helper()
	f := voters(t, 2)
	report(t, f, 6, "n1", t0.Add(time.Second), failing(0, "us-east-1"))
	report(t, f, 7, "n2", t0.Add(2*time.Second), failing(0, "us-east-1"), failing(1, "ap-south-1"))
	yes := true
	applyCmd(t, f, 8, reportViewsType, reportViewsCmd{Node: "n3", Degraded: &yes, At: t0.Add(3 * time.Second)})
	return f
}

func TestFSM_ReportViews(t *testing.T) {
	f := voters(t, 3)
	base := f.current()
	if base.Voters() != 3 || !base.EndpointHealthy("pool0.example.test.", "us-east-1") {
		t.Fatalf("base: %d voters, healthy %v", base.Voters(), base.EndpointHealthy("pool0.example.test.", "us-east-1"))
	}
	serial := base.ZoneSerials["example.test."]

	// One node's report of every endpoint of every pool is one entry; it
	// is recorded but flips nothing.
	var all []policy.ViewUpdate
	for i := range 3 {
		for _, ep := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
			all = append(all, failing(i, ep))
		}
	}
	if resp := report(t, f, 6, "n1", t0.Add(time.Second), all...); resp != nil {
		t.Fatalf("report response = %v", resp)
	}
	one := f.current()
	if got := len(one.Views); got != 3 {
		t.Errorf("views recorded for %d pools, want 3", got)
	}
	if !one.EndpointHealthy("pool0.example.test.", "us-east-1") || one.Down != nil {
		t.Errorf("one failing node flipped health: down %v", one.Down)
	}
	if one.ZoneSerials["example.test."] != serial {
		t.Error("the zone serial changed although no answer changed")
	}

	// A second node flips pool0's primary: the pool answers eu-west-1, the
	// serial follows, an event carries both views.
	report(t, f, 7, "n2", t0.Add(2*time.Second), failing(0, "us-east-1"))
	two := f.current()
	if two.EndpointHealthy("pool0.example.test.", "us-east-1") {
		t.Fatal("two failing voters of three did not flip the endpoint")
	}
	if a := two.PoolAnswer(&two.Spec.Pools[0]); len(a.Endpoints) != 1 || a.Endpoints[0].Name != "eu-west-1" {
		t.Errorf("pool0 answers %v, want eu-west-1", a.Endpoints)
	}
	if two.ZoneSerials["example.test."] != 7 {
		t.Errorf("zone serial %d, want 7 after the answer changed", two.ZoneSerials["example.test."])
	}
	last := two.Events[len(two.Events)-1]
	if last.Kind != policy.EventEndpointDown || last.Pool != "pool0.example.test." || last.Endpoint != "us-east-1" ||
		!last.Time.Equal(t0.Add(2*time.Second)) || len(last.Details.Views) != 2 || last.Details.Views["n2"].Evidence[0].Status != 503 {
		t.Errorf("last event = %+v", last)
	}
	// Copy-on-write: the earlier states are as they were.
	if one.Down != nil || len(one.Views["pool0.example.test."]["us-east-1"]) != 1 || len(base.Views) != 0 {
		t.Error("an earlier published state changed")
	}

	// A full resend from n2 without pool0's primary drops that view: the
	// endpoint is healthy again.
	applyCmd(t, f, 8, reportViewsType, reportViewsCmd{Node: "n2", Full: true, Views: []policy.ViewUpdate{failing(2, "eu-west-1")}, At: t0.Add(3 * time.Second)})
	full := f.current()
	if _, has := full.Views["pool0.example.test."]["us-east-1"]["n2"]; has {
		t.Error("full resend kept a view it did not list")
	}
	if _, has := full.Views["pool2.example.test."]["eu-west-1"]["n2"]; !has {
		t.Error("full resend lost a view it listed")
	}
	if !full.EndpointHealthy("pool0.example.test.", "us-east-1") {
		t.Error("endpoint still down after n2 dropped its view")
	}
	// n1 and n2 now both fail pool2/eu-west-1 (a standby): it is down,
	// while pool2 still answers its healthy primary.
	if full.EndpointHealthy("pool2.example.test.", "eu-west-1") {
		t.Error("pool2/eu-west-1 failed by n1 and n2 is healthy")
	}
	if full.ZoneSerials["example.test."] != 8 {
		t.Errorf("zone serial %d, want 8 (pool0's answer came back)", full.ZoneSerials["example.test."])
	}

	// Removing n1 drops its views. Two voters remain, whose majority is
	// both: n2's view alone now keeps pool2/eu-west-1 down.
	applyCmd(t, f, 9, removeMemberType, removeMemberCmd{ID: "n1", At: t0.Add(4 * time.Second)})
	removed := f.current()
	for pool, pm := range removed.Views {
		for ep, views := range pm {
			if _, has := views["n1"]; has {
				t.Errorf("removed member's view of %s/%s kept", pool, ep)
			}
		}
	}
	if h := removed.EndpointHealth("pool2.example.test.", "eu-west-1"); h.Healthy || h.Voters != 2 || h.Quorum != 2 || h.Unhealthy != 1 || len(h.Views) != 1 {
		t.Errorf("after removing n1: %+v, want down with 2 voters, quorum 2, n2's view only", h)
	}
	if _, has := removed.Views["pool0.example.test."]; has {
		t.Errorf("pool0 keeps views after the only node with views of it left: %v", removed.Views["pool0.example.test."])
	}

	// A report from a non-member is rejected and changes nothing.
	resp := report(t, f, 10, "n1", t0.Add(5*time.Second), failing(0, "us-east-1"))
	if err, ok := resp.(error); !ok || !errors.Is(err, ErrUnknownMember) {
		t.Errorf("report from a removed member = %v, want ErrUnknownMember", resp)
	}
	if f.current() != removed {
		t.Error("a rejected report published a state")
	}

	// Views of unknown pools and endpoints are ignored.
	report(t, f, 11, "n3", t0, policy.ViewUpdate{Pool: "nope.example.test.", Endpoint: "x"}, policy.ViewUpdate{Pool: "pool0.example.test.", Endpoint: "x"})
	if got := f.current(); !cmp.Equal(got.Views, removed.Views) {
		t.Errorf("views of unknown endpoints were recorded: %v", got.Views)
	}
}

func TestFSM_SpecChangeKeepsOnlyViewsOfExistingEndpoints(t *testing.T) {
	f := voters(t, 3)
	report(t, f, 6, "n1", t0, failing(0, "us-east-1"), failing(2, "us-east-1"))
	report(t, f, 7, "n2", t0, failing(0, "us-east-1"), failing(2, "us-east-1"))
	if f.current().EndpointHealthy("pool2.example.test.", "us-east-1") {
		t.Fatal("pool2/us-east-1 not down before the spec change")
	}
	// The new spec has pools 0 and 1 only, and pool0 lost its primary.
	spec := testSpec(2, 2)
	spec.Pools[0].Endpoints = spec.Pools[0].Endpoints[1:]
	applyCmd(t, f, 8, applySpecType, applySpecCmd{Spec: spec, At: t0})
	st := f.current()
	if st.Views != nil || st.Down != nil {
		t.Errorf("views of removed endpoints kept: views %v down %v", st.Views, st.Down)
	}
	if ev := st.Events[len(st.Events)-1]; ev.Kind != policy.EventSpecApplied || ev.Details.SpecVersion != 2 || ev.Details.Pools != 2 {
		t.Errorf("last event = %+v, want spec_applied version 2 with 2 pools", ev)
	}

	// A spec that keeps the endpoints keeps their views and health.
	f = voters(t, 3)
	report(t, f, 6, "n1", t0, failing(1, "us-east-1"))
	report(t, f, 7, "n2", t0, failing(1, "us-east-1"))
	applyCmd(t, f, 8, applySpecType, applySpecCmd{Spec: testSpec(3, 3), At: t0})
	st = f.current()
	if len(st.Views["pool1.example.test."]["us-east-1"]) != 2 || st.EndpointHealthy("pool1.example.test.", "us-east-1") {
		t.Errorf("views of kept endpoints lost: %v", st.Views)
	}
}

func TestFSM_UndecodableReportPanics(t *testing.T) {
	f := voters(t, 1)
	msg := mustPanic(t, func() {
		f.Apply(&raft.Log{Index: 9, Data: append([]byte{byte(reportViewsType)}, `{"node":"n1","views":{"x":1}}`...)})
	})
	if !strings.Contains(msg, "log entry 9 (report views) does not decode") {
		t.Errorf("panic %q", msg)
	}
}

func TestSnapshot_RoundTripWithViews(t *testing.T) {
	src := withHealth(t)
	snap, _ := src.Snapshot()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	dst := newFSM(slog.New(slog.DiscardHandler))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want, got := src.current(), dst.current()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("restored (-want +got):\n%s", diff)
	}
	if got.EndpointHealthy("pool0.example.test.", "us-east-1") || !got.IsDegraded("n3") {
		t.Error("restored state lost effective health or the degraded flag")
	}
	// The restored node goes on where the source was: the next event
	// index continues.
	report(t, src, 9, "n1", t0, failing(1, "eu-west-1"))
	report(t, dst, 9, "n1", t0, failing(1, "eu-west-1"))
	if diff := cmp.Diff(src.current(), dst.current()); diff != "" {
		t.Errorf("the restored FSM diverged on the next command (-src +dst):\n%s", diff)
	}
}

// TestCluster_Agreement runs three nodes over loopback TCP: a report from
// one node changes nothing; the same from a second node flips effective
// health on all three, and recovery of one of them flips it back.
func TestCluster_Agreement(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	ctx := t.Context()
	if _, err := leader.ApplySpec(ctx, testSpec(1, 2)); err != nil {
		t.Fatal(err)
	}
	st := c.waitConverged()
	if st.Voters() != 3 {
		t.Fatalf("state records %d voters, want 3: %+v", st.Voters(), st.Members)
	}
	const pool, ep = "pool0.example.test.", "us-east-1"

	// A member that is not in the Raft configuration (a removal whose
	// second step never committed) loses its vote when the leader syncs
	// voters, as it does on gaining leadership; a real member whose flag
	// was lost gets it back.
	ghost := policy.Member{ID: "departed", RaftAddr: "127.0.0.1:1", Voter: true}
	stale := st.Members[c.followers(leader)[0].ID()]
	stale.Voter = false
	for _, m := range []policy.Member{ghost, stale} {
		if _, err := leader.propose(ctx, "test", upsertMemberType, upsertMemberCmd{Member: m}); err != nil {
			t.Fatal(err)
		}
	}
	if got := leader.State().Voters(); got != 3 {
		t.Fatalf("before sync: %d voters, want 3 (departed in, %s out)", got, stale.ID)
	}
	if err := leader.syncVoters(ctx); err != nil {
		t.Fatal(err)
	}
	st = c.waitConverged()
	if st.Members["departed"].Voter || !st.Members[stale.ID].Voter || st.Voters() != 3 {
		t.Fatalf("after sync: departed voter %v, %s voter %v, %d voters", st.Members["departed"].Voter, stale.ID, st.Members[stale.ID].Voter, st.Voters())
	}

	// A follower reporting to itself gets the leader's address.
	f := c.followers(leader)[0]
	var nl *NotLeaderError
	if err := f.ReportViews(ctx, ViewReport{Node: f.ID(), Views: []policy.ViewUpdate{failing(0, ep)}}); !errors.As(err, &nl) || nl.LeaderID != leader.ID() {
		t.Fatalf("ReportViews on a follower = %v, want *NotLeaderError naming %s", err, leader.ID())
	}
	if err := leader.ReportViews(ctx, ViewReport{Node: "", Views: nil}); err == nil {
		t.Error("ReportViews with an empty node id succeeded")
	}
	if err := leader.ReportViews(ctx, ViewReport{Node: "ghost", Views: []policy.ViewUpdate{failing(0, ep)}}); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("ReportViews of a non-member = %v, want ErrUnknownMember", err)
	}
	if err := leader.ReportViews(ctx, ViewReport{Node: f.ID(), Views: []policy.ViewUpdate{{Pool: pool}}}); err == nil || !strings.Contains(err.Error(), "views[0]") {
		t.Errorf("ReportViews with an empty endpoint = %v, want an error naming views[0]", err)
	}

	reporters := c.followers(leader)
	first := time.Now()
	r, _ := leader.running()
	before := r.LastIndex()
	var many []policy.ViewUpdate
	for i := range 2 {
		for _, ep := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
			many = append(many, failing(i, ep))
		}
	}
	if err := leader.ReportViews(ctx, ViewReport{Node: reporters[0].ID(), Views: many}); err != nil {
		t.Fatal(err)
	}
	if got := r.LastIndex() - before; got != 1 {
		t.Errorf("a report of %d flips took %d log entries, want 1", len(many), got)
	}
	st = c.waitConverged()
	if !st.EndpointHealthy(pool, ep) || st.Down != nil {
		t.Fatalf("one node's report flipped endpoints: %v", st.Down)
	}
	if got := len(st.Views["pool1.example.test."]); got != 3 {
		t.Errorf("pool1 has views of %d endpoints, want 3", got)
	}
	v := st.Views[pool][ep][reporters[0].ID()]
	if v.Healthy || v.Since.Before(first.Add(-time.Second)) || v.Since.After(time.Now()) {
		t.Errorf("view %+v: want unhealthy, stamped by the leader now", v)
	}

	if err := leader.ReportViews(ctx, ViewReport{Node: reporters[1].ID(), Views: []policy.ViewUpdate{failing(0, ep)}}); err != nil {
		t.Fatal(err)
	}
	st = c.waitConverged()
	for _, n := range c.live() {
		if n.State().EndpointHealthy(pool, ep) {
			t.Errorf("%s: endpoint healthy after two of three nodes failed it", n.ID())
		}
	}
	h := st.EndpointHealth(pool, ep)
	if h.Healthy || h.Voters != 3 || h.Quorum != 2 || h.Unhealthy != 2 || len(h.Views) != 2 {
		t.Errorf("EndpointHealth = %+v", h)
	}
	evs := st.EventsAfter(0, 0)
	if last := evs[len(evs)-1]; last.Kind != policy.EventEndpointDown || last.Endpoint != ep {
		t.Errorf("last event = %+v, want endpoint_down", last)
	}

	// One of them recovers: healthy again everywhere.
	up := policy.ViewUpdate{Pool: pool, Endpoint: ep, Healthy: true}
	if err := leader.ReportViews(ctx, ViewReport{Node: reporters[1].ID(), Views: []policy.ViewUpdate{up}}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	for _, n := range c.live() {
		if !n.State().EndpointHealthy(pool, ep) {
			t.Errorf("%s: endpoint still down after a node recovered", n.ID())
		}
	}

	// A degraded node's view stops counting.
	yes := true
	if err := leader.ReportViews(ctx, ViewReport{Node: reporters[1].ID(), Degraded: &yes, Views: []policy.ViewUpdate{failing(0, ep)}}); err != nil {
		t.Fatal(err)
	}
	st = c.waitConverged()
	if !st.EndpointHealthy(pool, ep) || !st.IsDegraded(reporters[1].ID()) {
		t.Errorf("degraded node moved traffic: healthy %v degraded %v", st.EndpointHealthy(pool, ep), st.IsDegraded(reporters[1].ID()))
	}
}

func TestFSM_LogsEvents(t *testing.T) {
	var buf bytes.Buffer
	f := voters(t, 20)
	f.logger = slog.New(slog.NewTextHandler(&buf, nil))
	var all []policy.ViewUpdate
	for i := range 20 {
		all = append(all, failing(i, "us-east-1"))
	}
	report(t, f, 6, "n1", t0, all...)
	if buf.Len() != 0 {
		t.Errorf("a report that changed no health logged:\n%s", buf.String())
	}
	report(t, f, 7, "n2", t0, all...)
	out := buf.String()
	if got := strings.Count(out, "kind=endpoint_down"); got != maxLoggedEvents {
		t.Errorf("%d endpoint_down lines, want %d:\n%s", got, maxLoggedEvents, out)
	}
	if !strings.Contains(out, "msg=\"more events\" count=10") {
		t.Errorf("no summary of the other 10 events:\n%s", out)
	}
}
