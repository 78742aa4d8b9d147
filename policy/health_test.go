package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var at0 = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

func TestEffectiveUnhealthy(t *testing.T) {
	tests := []struct {
		voters, quorum, unhealthy int
		want                      bool
	}{
		{3, 0, 0, false},
		{3, 0, 1, false}, // one failing prober of three changes nothing
		{3, 0, 2, true},  // two flip it
		{3, 0, 3, true},
		{5, 0, 2, false},
		{5, 0, 3, true},
		{5, 2, 3, false}, // quorum 2: healthy while 2 may say healthy
		{5, 2, 4, true},
		{3, 1, 2, false},
		{3, 1, 3, true},
		{3, 3, 1, true}, // quorum = every voter: one failing view flips
		{3, 5, 1, true}, // quorum above voters is capped at voters
		{3, 5, 0, false},
		{1, 0, 1, true},
		{2, 0, 1, true}, // majority of two is two
		{0, 0, 0, false},
		{0, 0, 1, false}, // no voters: nothing counts
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d voters, quorum %d, %d unhealthy", tt.voters, tt.quorum, tt.unhealthy), func(t *testing.T) {
			if got := EffectiveUnhealthy(tt.voters, tt.quorum, tt.unhealthy); got != tt.want {
				t.Errorf("EffectiveUnhealthy = %v, want %v", got, tt.want)
			}
		})
	}
}

// healthSpec returns a spec with one zone and a failover pool www (a, b,
// c by priority) with check quorum q, and a multivalue pool mv (x, y).
func healthSpec(q int, whenAllDown string) *Spec {
	return &Spec{
		Zones: []Zone{{Name: "example.test.", SOA: SOA{MName: "ns1.example.test.", RName: "h.example.test."}}},
		Pools: []Pool{
			{Name: "www.example.test.", Policy: PolicyFailover, WhenAllDown: whenAllDown, Check: Check{Quorum: q},
				Endpoints: []Endpoint{{Name: "a", Priority: 1}, {Name: "b", Priority: 2}, {Name: "c", Priority: 3}}},
			{Name: "mv.example.test.", Policy: PolicyMultivalue, Endpoints: []Endpoint{{Name: "x"}, {Name: "y"}}},
		},
	}
}

// healthState returns a published-like State with voting members
// n1..nVoters, non-voting members m1..mNon, and spec applied.
func healthState(voters, nonVoters int, spec *Spec) *State {
	s := &State{}
	for i := 1; i <= voters; i++ {
		s.UpsertMember(Member{ID: fmt.Sprintf("n%d", i), Voter: true}, at0)
	}
	for i := 1; i <= nonVoters; i++ {
		s.UpsertMember(Member{ID: fmt.Sprintf("m%d", i)}, at0)
	}
	s.ApplySpec(spec, 1, at0)
	return s
}

// step applies fn to a copy of s and returns the copy, as the cluster
// does: published states are never modified.
func step(s *State, fn func(next *State)) *State {
	next := *s
	fn(&next)
	UpdateSerials(s, &next, next.Index+1)
	next.Index++
	return &next
}

// down reports views: node says endpoints of www are unhealthy.
func down(node string, eps ...string) Report {
	r := Report{Node: node, At: at0}
	for _, ep := range eps {
		r.Views = append(r.Views, ViewUpdate{Pool: "www.example.test.", Endpoint: ep, Healthy: false,
			Evidence: []ProbeResult{{Time: at0, Class: "timeout", Error: "i/o timeout"}}})
	}
	return r
}

