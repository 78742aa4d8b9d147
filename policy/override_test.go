package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// answerNames returns the names of the endpoints pool www answers with.
func answerNames(s *State, pool string) []string {
	a := s.PoolAnswer(s.Spec.Pool(pool))
	var out []string
	for _, ep := range a.Endpoints {
		out = append(out, ep.Name)
	}
	return out
}

const www = "www.example.test."

// apply runs fn on a copy of s as the FSM does: on error the copy is
// dropped and s is returned unchanged.
func apply(t *testing.T, s *State, fn func(next *State) (OverrideResult, error)) (*State, OverrideResult, error) {
	t.Helper()
	next := *s
	next.Index++
	res, err := fn(&next)
	if err != nil {
		return s, res, err
	}
	UpdateSerials(s, &next, next.Index)
	return &next, res, nil
}

func setO(kind, ep, state string, requireHealthy, force bool) func(*State) (OverrideResult, error) {
	return func(n *State) (OverrideResult, error) {
		return n.SetOverride(SetOverrideCommand{Override: Override{Kind: kind, Pool: "WWW.example.test", Endpoint: ep, State: state,
			Actor: "alice", Reason: "test", Created: at0}, RequireHealthy: requireHealthy, Force: force}, n.Index)
	}
}

func clearO(kind, ep string) func(*State) (OverrideResult, error) {
	return func(n *State) (OverrideResult, error) {
		return n.ClearOverride(ClearOverrideCommand{Kind: kind, Pool: www, Endpoint: ep, Actor: "bob", Reason: "done", At: at0}, n.Index)
	}
}

// reportDown marks eps of www unhealthy in the views of two of three
// voters (so they are effectively down).
func reportDown(s *State, eps ...string) *State {
	return step(s, func(n *State) {
		_ = n.ApplyReport(down("n1", eps...))
		_ = n.ApplyReport(down("n2", eps...))
	})
}

// reportUp marks eps of www healthy in every voter's view.
func reportUp(s *State, at time.Time, eps ...string) *State {
	return step(s, func(n *State) {
		for _, node := range []string{"n1", "n2", "n3"} {
			r := Report{Node: node, At: at}
			for _, ep := range eps {
				r.Views = append(r.Views, ViewUpdate{Pool: www, Endpoint: ep, Healthy: true})
			}
			_ = n.ApplyReport(r)
		}
	})
}

