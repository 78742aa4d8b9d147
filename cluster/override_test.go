package cluster

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

const pool0, pool1 = "pool0.example.test.", "pool1.example.test."

// gatedSpec is testSpec(v, 2) with pool0's failback set to failback.
func gatedSpec(v int, failback string) *policy.Spec {
	s := testSpec(v, 2)
	s.Pools[0].Failback = failback
	return s
}

// answer returns the names of the endpoints pool answers with in st.
func answer(st *policy.State, pool string) []string {
	var out []string
	for _, ep := range st.PoolAnswer(st.Spec.Pool(pool)).Endpoints {
		out = append(out, ep.Name)
	}
	return out
}

func setCmd(kind, pool, ep, state string, at time.Time, force bool) setOverrideCmd {
	return setOverrideCmd{Override: policy.Override{Kind: kind, Pool: pool, Endpoint: ep, State: state, Actor: "alice", Reason: "test", Created: at}, Force: force}
}

// withOverrides returns the state of the golden version 3 snapshot:
// withHealth's members and views, pool0 gated (failback manual) and held
// on its second tier, a pin with an expiry on pool1, a drain and a force.
func withOverrides(t *testing.T) *fsm {
	t.Helper()
	f := voters(t, 2)
	applyCmd(t, f, 6, applySpecType, applySpecCmd{Spec: gatedSpec(2, "manual"), At: t0})
	report(t, f, 7, "n1", t0.Add(time.Second), failing(0, "us-east-1"))
	report(t, f, 8, "n2", t0.Add(2*time.Second), failing(0, "us-east-1"))
	exp := t0.Add(time.Hour)
	pin := setCmd(policy.OverridePin, pool1, "ap-south-1", "", t0.Add(3*time.Second), false)
	pin.Override.Expires = &exp
	for i, c := range []setOverrideCmd{
		pin,
		setCmd(policy.OverrideDrain, pool0, "ap-south-1", "", t0.Add(4*time.Second), false),
		setCmd(policy.OverrideForce, pool1, "eu-west-1", policy.ForceUp, t0.Add(5*time.Second), false),
	} {
		if resp := applyCmd(t, f, uint64(9+i), setOverrideType, c); isError(resp) {
			t.Fatalf("set override %d: %v", i, resp)
		}
	}
	yes := true
	applyCmd(t, f, 12, reportViewsType, reportViewsCmd{Node: "n3", Degraded: &yes, At: t0.Add(6 * time.Second)})
	return f
}

func TestFSM_Overrides(t *testing.T) {
	f := voters(t, 2)
	resp := applyCmd(t, f, 6, setOverrideType, setCmd(policy.OverridePin, "POOL0.example.test", "eu-west-1", "", t0, false))
	res, ok := resp.(policy.OverrideResult)
	if !ok || res.Override == nil || res.Override.Pool != pool0 || res.Index != 6 {
		t.Fatalf("pin response %#v", resp)
	}
	st := f.current()
	if got := answer(st, pool0); !cmp.Equal(got, []string{"eu-west-1"}) || st.Index != 6 {
		t.Fatalf("pinned answer %v at %d", got, st.Index)
	}
	if st.ZoneSerials["example.test."] != 6 {
		t.Errorf("serial %d after the pin, want 6", st.ZoneSerials["example.test."])
	}

	// pool1: eu-west-1 and ap-south-1 down, so draining us-east-1 is
	// unsafe: refused, nothing published.
	report(t, f, 7, "n1", t0, failing(1, "eu-west-1"), failing(1, "ap-south-1"))
	report(t, f, 8, "n2", t0, failing(1, "eu-west-1"), failing(1, "ap-south-1"))
	before := f.current()
	resp = applyCmd(t, f, 9, setOverrideType, setCmd(policy.OverrideDrain, pool1, "us-east-1", "", t0, false))
	err, _ := resp.(error)
	var oe *policy.OverrideError
	if !errors.Is(err, policy.ErrUnsafe) || !errors.As(err, &oe) || len(oe.Remaining) != 3 || !strings.Contains(oe.Message, "eu-west-1: unhealthy") {
		t.Fatalf("unsafe drain response %#v", resp)
	}
	if f.current() != before {
		t.Fatal("a refused drain published a state")
	}
	// The same with force: applied, recorded as forced.
	resp = applyCmd(t, f, 10, setOverrideType, setCmd(policy.OverrideDrain, pool1, "us-east-1", "", t0, true))
	if res, ok := resp.(policy.OverrideResult); !ok || !res.Override.Forced {
		t.Fatalf("forced drain response %#v", resp)
	}
	st = f.current()
	if !st.PoolAnswer(st.Spec.Pool(pool1)).AllDown {
		t.Error("forced drain of the last healthy endpoint did not leave pool1 all down")
	}

	// Unknown pool and endpoint, nothing to clear.
	for _, tc := range []struct {
		typ  msgType
		cmd  any
		want error
	}{
		{setOverrideType, setCmd(policy.OverridePin, "nope.example.test.", "a", "", t0, false), policy.ErrUnknownPool},
		{setOverrideType, setCmd(policy.OverridePin, pool0, "nowhere", "", t0, false), policy.ErrUnknownEndpoint},
		{clearOverrideType, clearOverrideCmd{Kind: policy.OverrideForce, Pool: pool0, Endpoint: "us-east-1", Actor: "bob", At: t0}, policy.ErrNoOverride},
		{failbackType, failbackCmd{Pool: pool0, Actor: "bob", At: t0}, policy.ErrNoOverride},
	} {
		before := f.current()
		if resp := applyCmd(t, f, 11, tc.typ, tc.cmd); !errors.Is(resp.(error), tc.want) {
			t.Errorf("%#v: response %v, want %v", tc.cmd, resp, tc.want)
		}
		if f.current() != before {
			t.Errorf("%#v: a refusal published a state", tc.cmd)
		}
	}

	resp = applyCmd(t, f, 12, clearOverrideType, clearOverrideCmd{Kind: policy.OverridePin, Pool: pool0, Actor: "bob", Reason: "done", At: t0})
	if res, ok := resp.(policy.OverrideResult); !ok || res.Replaced == nil || res.Replaced.Endpoint != "eu-west-1" {
		t.Fatalf("release response %#v", resp)
	}
	if got := answer(f.current(), pool0); !cmp.Equal(got, []string{"us-east-1"}) {
		t.Errorf("after release %v", got)
	}
	msg := mustPanic(t, func() { f.Apply(&raft.Log{Index: 13, Data: append([]byte{byte(setOverrideType)}, "{not json"...)}) })
	if !strings.Contains(msg, "log entry 13 (set override) does not decode") {
		t.Errorf("panic %q", msg)
	}
}