func TestState_EffectiveHealth(t *testing.T) {
	yes := true
	tests := []struct {
		name      string
		voters    int
		nonVoters int
		quorum    int
		reports   []Report
		remove    []string
		wantDown  []string // endpoints of www that are down
	}{
		{"no views: everything healthy", 3, 0, 0, nil, nil, nil},
		{"3 voters: one failing prober changes nothing", 3, 0, 0, []Report{down("n1", "a")}, nil, nil},
		{"3 voters: two flip it", 3, 0, 0, []Report{down("n1", "a"), down("n2", "a")}, nil, []string{"a"}},
		{"3 voters: unknown views never move traffic", 3, 0, 0, []Report{down("n1", "a", "b")}, nil, nil},
		{"5 voters: two changes nothing", 5, 0, 0, []Report{down("n1", "a"), down("n2", "a")}, nil, nil},
		{"5 voters: three flip it", 5, 0, 0, []Report{down("n1", "a"), down("n2", "a"), down("n3", "a")}, nil, []string{"a"}},
		{"5 voters, quorum 2: three change nothing", 5, 0, 2, []Report{down("n1", "a"), down("n2", "a"), down("n3", "a")}, nil, nil},
		{"5 voters, quorum 2: four flip it", 5, 0, 2, []Report{down("n1", "a"), down("n2", "a"), down("n3", "a"), down("n4", "a")}, nil, []string{"a"}},
		{"3 voters, quorum 3: one flips it", 3, 0, 3, []Report{down("n1", "b")}, nil, []string{"b"}},
		{"3 voters, quorum 1: all three needed", 3, 0, 1, []Report{down("n1", "a"), down("n2", "a")}, nil, nil},
		{"non-voters do not count", 3, 2, 0, []Report{down("n1", "a"), down("m1", "a"), down("m2", "a")}, nil, nil},
		{"a degraded node does not count", 3, 0, 0, []Report{down("n1", "a"), {Node: "n2", Degraded: &yes, Views: down("n2", "a").Views, At: at0}}, nil, nil},
		{"removed member's views are dropped", 3, 0, 0, []Report{down("n1", "a"), down("n2", "a")}, []string{"n2"}, []string{"a"}},
		{"all endpoints down", 3, 0, 0, []Report{down("n1", "a", "b", "c"), down("n3", "a", "b", "c")}, nil, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := healthState(tt.voters, tt.nonVoters, healthSpec(tt.quorum, ""))
			for _, r := range tt.reports {
				s = step(s, func(n *State) {
					if err := n.ApplyReport(r); err != nil {
						t.Fatal(err)
					}
				})
			}
			for _, id := range tt.remove {
				s = step(s, func(n *State) { n.RemoveMember(id, at0) })
			}
			var got []string
			for _, ep := range []string{"a", "b", "c"} {
				if !s.EndpointHealthy("www.example.test.", ep) {
					got = append(got, ep)
				}
				h := s.EndpointHealth("www.example.test.", ep)
				if h.Healthy != s.EndpointHealthy("www.example.test.", ep) {
					t.Errorf("%s: EndpointHealth says %v, EndpointHealthy %v", ep, h.Healthy, !h.Healthy)
				}
				// The cached answer must match the rule applied afresh.
				if want := EffectiveUnhealthy(h.Voters, tt.quorum, h.Unhealthy); want == h.Healthy {
					t.Errorf("%s: cached health %v disagrees with the rule (%+v)", ep, h.Healthy, h)
				}
			}
			if diff := cmp.Diff(tt.wantDown, got); diff != "" {
				t.Errorf("down endpoints (-want +got):\n%s", diff)
			}
			for _, id := range tt.remove {
				for _, pm := range s.Views {
					for ep, v := range pm {
						if _, has := v[id]; has {
							t.Errorf("removed %s still has a view of %s", id, ep)
						}
					}
				}
			}
		})
	}
}

func TestState_ApplyReportRejectsNonMembers(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	next := *s
	if err := next.ApplyReport(down("ghost", "a")); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("report from a non-member: %v", err)
	}
	if err := next.ApplyReport(Report{}); err == nil {
		t.Error("report without a node accepted")
	}
	if !cmp.Equal(*s, next) {
		t.Error("a rejected report changed the state")
	}
}

func TestState_ViewKeepsSinceAndEvidence(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	s = step(s, func(n *State) { _ = n.ApplyReport(down("n1", "a")) })
	later := down("n1", "a")
	later.At = at0.Add(time.Minute)
	later.Views[0].Evidence = nil
	s = step(s, func(n *State) { _ = n.ApplyReport(later) })
	v := s.Views["www.example.test."]["a"]["n1"]
	if !v.Since.Equal(at0) || len(v.Evidence) != 1 {
		t.Errorf("same verdict again: since %v, %d results; want the first time and its evidence", v.Since, len(v.Evidence))
	}
	up := Report{Node: "n1", At: at0.Add(2 * time.Minute), Views: []ViewUpdate{{Pool: "WWW.example.test", Endpoint: "a", Healthy: true}}}
	s = step(s, func(n *State) { _ = n.ApplyReport(up) })
	if v := s.Views["www.example.test."]["a"]["n1"]; !v.Healthy || !v.Since.Equal(up.At) {
		t.Errorf("flip through a differently written pool name: %+v", v)
	}
}