func TestState_Overrides(t *testing.T) {
	type op struct {
		fn       func(*State) (OverrideResult, error)
		wantErr  error
		wantWarn string
	}
	tests := []struct {
		name       string
		down       []string // endpoints of www effectively down first
		ops        []op
		want       []string // www's answer after the ops
		wantPinned bool
		wantAll    bool
	}{
		{name: "pin: healthy endpoint answers alone", ops: []op{{fn: setO(OverridePin, "b", "", false, false)}}, want: []string{"b"}, wantPinned: true},
		{name: "pin: unhealthy endpoint answers with a warning", down: []string{"c"},
			ops: []op{{fn: setO(OverridePin, "c", "", false, false), wantWarn: "unhealthy"}}, want: []string{"c"}, wantPinned: true},
		{name: "pin: require_healthy refuses an unhealthy endpoint", down: []string{"c"},
			ops: []op{{fn: setO(OverridePin, "c", "", true, false), wantErr: ErrUnhealthy}}, want: []string{"a"}},
		{name: "pin: unknown pool", ops: []op{{fn: func(n *State) (OverrideResult, error) {
			return n.SetOverride(SetOverrideCommand{Override: Override{Kind: OverridePin, Pool: "nope.example.test.", Endpoint: "a", Actor: "x"}}, 1)
		}, wantErr: ErrUnknownPool}}, want: []string{"a"}},
		{name: "pin: unknown endpoint", ops: []op{{fn: setO(OverridePin, "zz", "", false, false), wantErr: ErrUnknownEndpoint}}, want: []string{"a"}},
		{name: "pin: a second pin replaces the first", ops: []op{{fn: setO(OverridePin, "b", "", false, false)}, {fn: setO(OverridePin, "c", "", false, false)}},
			want: []string{"c"}, wantPinned: true},
		{name: "pin: released, health decides again", ops: []op{{fn: setO(OverridePin, "b", "", false, false)}, {fn: clearO(OverridePin, "")}}, want: []string{"a"}},
		{name: "release: nothing to release", ops: []op{{fn: clearO(OverridePin, ""), wantErr: ErrNoOverride}}, want: []string{"a"}},
		{name: "drain: primary out, secondary answers", ops: []op{{fn: setO(OverrideDrain, "a", "", false, false)}}, want: []string{"b"}},
		{name: "drain: cleared, primary back", ops: []op{{fn: setO(OverrideDrain, "a", "", false, false)}, {fn: clearO(OverrideDrain, "a")}}, want: []string{"a"}},
		{name: "drain: the last healthy endpoint is refused", down: []string{"b", "c"},
			ops: []op{{fn: setO(OverrideDrain, "a", "", false, false), wantErr: ErrUnsafe}}, want: []string{"a"}},
		{name: "drain: the last healthy endpoint with force fails open without it", down: []string{"b", "c"},
			ops: []op{{fn: setO(OverrideDrain, "a", "", false, true), wantWarn: "forced"}}, want: []string{"b"}, wantAll: true},
		{name: "drain: the pinned endpoint conflicts", ops: []op{{fn: setO(OverridePin, "b", "", false, false)}, {fn: setO(OverrideDrain, "b", "", false, false), wantErr: ErrConflict}},
			want: []string{"b"}, wantPinned: true},
		{name: "pin: a drained endpoint conflicts", ops: []op{{fn: setO(OverrideDrain, "b", "", false, false)}, {fn: setO(OverridePin, "b", "", false, false), wantErr: ErrConflict}},
			want: []string{"a"}},
		{name: "force down: primary out", ops: []op{{fn: setO(OverrideForce, "a", ForceDown, false, false)}}, want: []string{"b"}},
		{name: "force up: beats the probes", down: []string{"a"}, ops: []op{{fn: setO(OverrideForce, "a", ForceUp, false, false)}}, want: []string{"a"}},
		{name: "force down: the last healthy endpoint is refused", down: []string{"a", "b"},
			ops: []op{{fn: setO(OverrideForce, "c", ForceDown, false, false), wantErr: ErrUnsafe}}, want: []string{"c"}},
		{name: "force down: cleared, probes decide again", ops: []op{{fn: setO(OverrideForce, "a", ForceDown, false, false)}, {fn: clearO(OverrideForce, "a")}}, want: []string{"a"}},
		{name: "force: bad state", ops: []op{{fn: setO(OverrideForce, "a", "sideways", false, false), wantErr: ErrBadOverride}}, want: []string{"a"}},
		{name: "drain: a second drain replaces the first", ops: []op{{fn: setO(OverrideDrain, "a", "", false, false)}, {fn: setO(OverrideDrain, "a", "", false, false)}}, want: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthState(3, 0, healthSpec(0, ""))
			if len(tt.down) > 0 {
				s = reportDown(s, tt.down...)
			}
			for i, o := range tt.ops {
				before := s
				var res OverrideResult
				var err error
				s, res, err = apply(t, s, o.fn)
				if !errors.Is(err, o.wantErr) || (err == nil) != (o.wantErr == nil) {
					t.Fatalf("op %d: error %v, want %v", i, err, o.wantErr)
				}
				if err != nil {
					var oe *OverrideError
					if !errors.As(err, &oe) || oe.Message == "" {
						t.Fatalf("op %d: error %#v is not an *OverrideError with a message", i, err)
					}
					if errors.Is(err, ErrUnsafe) && len(oe.Remaining) != 3 {
						t.Errorf("op %d: unsafe refusal lists %v, want every endpoint", i, oe.Remaining)
					}
					if s != before {
						t.Fatalf("op %d: a refusal changed the state", i)
					}
					continue
				}
				if o.wantWarn != "" && !strings.Contains(strings.Join(res.Warnings, ";"), o.wantWarn) {
					t.Errorf("op %d: warnings %q, want one containing %q", i, res.Warnings, o.wantWarn)
				}
				if res.Index != s.Index {
					t.Errorf("op %d: result index %d, state index %d", i, res.Index, s.Index)
				}
			}
			if diff := cmp.Diff(tt.want, answerNames(s, www)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			a := s.PoolAnswer(s.Spec.Pool(www))
			if a.Pinned != tt.wantPinned || a.AllDown != tt.wantAll {
				t.Errorf("pinned %v all down %v, want %v %v", a.Pinned, a.AllDown, tt.wantPinned, tt.wantAll)
			}
		})
	}
}