func TestSnapshot_RoundTripWithOverrides(t *testing.T) {
	src := withOverrides(t)
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, src.current()); err != nil {
		t.Fatal(err)
	}
	dst := newFSM(slog.New(slog.DiscardHandler))
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	got := dst.current()
	if diff := cmp.Diff(src.current(), got); diff != "" {
		t.Fatalf("restored (-want +got):\n%s", diff)
	}
	if len(got.Overrides()) != 3 || got.Failbacks[pool0].Tier != 2 {
		t.Errorf("restored overrides %+v holds %+v", got.Overrides(), got.Failbacks)
	}
	if a := answer(got, pool1); !cmp.Equal(a, []string{"ap-south-1"}) {
		t.Errorf("restored pool1 answer %v, want the pin", a)
	}
}

func TestNode_OverrideBadRequests(t *testing.T) {
	n, err := New(nodeConfig(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"pin without actor": func() error { _, err := n.SetPin(ctx, PinRequest{Pool: pool0, Endpoint: "a"}); return err },
		"drain without endpoint": func() error {
			_, err := n.SetDrain(ctx, DrainRequest{Pool: pool0, Actor: "a"})
			return err
		},
		"force sideways": func() error {
			_, err := n.SetForce(ctx, ForceRequest{Pool: pool0, Endpoint: "a", State: "sideways", Actor: "a"})
			return err
		},
		"negative expiry": func() error {
			_, err := n.SetPin(ctx, PinRequest{Pool: pool0, Endpoint: "a", Actor: "a", ExpiresIn: -time.Second})
			return err
		},
		"clear without pool":     func() error { _, err := n.ClearDrain(ctx, ReleaseRequest{Endpoint: "a", Actor: "a"}); return err },
		"failback without actor": func() error { _, err := n.Failback(ctx, FailbackRequest{Pool: pool0}); return err },
	} {
		if err := call(); !errors.Is(err, policy.ErrBadOverride) {
			t.Errorf("%s: %v, want ErrBadOverride", name, err)
		}
	}
}

// TestCluster_Overrides runs overrides on three loopback nodes: a pin
// sent to the leader changes every node's answer, a follower refuses with
// the leader's address, a refused unsafe drain changes nothing, of two
// racing drains only one passes, an expiry
// driven by the leader's tasks hands control back to health, gated
// failback holds and then returns after its hold time, and overrides
// survive a restart of every node.
func TestCluster_Overrides(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	ctx := t.Context()
	if _, err := leader.ApplySpec(ctx, gatedSpec(1, "1s")); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()

	// A follower refuses and names the leader.
	var nl *NotLeaderError
	if _, err := c.followers(leader)[0].SetPin(ctx, PinRequest{Pool: pool0, Endpoint: "eu-west-1", Actor: "alice"}); !errors.As(err, &nl) || nl.LeaderID != leader.ID() {
		t.Fatalf("SetPin on a follower: %v", err)
	}

	// Pin with an expiry: every node answers eu-west-1, then, once the
	// leader releases it, us-east-1 again.
	sent := time.Now()
	res, err := leader.SetPin(ctx, PinRequest{Pool: "pool0.example.test", Endpoint: "eu-west-1", Actor: "alice", Reason: "drill", ExpiresIn: 1500 * time.Millisecond})
	if err != nil || res.Override == nil || res.Override.Expires == nil || len(res.Warnings) != 0 {
		t.Fatalf("SetPin: %+v, %v", res, err)
	}
	for _, n := range c.live() {
		testutil.WaitFor(t, testTimeout, func() bool { return cmp.Equal(answer(n.State(), pool0), []string{"eu-west-1"}) }, "%s to answer the pin", n.ID())
	}
	t.Logf("pin on the leader answered by all three nodes %v after the call", time.Since(sent))
	st := c.waitConverged()
	if o := st.Overrides(); len(o) != 1 || o[0].Actor != "alice" || !o[0].Created.Equal(res.Override.Created) {
		t.Fatalf("overrides %+v", o)
	}
	for _, n := range c.live() {
		testutil.WaitFor(t, testTimeout, func() bool { return cmp.Equal(answer(n.State(), pool0), []string{"us-east-1"}) }, "%s to answer us-east-1 after the expiry", n.ID())
	}
	st = c.waitConverged()
	if len(st.Overrides()) != 0 {
		t.Fatalf("pin still there after expiry: %+v", st.Overrides())
	}
	if e := lastEvent(st, policy.EventOverrideExpired); e == nil || e.Actor != policy.ActorDetour {
		t.Errorf("expiry event %+v", e)
	}

	// pool1's standbys fail (two of three voters): draining its primary is
	// refused and changes nothing but the log.
	fails := []policy.ViewUpdate{failing(1, "eu-west-1"), failing(1, "ap-south-1")}
	for _, n := range c.followers(leader) {
		if err := leader.ReportViews(ctx, ViewReport{Node: n.ID(), Views: fails}); err != nil {
			t.Fatal(err)
		}
	}
	before := c.waitConverged()
	r, _ := leader.running()
	last := r.LastIndex()
	_, err = leader.SetDrain(ctx, DrainRequest{Pool: pool1, Endpoint: "us-east-1", Actor: "bob"})
	var oe *policy.OverrideError
	if !errors.Is(err, policy.ErrUnsafe) || !errors.As(err, &oe) || len(oe.Remaining) != 3 {
		t.Fatalf("unsafe drain: %v", err)
	}
	if r.LastIndex() != last+1 {
		t.Errorf("the refused drain took %d log entries, want 1", r.LastIndex()-last)
	}
	for _, n := range c.live() {
		rn, err := n.running()
		if err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, testTimeout, func() bool { return rn.AppliedIndex() > last }, "%s to apply the refused drain", n.ID())
		if st := n.State(); st.Index != before.Index || !cmp.Equal(answer(st, pool1), []string{"us-east-1"}) {
			t.Errorf("%s after a refused drain: index %d (want %d), answer %v", n.ID(), st.Index, before.Index, answer(st, pool1))
		}
	}

	// Gated failback: pool0's primary fails, then recovers; the pool stays
	// on eu-west-1 for the hold time (1 s), then the leader fails it back.
	down := []policy.ViewUpdate{failing(0, "us-east-1")}
	for _, n := range c.followers(leader) {
		if err := leader.ReportViews(ctx, ViewReport{Node: n.ID(), Views: down}); err != nil {
			t.Fatal(err)
		}
	}
	st = c.waitConverged()
	if !cmp.Equal(answer(st, pool0), []string{"eu-west-1"}) || st.Failbacks[pool0].Tier != 2 {
		t.Fatalf("after the primary failed: answer %v holds %+v", answer(st, pool0), st.Failbacks)
	}
	up := []policy.ViewUpdate{{Pool: pool0, Endpoint: "us-east-1", Healthy: true}}
	recovered := time.Now()
	for _, n := range c.followers(leader) {
		if err := leader.ReportViews(ctx, ViewReport{Node: n.ID(), Views: up}); err != nil {
			t.Fatal(err)
		}
	}
	st = leader.State()
	if !cmp.Equal(answer(st, pool0), []string{"eu-west-1"}) || !st.PoolAnswer(st.Spec.Pool(pool0)).Held {
		t.Fatalf("right after recovery: answer %v, want held on eu-west-1", answer(st, pool0))
	}
	for _, n := range c.live() {
		testutil.WaitFor(t, testTimeout, func() bool { return cmp.Equal(answer(n.State(), pool0), []string{"us-east-1"}) }, "%s to fail back", n.ID())
	}
	if held := time.Since(recovered); held < time.Second {
		t.Errorf("failed back after %v, before the 1 s hold time", held)
	}
	st = c.waitConverged()
	if e := lastEvent(st, policy.EventPoolFailback); e == nil || e.Actor != policy.ActorDetour || !strings.Contains(e.Reason, "hold time passed") {
		t.Errorf("failback event %+v", e)
	}

	// Two racing drains of pool0's two healthy endpoints (ap-south-1 is
	// forced down): each is checked against the state it applies to, so
	// exactly one passes.
	if _, err := leader.SetForce(ctx, ForceRequest{Pool: pool0, Endpoint: "ap-south-1", State: "down", Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, ep := range []string{"us-east-1", "eu-west-1"} {
		go func() {
			_, err := leader.SetDrain(ctx, DrainRequest{Pool: pool0, Endpoint: ep, Actor: "dave"})
			errs <- err
		}()
	}
	passed, refused := 0, 0
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			passed++
		case errors.Is(err, policy.ErrUnsafe):
			refused++
		default:
			t.Fatalf("racing drain: %v", err)
		}
	}
	if passed != 1 || refused != 1 {
		t.Fatalf("racing drains: %d passed, %d refused; want one each", passed, refused)
	}

	// Overrides survive a restart of every node.
	c.waitConverged()
	for _, n := range c.live() {
		// The force is restored from a snapshot, the pin below replayed
		// from the log.
		if err := n.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot %s: %v", n.ID(), err)
		}
	}
	if _, err := leader.SetPin(ctx, PinRequest{Pool: pool1, Endpoint: "ap-south-1", Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	before = c.waitConverged()
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.RaftAddr()
		c.closeNode(i)
	}
	for i := range c.nodes {
		cfg := c.cfgs[i]
		cfg.RaftAddr = addrs[i]
		c.nodes[i] = startNode(t, cfg)
	}
	testutil.WaitFor(t, testTimeout, func() bool {
		for _, n := range c.live() {
			if n.State().Index < before.Index {
				return false
			}
		}
		return true
	}, "every node to replay up to index %d", before.Index)
	after := c.waitConverged()
	if diff := cmp.Diff(before.Overrides(), after.Overrides()); diff != "" || len(after.Overrides()) != 3 {
		t.Errorf("overrides after restart (-before +after):\n%s", diff)
	}
	if !cmp.Equal(answer(after, pool1), []string{"ap-south-1"}) {
		t.Errorf("pool1 after restart answers %v, want the pin", answer(after, pool1))
	}
}