func TestTrimEvidence(t *testing.T) {
	var ev []ProbeResult
	for i := range 8 {
		ev = append(ev, ProbeResult{Status: 500 + i})
	}
	ev[7].Body = strings.Repeat("é", 200) // 400 bytes
	ev[7].Error = strings.Repeat("x", 2000)
	got := TrimEvidence(ev)
	if len(got) != MaxEvidence || got[0].Status != 503 || got[MaxEvidence-1].Status != 507 {
		t.Fatalf("kept %d results starting at %d, want the last %d", len(got), got[0].Status, MaxEvidence)
	}
	if len(got[4].Body) > MaxEvidenceBody || len(got[4].Error) != MaxEvidenceError || !strings.HasPrefix(got[4].Body, "éé") {
		t.Errorf("body %d bytes, error %d bytes", len(got[4].Body), len(got[4].Error))
	}
	if len(got[4].Body)%2 != 0 {
		t.Errorf("body cut inside a character: %d bytes", len(got[4].Body))
	}
	if ev[7].Error == got[4].Error {
		t.Error("TrimEvidence modified its input")
	}
}

func TestState_DegradedNodes(t *testing.T) {
	yes, no := true, false
	s := healthState(3, 0, healthSpec(0, ""))
	s = step(s, func(n *State) { _ = n.ApplyReport(down("n1", "a")) })
	s = step(s, func(n *State) { _ = n.ApplyReport(down("n2", "a")) })
	if s.EndpointHealthy("www.example.test.", "a") {
		t.Fatal("not down before degrading")
	}
	s = step(s, func(n *State) { _ = n.ApplyReport(Report{Node: "n2", Degraded: &yes, At: at0}) })
	if !s.EndpointHealthy("www.example.test.", "a") || !s.IsDegraded("n2") {
		t.Error("a degraded node's view still counts")
	}
	kinds := eventKinds(s.EventsAfter(0, 0))
	if !strings.Contains(kinds, "node_degraded n2,endpoint_up www.example.test./a") {
		t.Errorf("events %s", kinds)
	}
	s = step(s, func(n *State) { _ = n.ApplyReport(Report{Node: "n2", Degraded: &no, At: at0}) })
	if s.EndpointHealthy("www.example.test.", "a") || s.IsDegraded("n2") || s.Degraded != nil {
		t.Error("a recovered node's view does not count again")
	}
	if got := s.EventsAfter(0, 0); got[len(got)-2].Kind != EventNodeRecovered {
		t.Errorf("events %s", eventKinds(got))
	}
}

// eventKinds formats events as "kind target,..." for comparisons.
func eventKinds(evs []Event) string {
	var parts []string
	for _, e := range evs {
		target := e.Node
		if e.Pool != "" {
			target = e.Pool
			if e.Endpoint != "" {
				target += "/" + e.Endpoint
			}
		}
		parts = append(parts, strings.TrimSpace(e.Kind+" "+target))
	}
	return strings.Join(parts, ",")
}