func TestState_OverrideRecordsAndEvents(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	s = reportDown(s, "b", "c")
	s, res, err := apply(t, s, setO(OverrideDrain, "a", "", false, true))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Override.Forced {
		t.Errorf("forced drain not recorded as forced: %+v", res.Override)
	}
	list := s.Overrides()
	if len(list) != 1 || list[0].Kind != OverrideDrain || list[0].Pool != www || list[0].Actor != "alice" || !list[0].Forced || list[0].Index != s.Index {
		t.Fatalf("overrides %+v", list)
	}
	last := s.Events[len(s.Events)-1]
	var set *Event
	for i := range s.Events {
		if s.Events[i].Kind == EventOverrideSet {
			set = &s.Events[i]
		}
	}
	if set == nil || set.Actor != "alice" || !set.Details.Forced || len(set.Details.Remaining) != 3 || !strings.Contains(set.Reason, "forced") {
		t.Fatalf("override event %+v", set)
	}
	if last.Kind != EventPoolAllDown {
		t.Errorf("last event %s, want pool_all_down after the forced drain", last.Kind)
	}
	h := s.EndpointHealth("www.example.test", "a")
	if !h.Drained || !h.Healthy || len(h.Overrides) != 1 {
		t.Errorf("endpoint health %+v", h)
	}
	// Replacing records the old one.
	s, res, err = apply(t, s, setO(OverrideDrain, "a", "", false, true))
	if err != nil || res.Replaced == nil || res.Replaced.Index == res.Override.Index {
		t.Fatalf("replace: %v %+v", err, res)
	}
	s, res, err = apply(t, s, clearO(OverrideDrain, "a"))
	if err != nil || res.Replaced == nil {
		t.Fatalf("clear: %v %+v", err, res)
	}
	if e := s.Events[len(s.Events)-2]; e.Kind != EventOverrideCleared || e.Actor != "bob" {
		t.Errorf("clear event %+v", e)
	}
	if len(s.Overrides()) != 0 || s.PoolOverrides != nil {
		t.Errorf("overrides left: %+v", s.PoolOverrides)
	}
}

func TestState_ForceShowsInEndpointHealth(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	s = reportDown(s, "a")
	s, _, err := apply(t, s, setO(OverrideForce, "a", ForceUp, false, false))
	if err != nil {
		t.Fatal(err)
	}
	h := s.EndpointHealth(www, "a")
	if !h.Healthy || h.ProbeHealthy || h.Forced != ForceUp || h.Unhealthy != 2 {
		t.Errorf("endpoint health %+v", h)
	}
	// A probe flip under a force is still an event about the probes.
	s = reportUp(s, at0.Add(time.Minute), "a")
	if e := s.Events[len(s.Events)-1]; e.Kind != EventEndpointUp {
		t.Errorf("last event %s, want endpoint_up", e.Kind)
	}
}