// lastEvent returns the newest event of kind in st, or nil.
func lastEvent(st *policy.State, kind string) *policy.Event {
	for i := len(st.Events) - 1; i >= 0; i-- {
		if st.Events[i].Kind == kind {
			return &st.Events[i]
		}
	}
	return nil
}

// BenchmarkOverrideApply measures the FSM's apply of a pin in a state of
// 5,000 pools whose views of 5,000 endpoints are recorded (the state of
// BenchmarkAgreementApplyOneFlip), including the decoding, the safety
// checks, the event and the zone serials; and of a drain of a standby.
func BenchmarkOverrideApply(b *testing.B) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		cmd  setOverrideCmd
	}{
		{"pin", setOverrideCmd{Override: policy.Override{Kind: policy.OverridePin, Pool: "pool7.example.test.", Endpoint: "eu-west-1", Actor: "bench", Created: now}}},
		{"drain", setOverrideCmd{Override: policy.Override{Kind: policy.OverrideDrain, Pool: "pool7.example.test.", Endpoint: "eu-west-1", Actor: "bench", Created: now}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := outageFSM(b, now)
			base := f.current()
			data, err := encodeCommand(setOverrideType, tc.cmd)
			if err != nil {
				b.Fatal(err)
			}
			log := &raft.Log{Index: base.Index + 1, Data: data}
			b.ReportAllocs()
			for b.Loop() {
				f.state.Store(base)
				if resp := f.Apply(log); isError(resp) {
					b.Fatal(resp)
				}
			}
			if st := f.current(); len(st.Overrides()) != 1 {
				b.Fatalf("%d overrides after the apply", len(st.Overrides()))
			}
		})
	}
}