func TestState_Events(t *testing.T) {
	s := &State{}
	s = step(s, func(n *State) { n.UpsertMember(Member{ID: "n1", Voter: true}, at0) })
	s = step(s, func(n *State) { n.UpsertMember(Member{ID: "n2", Voter: true}, at0) })
	s = step(s, func(n *State) { n.UpsertMember(Member{ID: "n2", Voter: true, APIAddr: "x"}, at0) }) // an update: no event
	s = step(s, func(n *State) { n.UpsertMember(Member{ID: "n3", Voter: true}, at0) })
	s = step(s, func(n *State) { n.ApplySpec(healthSpec(0, AllDownServeNone), n.Index, at0) })
	s = step(s, func(n *State) { _ = n.ApplyReport(down("n1", "a", "b", "c")) })
	s = step(s, func(n *State) { _ = n.ApplyReport(down("n2", "a", "b", "c")) })
	allDown := s
	s = step(s, func(n *State) {
		_ = n.ApplyReport(Report{Node: "n2", At: at0, Views: []ViewUpdate{{Pool: "www.example.test.", Endpoint: "b", Healthy: true}}})
	})
	s = step(s, func(n *State) { n.RemoveMember("n3", at0) })

	want := "member_joined n1,member_joined n2,member_joined n3,spec_applied," +
		"endpoint_down www.example.test./a,endpoint_down www.example.test./b,endpoint_down www.example.test./c,pool_all_down www.example.test.," +
		"endpoint_up www.example.test./b,pool_recovered www.example.test.," +
		"member_removed n3," +
		// Two voters remain, whose majority is both: n1's view of b
		// alone now takes it down again.
		"endpoint_down www.example.test./b,pool_all_down www.example.test."
	evs := s.EventsAfter(0, 0)
	if got := eventKinds(evs); got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	for i, e := range evs {
		if e.Index != uint64(i+1) || !e.Time.Equal(at0) || e.Reason == "" {
			t.Errorf("event %d: index %d, time %v, reason %q", i, e.Index, e.Time, e.Reason)
		}
	}
	// Details: the flip carries every node's view and the figures; the
	// all-down event says what the pool does.
	var flip, all Event
	for _, e := range allDown.Events {
		switch {
		case e.Kind == EventEndpointDown && e.Endpoint == "a":
			flip = e
		case e.Kind == EventPoolAllDown:
			all = e
		}
	}
	if d := flip.Details; d == nil || len(d.Views) != 2 || d.Voters != 3 || d.Quorum != 2 || d.Unhealthy != 2 || d.Views["n1"].Evidence[0].Class != "timeout" {
		t.Errorf("endpoint_down details = %+v", flip.Details)
	}
	if !strings.Contains(flip.Reason, "timeout: 2") {
		t.Errorf("endpoint_down reason %q does not name the failures", flip.Reason)
	}
	if all.Details == nil || all.Details.WhenAllDown != AllDownServeNone || !strings.Contains(all.Reason, "NODATA") {
		t.Errorf("pool_all_down = %+v", all)
	}
	if a := allDown.PoolAnswer(&allDown.Spec.Pools[0]); !a.AllDown || len(a.Endpoints) != 0 {
		t.Errorf("serve_none pool all down answers %v", a.Endpoints)
	}
	// EventsAfter pages.
	if got := s.EventsAfter(4, 2); len(got) != 2 || got[0].Index != 5 || got[1].Index != 6 {
		t.Errorf("EventsAfter(4, 2) = %s", eventKinds(got))
	}
	if got := s.EventsAfter(uint64(len(evs)), 0); len(got) != 0 {
		t.Errorf("EventsAfter(last) = %d events", len(got))
	}
}

func TestState_EventsBounded(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	flip := func(healthy bool) {
		for _, node := range []string{"n1", "n2"} {
			r := Report{Node: node, At: at0, Views: []ViewUpdate{{Pool: "mv.example.test.", Endpoint: "x", Healthy: healthy}}}
			s = step(s, func(n *State) { _ = n.ApplyReport(r) })
		}
	}
	var seen []*State
	for i := range MaxEvents {
		flip(i%2 == 1)
		if i%100 == 0 {
			seen = append(seen, s)
		}
	}
	total := s.NextEventIndex - 1
	if total <= MaxEvents {
		t.Fatalf("only %d events recorded", total)
	}
	if len(s.Events) != MaxEvents {
		t.Fatalf("%d events kept, want %d", len(s.Events), MaxEvents)
	}
	for i, e := range s.Events {
		if e.Index != total-MaxEvents+1+uint64(i) {
			t.Fatalf("event %d has index %d: not the last %d in order", i, e.Index, MaxEvents)
		}
	}
	// Dropped events are gone; asking from before them starts at the
	// oldest kept.
	if got := s.EventsAfter(0, 1); got[0].Index != total-MaxEvents+1 {
		t.Errorf("EventsAfter(0) starts at %d", got[0].Index)
	}
	// Earlier published states kept their events.
	for _, old := range seen {
		for i := 1; i < len(old.Events); i++ {
			if old.Events[i].Index != old.Events[i-1].Index+1 {
				t.Fatalf("an earlier state's events changed: %d after %d", old.Events[i].Index, old.Events[i-1].Index)
			}
		}
		if n := len(old.Events); n > 0 && old.Events[n-1].Index != old.NextEventIndex-1 {
			t.Fatalf("earlier state: last event %d, next index %d", old.Events[n-1].Index, old.NextEventIndex)
		}
	}

	// A batch bigger than MaxEvents keeps its newest events.
	big := &State{}
	var evs []Event
	for range MaxEvents + 10 {
		evs = append(evs, Event{Kind: EventSpecApplied})
	}
	big.addEvents(evs...)
	if len(big.Events) != MaxEvents || big.Events[0].Index != 11 || big.NextEventIndex != MaxEvents+11 {
		t.Errorf("big batch: %d kept from %d, next %d", len(big.Events), big.Events[0].Index, big.NextEventIndex)
	}
}