func TestState_OverrideExpiry(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	exp := at0.Add(time.Hour)
	s, res, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.SetOverride(SetOverrideCommand{Override: Override{Kind: OverridePin, Pool: www, Endpoint: "c", Actor: "alice", Created: at0, Expires: &exp}}, n.Index)
	})
	if err != nil {
		t.Fatal(err)
	}
	if due, next := s.DueChanges(at0.Add(time.Minute)); len(due) != 0 || !next.Equal(exp) {
		t.Fatalf("before expiry: due %v next %v", due, next)
	}
	due, _ := s.DueChanges(exp)
	if len(due) != 1 || due[0].Expire == nil || due[0].Expire.Index != res.Override.Index {
		t.Fatalf("at expiry: due %+v", due)
	}
	// A release aimed at another override (replaced meanwhile) does nothing.
	if _, _, err := apply(t, s, func(n *State) (OverrideResult, error) {
		return n.ClearOverride(ClearOverrideCommand{Kind: OverridePin, Pool: www, Actor: ActorDetour, At: exp, Expired: true, ExpectIndex: res.Override.Index + 1}, n.Index)
	}); !errors.Is(err, ErrNoOverride) {
		t.Fatalf("stale expiry: %v", err)
	}
	s, _, err = apply(t, s, func(n *State) (OverrideResult, error) {
		return n.ClearOverride(ClearOverrideCommand{Kind: OverridePin, Pool: www, Actor: ActorDetour, Reason: "expired", At: exp, Expired: true, ExpectIndex: due[0].Expire.Index}, n.Index)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := answerNames(s, www); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("after expiry answer %v", got)
	}
	if e := s.Events[len(s.Events)-1]; e.Kind != EventOverrideExpired || e.Actor != ActorDetour {
		t.Errorf("expiry event %+v", e)
	}
}

func TestState_OverridesChangeSerials(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	s.ZoneSerials = map[string]uint32{"example.test.": 1}
	s1, _, err := apply(t, s, setO(OverridePin, "b", "", false, false))
	if err != nil {
		t.Fatal(err)
	}
	if s1.ZoneSerials["example.test."] != uint32(s1.Index) {
		t.Errorf("pin kept serial %d (index %d)", s1.ZoneSerials["example.test."], s1.Index)
	}
	// Draining a standby changes no answer, so no serial.
	s2, _, err := apply(t, s1, setO(OverrideDrain, "c", "", false, false))
	if err != nil {
		t.Fatal(err)
	}
	if s2.ZoneSerials["example.test."] != s1.ZoneSerials["example.test."] {
		t.Errorf("standby drain changed the serial")
	}
}

func TestState_SpecChangeDropsStaleOverrides(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	s, _, _ = apply(t, s, setO(OverrideDrain, "c", "", false, false))
	s, _, _ = apply(t, s, setO(OverrideForce, "b", ForceUp, false, false))
	spec := healthSpec(0, "")
	spec.Pools[0].Endpoints = spec.Pools[0].Endpoints[:2] // c leaves
	s = step(s, func(n *State) { n.ApplySpec(spec, n.Index, at0) })
	got := s.Overrides()
	if len(got) != 1 || got[0].Endpoint != "b" {
		t.Fatalf("overrides after spec change %+v", got)
	}
	found := false
	for _, e := range s.Events {
		found = found || (e.Kind == EventOverrideCleared && e.Endpoint == "c" && e.Actor == ActorDetour)
	}
	if !found {
		t.Errorf("no override_cleared event for the dropped drain")
	}
}

func TestState_EventsRetainedFromSettings(t *testing.T) {
	spec := healthSpec(0, "")
	spec.Settings = &Settings{EventsRetained: 100}
	s := healthState(3, 0, spec)
	for i := range 120 {
		st := ForceUp
		if i%2 == 1 {
			st = ForceDown
		}
		var err error
		s, _, err = apply(t, s, setO(OverrideForce, "c", st, false, false))
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Events) != 100 || s.Events[99].Index != s.NextEventIndex-1 {
		t.Fatalf("%d events kept (last %d, next %d), want 100", len(s.Events), s.Events[len(s.Events)-1].Index, s.NextEventIndex)
	}
	if err := Validate(&Spec{Settings: &Settings{EventsRetained: 5}}); err == nil || !strings.Contains(err.Error(), "settings.events_retained") {
		t.Errorf("events_retained 5: %v", err)
	}
}

func TestDiff_Settings(t *testing.T) {
	a, b := healthSpec(0, ""), healthSpec(0, "")
	b.Settings = &Settings{EventsRetained: 500}
	b.Pools[0].Failback = "manual"
	var got []string
	for _, c := range Diff(a, b) {
		got = append(got, c.String())
	}
	want := "change pool www.example.test.: failback \"\" -> manual|change settings settings: settings unset -> {events_retained 500}"
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("diff %q, want %q", s, want)
	}
	if d := Diff(b, b); len(d) != 0 {
		t.Errorf("identical specs differ: %v", d)
	}
}
