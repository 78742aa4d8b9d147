package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func gatedState(failback string) *State {
	spec := healthSpec(0, "")
	spec.Pools[0].Failback = failback
	return healthState(3, 0, spec)
}

func lastKinds(s *State, n int) string {
	return eventKinds(s.Events[max(0, len(s.Events)-n):])
}

func hasEvent(s *State, kind string) *Event {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if s.Events[i].Kind == kind {
			return &s.Events[i]
		}
	}
	return nil
}

func TestState_FailbackAuto(t *testing.T) {
	s := gatedState("")
	s = reportDown(s, "a")
	if got := answerNames(s, www); !cmp.Equal(got, []string{"b"}) {
		t.Fatalf("failed over to %v", got)
	}
	s = reportUp(s, at0.Add(time.Minute), "a")
	if got := answerNames(s, www); !cmp.Equal(got, []string{"a"}) || s.Failbacks != nil {
		t.Fatalf("auto failback: answer %v holds %v", got, s.Failbacks)
	}
}

func TestState_FailbackManual(t *testing.T) {
	s := gatedState("manual")
	s = reportDown(s, "a")
	if got := answerNames(s, www); !cmp.Equal(got, []string{"b"}) {
		t.Fatalf("failed over to %v", got)
	}
	if h, ok := s.Failbacks[www]; !ok || h.Tier != 2 {
		t.Fatalf("hold %+v", s.Failbacks)
	}
	if e := hasEvent(s, EventPoolFailover); e == nil || e.Details.FromTier != 1 || e.Details.Tier != 2 {
		t.Fatalf("failover event %+v", e)
	}
	s = reportUp(s, at0.Add(time.Minute), "a")
	a := s.PoolAnswer(s.Spec.Pool(www))
	if got := answerNames(s, www); !cmp.Equal(got, []string{"b"}) || !a.Held {
		t.Fatalf("manual pool failed back on its own: %v held %v", got, a.Held)
	}
	if h := s.Failbacks[www]; !h.BetterHealthySince.Equal(at0.Add(time.Minute)) {
		t.Errorf("hold %+v, want better healthy since the report", h)
	}
	if hasEvent(s, EventFailbackHoldStarted) == nil {
		t.Errorf("no hold event: %s", lastKinds(s, 5))
	}
	if due, next := s.DueChanges(at0.Add(1000 * time.Hour)); len(due) != 0 || !next.IsZero() {
		t.Errorf("manual failback came due: %v %v", due, next)
	}
	// A leader-style failback is refused: manual waits for an operator.
	if _, _, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.Failback(FailbackCommand{Pool: www, Actor: ActorDetour, HoldPassed: true, ExpectSince: at0}, n.Index)
	}); !errors.Is(err, ErrNoOverride) {
		t.Errorf("stale hold-passed failback: %v", err)
	}
	s, res, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.Failback(FailbackCommand{Pool: "www.example.test", Actor: "carol", Reason: "primary fixed", At: at0.Add(2 * time.Minute)}, n.Index)
	})
	if err != nil || len(res.Warnings) != 0 {
		t.Fatalf("operator failback: %v %v", err, res.Warnings)
	}
	if got := answerNames(s, www); !cmp.Equal(got, []string{"a"}) {
		t.Fatalf("after failback %v", got)
	}
	if e := s.Events[len(s.Events)-1]; e.Kind != EventPoolFailback || e.Actor != "carol" || !strings.Contains(e.Reason, "primary fixed") {
		t.Errorf("failback event %+v", e)
	}
	if _, _, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.Failback(FailbackCommand{Pool: www, Actor: "carol"}, n.Index)
	}); !errors.Is(err, ErrNoOverride) {
		t.Errorf("failback of a pool not held: %v", err)
	}
}

func TestState_FailbackHoldTime(t *testing.T) {
	s := gatedState("5m")
	s = reportDown(s, "a")
	t1 := at0.Add(time.Minute)
	s = reportUp(s, t1, "a")
	due, next := s.DueChanges(t1.Add(4 * time.Minute))
	if len(due) != 0 || !next.Equal(t1.Add(5*time.Minute)) {
		t.Fatalf("before the hold time: due %v next %v", due, next)
	}
	// The better tier goes down again: the hold restarts later.
	s = reportDown(s, "a")
	if e := s.Events[len(s.Events)-1]; e.Kind != EventFailbackHoldReset {
		t.Errorf("last events %s, want a hold reset", lastKinds(s, 3))
	}
	if due, next := s.DueChanges(t1.Add(time.Hour)); len(due) != 0 || !next.IsZero() {
		t.Fatalf("after reset: due %v next %v", due, next)
	}
	t2 := at0.Add(10 * time.Minute)
	s = reportUp(s, t2, "a")
	due, _ = s.DueChanges(t2.Add(5 * time.Minute))
	if len(due) != 1 || due[0].Failback != www || !due[0].Since.Equal(t2) {
		t.Fatalf("at the hold time: due %+v", due)
	}
	s, _, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.Failback(FailbackCommand{Pool: due[0].Failback, Actor: ActorDetour, Reason: "hold time passed", At: t2.Add(5 * time.Minute),
			HoldPassed: true, ExpectSince: due[0].Since}, n.Index)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := answerNames(s, www); !cmp.Equal(got, []string{"a"}) || s.Failbacks != nil {
		t.Fatalf("after the hold: %v %v", got, s.Failbacks)
	}
}