func TestState_TwoStatesFromOneDoNotShareEvents(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	a := step(s, func(n *State) { n.UpsertMember(Member{ID: "a"}, at0) })
	b := step(s, func(n *State) { n.UpsertMember(Member{ID: "b"}, at0) })
	if la, lb := a.Events[len(a.Events)-1], b.Events[len(b.Events)-1]; la.Node != "a" || lb.Node != "b" {
		t.Errorf("states derived from one state share events: %s / %s", la.Node, lb.Node)
	}
}

func TestUpdateSerials_FollowAnswers(t *testing.T) {
	s := healthState(3, 0, healthSpec(0, ""))
	UpdateSerials(nil, s, 1)
	serial := s.ZoneSerials["example.test."]
	report := func(index uint64, r Report) {
		next := *s
		next.Index = index
		if err := next.ApplyReport(r); err != nil {
			t.Fatal(err)
		}
		UpdateSerials(s, &next, index)
		s = &next
	}
	// The standby b goes down: www still answers a, the serial stays.
	report(10, down("n1", "b"))
	report(11, down("n2", "b"))
	if s.EndpointHealthy("www.example.test.", "b") {
		t.Fatal("b not down")
	}
	if got := s.ZoneSerials["example.test."]; got != serial {
		t.Errorf("serial %d changed to %d although no answer changed", serial, got)
	}
	// The primary a goes down: www answers c (b is down), the serial
	// becomes the index.
	report(12, down("n1", "a"))
	report(13, down("n2", "a"))
	if got := s.ZoneSerials["example.test."]; got != 13 {
		t.Errorf("serial %d, want 13 after www's answer changed", got)
	}
	// The slow path (a new spec) agrees with the fast path on the answer.
	next := *s
	next.ApplySpec(s.Spec, 14, at0) // same content, new version
	UpdateSerials(s, &next, 14)
	if got := next.ZoneSerials["example.test."]; got != 13 {
		t.Errorf("serial %d after re-applying the same spec, want 13", got)
	}
}