func TestState_FailbackHeldTierDies(t *testing.T) {
	s := gatedState("manual")
	s = reportDown(s, "a")
	s = reportUp(s, at0.Add(time.Minute), "a")
	// The held tier b dies while a is healthy: back to a at once.
	s = step(s, func(n *State) {
		_ = n.ApplyReport(down("n1", "b"))
		_ = n.ApplyReport(down("n2", "b"))
	})
	if got := answerNames(s, www); !cmp.Equal(got, []string{"a"}) || s.Failbacks != nil {
		t.Fatalf("held tier died: answer %v holds %v", got, s.Failbacks)
	}
	if e := hasEvent(s, EventPoolFailback); e == nil || e.Actor != ActorDetour {
		t.Errorf("failback event %+v", e)
	}
}

func TestState_FailbackFurtherFailover(t *testing.T) {
	s := gatedState("manual")
	s = reportDown(s, "a")
	s = reportDown(s, "a", "b")
	if h := s.Failbacks[www]; h.Tier != 3 {
		t.Fatalf("hold %+v, want tier 3", h)
	}
	s = reportUp(s, at0.Add(time.Minute), "b")
	if got := answerNames(s, www); !cmp.Equal(got, []string{"c"}) {
		t.Fatalf("held on c, got %v", got)
	}
	// An operator's drain does not start a hold on an auto pool, and on a
	// gated pool a drain of the held tier moves to the best healthy tier.
	s, _, err := apply(t, s, setO(OverrideDrain, "c", "", false, false))
	if err != nil {
		t.Fatal(err)
	}
	if got := answerNames(s, www); !cmp.Equal(got, []string{"b"}) || s.Failbacks != nil {
		t.Fatalf("drained held tier: %v %v", got, s.Failbacks)
	}
}

func TestValidate_Failback(t *testing.T) {
	for _, tc := range []struct {
		policy, failback, want string
	}{
		{PolicyFailover, "auto", ""},
		{PolicyFailover, "manual", ""},
		{PolicyFailover, "5m", ""},
		{PolicyFailover, "soon", "is not auto, manual or a hold time"},
		{PolicyFailover, "10ms", "outside"},
		{PolicyFailover, "800h", "outside"},
		{PolicyWeighted, "5m", "failover pools only"},
	} {
		spec := healthSpec(0, "")
		spec.Pools[0].Policy = tc.policy
		spec.Pools[0].Failback = tc.failback
		for i := range spec.Pools[0].Endpoints {
			w := 1
			spec.Pools[0].Endpoints[i].Weight = &w
		}
		spec.Normalize()
		err := Validate(spec)
		var msgs []string
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				if strings.HasSuffix(p.Path, ".failback") {
					msgs = append(msgs, p.Message)
				}
			}
		}
		got := strings.Join(msgs, "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: failback problems %q, want %q", tc.policy, tc.failback, got, tc.want)
		}
	}
}

func TestState_SpecChangeStartsNoHold(t *testing.T) {
	s := gatedState("manual")
	spec := healthSpec(0, "")
	spec.Pools[0].Failback = "manual"
	spec.Pools[0].Endpoints = spec.Pools[0].Endpoints[1:] // the primary leaves
	s = step(s, func(n *State) { n.ApplySpec(spec, n.Index, at0) })
	if s.Failbacks != nil || !cmp.Equal(answerNames(s, www), []string{"b"}) {
		t.Fatalf("spec change: holds %v answer %v", s.Failbacks, answerNames(s, www))
	}
	// A pool whose failback becomes auto loses its hold.
	s = gatedState("manual")
	s = reportDown(s, "a")
	s = reportUp(s, at0, "a")
	if _, ok := s.Failbacks[www]; !ok {
		t.Fatal("no hold")
	}
	s = step(s, func(n *State) { n.ApplySpec(healthSpec(0, ""), n.Index, at0) })
	if s.Failbacks != nil || !cmp.Equal(answerNames(s, www), []string{"a"}) {
		t.Fatalf("failback auto: holds %v answer %v", s.Failbacks, answerNames(s, www))
	}
}