// TestState_IncrementalHealthMatchesFull applies random reports, degraded
// flips, membership and spec changes, and checks after each that the
// incrementally maintained Down equals a recomputation from scratch and
// that every event index is the previous one plus one.
func TestState_IncrementalHealthMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	eps := []string{"a", "b", "c"}
	pools := []string{"www.example.test.", "mv.example.test."}
	s := healthState(3, 0, healthSpec(0, ""))
	withDown, flips, holds := 0, 0, 0
	for i := range 3000 {
		prev := s
		s = step(s, func(n *State) {
			switch op := rng.IntN(20); {
			case op < 14:
				r := Report{Node: nodes[rng.IntN(len(nodes))], At: at0.Add(time.Duration(i) * time.Second), Full: rng.IntN(10) == 0}
				for range rng.IntN(4) {
					r.Views = append(r.Views, ViewUpdate{Pool: pools[rng.IntN(2)], Endpoint: eps[rng.IntN(3)], Healthy: rng.IntN(2) == 0})
				}
				if rng.IntN(8) == 0 {
					d := rng.IntN(2) == 0
					r.Degraded = &d
				}
				_ = n.ApplyReport(r) // non-members are rejected
			case op < 16:
				id := nodes[rng.IntN(len(nodes))]
				n.UpsertMember(Member{ID: id, Voter: rng.IntN(4) != 0}, at0)
			case op < 17:
				n.RemoveMember(nodes[rng.IntN(len(nodes))], at0)
			case op < 19:
				kinds := []string{OverridePin, OverrideDrain, OverrideForce}
				o := Override{Kind: kinds[rng.IntN(3)], Pool: pools[rng.IntN(2)], Endpoint: eps[rng.IntN(3)], Actor: "walk", Created: at0}
				if o.Kind == OverrideForce {
					o.State = []string{ForceUp, ForceDown}[rng.IntN(2)]
				}
				cand := *n
				if rng.IntN(3) == 0 {
					_, err := cand.ClearOverride(ClearOverrideCommand{Kind: o.Kind, Pool: o.Pool, Endpoint: o.Endpoint, Actor: "walk", At: at0}, n.Index)
					if err == nil {
						*n = cand
					}
				} else if _, err := cand.SetOverride(SetOverrideCommand{Override: o, Force: rng.IntN(2) == 0}, n.Index); err == nil {
					*n = cand
				}
			default:
				spec := healthSpec(rng.IntN(4), "")
				spec.Pools[0].Failback = []string{"", "manual", "5m"}[rng.IntN(3)]
				if rng.IntN(2) == 0 {
					spec.Pools[0].Endpoints = spec.Pools[0].Endpoints[:2] // c leaves
				}
				n.ApplySpec(spec, n.Index, at0)
			}
		})
		full := *s
		full.refreshHealth(s, nil, at0)
		if !cmp.Equal(s.Down, full.Down) {
			t.Fatalf("step %d: incremental down %v, from scratch %v", i, s.Down, full.Down)
		}
		if s.Down != nil {
			withDown++
		}
		for _, p := range s.Spec.Pools {
			a := s.PoolAnswer(&p)
			for _, ep := range a.Endpoints {
				if _, drained := s.PoolOverrides[p.Name].Drain[ep.Name]; drained {
					t.Fatalf("step %d: %s answers drained endpoint %s", i, p.Name, ep.Name)
				}
				if !a.AllDown && !a.Pinned && !s.EndpointHealthy(p.Name, ep.Name) {
					t.Fatalf("step %d: %s answers unhealthy %s while not all down", i, p.Name, ep.Name)
				}
			}
			if pin := s.PoolOverrides[p.Name].Pin; pin != nil && (len(a.Endpoints) != 1 || a.Endpoints[0].Name != pin.Endpoint) {
				t.Fatalf("step %d: pinned %s answers %v", i, p.Name, a.Endpoints)
			}
			if _, held := s.Failbacks[p.Name]; held {
				if g, _ := p.FailbackMode(); !g {
					t.Fatalf("step %d: hold on ungated pool %s", i, p.Name)
				}
				holds++
			}
		}
		if !cmp.Equal(s.Down, prev.Down) {
			flips++
		}
		for pool, pm := range s.Views {
			for ep, views := range pm {
				if s.Spec.Pool(pool) == nil || s.Spec.Pool(pool).Endpoint(ep) == nil {
					t.Fatalf("step %d: view of %s/%s, which is not in the spec", i, pool, ep)
				}
				for node := range views {
					if _, ok := s.Members[node]; !ok {
						t.Fatalf("step %d: view of non-member %s", i, node)
					}
				}
			}
		}
		for j, e := range s.Events {
			if j > 0 && e.Index != s.Events[j-1].Index+1 {
				t.Fatalf("step %d: event %d after %d", i, e.Index, s.Events[j-1].Index)
			}
		}
		if len(prev.Events) > 0 && len(s.Events) > 0 && s.Events[len(s.Events)-1].Index < prev.Events[len(prev.Events)-1].Index {
			t.Fatalf("step %d: event index went back", i)
		}
	}
	// The walk must reach the interesting states, or it proves nothing.
	if withDown < 300 || flips < 100 {
		t.Errorf("only %d steps with a down endpoint and %d changes of health in 3000 steps", withDown, flips)
	}
	if holds < 50 || len(s.Overrides()) == 0 && withDown == 0 {
		t.Errorf("only %d steps with a failback hold", holds)
	}
	t.Logf("%d steps with a down endpoint, %d changes of health, %d with a failback hold", withDown, flips, holds)
}
