package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxEvidence is the most probe results kept as evidence in one node view
// (the last ones).
const MaxEvidence = 5

// Limits of the text kept in a ProbeResult of a committed view.
const (
	// MaxEvidenceBody is the most bytes of a failing body kept.
	MaxEvidenceBody = 256
	// MaxEvidenceError is the most bytes of an error text kept.
	MaxEvidenceError = 512
)

// ProbeResult is the evidence of one probe as the cluster records it; it
// mirrors the prober's own result type.
type ProbeResult struct {
	// Time is when the probe started.
	Time time.Time `json:"time"`
	// Duration is how long the probe took.
	Duration Duration `json:"duration"`
	// OK reports whether the probe passed.
	OK bool `json:"ok"`
	// Class is "ok" or the class of the failure (timeout, refused, reset,
	// tls, dns, status, body, protocol, error).
	Class string `json:"class,omitempty"`
	// Address is the host:port probed.
	Address string `json:"address,omitempty"`
	// Status is the HTTP status code, when a response was read.
	Status int `json:"status,omitempty"`
	// Rcode is the rcode of a dns check's reply.
	Rcode string `json:"rcode,omitempty"`
	// Error says what failed, in words (at most MaxEvidenceError bytes).
	Error string `json:"error,omitempty"`
	// Body holds the first bytes of a failing HTTP body (at most
	// MaxEvidenceBody).
	Body string `json:"body,omitempty"`
	// CertExpiryDays is the number of days until the server certificate
	// expires; nil when no certificate was seen.
	CertExpiryDays *int `json:"cert_expiry_days,omitempty"`
}

// ViewUpdate is one node's new verdict on one endpoint, as reported to the
// cluster.
type ViewUpdate struct {
	// Pool is the pool's name as written in the spec; Endpoint the
	// endpoint's name.
	Pool     string `json:"pool"`
	Endpoint string `json:"endpoint"`
	// Healthy is the node's verdict.
	Healthy bool `json:"healthy"`
	// Evidence holds the results that decided the verdict, oldest first;
	// only the last MaxEvidence are kept.
	Evidence []ProbeResult `json:"evidence,omitempty"`
}

// NodeView is one node's committed verdict on one endpoint.
type NodeView struct {
	// Healthy is the node's verdict.
	Healthy bool `json:"healthy"`
	// Since is when the verdict took this value, as stamped by the leader
	// that committed it.
	Since time.Time `json:"since"`
	// Evidence holds the last results reported with the verdict, oldest
	// first (at most MaxEvidence).
	Evidence []ProbeResult `json:"evidence,omitempty"`
}

// EndpointViews maps node IDs to their views of one endpoint. A map in a
// published State is never modified: transitions replace it.
type EndpointViews map[string]NodeView

// Report is one node's batch of view changes, committed as one log entry.
type Report struct {
	// Node is the reporting node's ID; it must be a member.
	Node string `json:"node"`
	// Degraded, when set, is the node's new degraded flag: a degraded
	// node's views stop counting.
	Degraded *bool `json:"degraded,omitempty"`
	// Full means Views is the node's complete view set: its views of
	// endpoints not listed are dropped.
	Full bool `json:"full,omitempty"`
	// Views are the node's verdicts. Views of pools or endpoints that are
	// not in the spec are ignored.
	Views []ViewUpdate `json:"views,omitempty"`
	// At is the time stamped by the leader that proposed the report.
	At time.Time `json:"at"`
}

// EndpointHealth describes the effective health of one endpoint and every
// node's view of it, for status pages.
type EndpointHealth struct {
	Pool     string `json:"pool"`
	Endpoint string `json:"endpoint"`
	// Healthy is the effective health (what DNS answers follow).
	Healthy bool `json:"healthy"`
	// Voters is the number of voting members.
	Voters int `json:"voters"`
	// Quorum is the effective quorum: how many counting nodes must be
	// able to say healthy.
	Quorum int `json:"quorum"`
	// Unhealthy is the number of counting nodes whose view says
	// unhealthy.
	Unhealthy int `json:"unhealthy"`
	// Views holds every node that has a view, sorted by node ID.
	Views []NodeViewOf `json:"views,omitempty"`
	// ProbeHealthy is what the probes' agreement alone says; Healthy
	// differs from it when an operator forced the endpoint.
	ProbeHealthy bool `json:"probe_healthy"`
	// Forced is up or down when an operator forced the endpoint.
	Forced string `json:"forced,omitempty"`
	// Drained reports that the endpoint is out of rotation.
	Drained bool `json:"drained,omitempty"`
	// Pinned reports that the pool is pinned to this endpoint.
	Pinned bool `json:"pinned,omitempty"`
	// Overrides are the overrides on the endpoint (a pool's pin is listed
	// with the endpoint it pins), sorted by kind.
	Overrides []Override `json:"overrides,omitempty"`
}

// NodeViewOf is one node's view of an endpoint, with whether it counts.
type NodeViewOf struct {
	// Node is the node's ID.
	Node string `json:"node"`
	NodeView
	// Counts reports whether the view counts: the node is a voting
	// member and not degraded.
	Counts bool `json:"counts"`
	// Degraded reports whether the node is degraded.
	Degraded bool `json:"degraded,omitempty"`
}

// EffectiveUnhealthy is the agreement rule: with voters voting members, a
// configured quorum (0: a majority) and unhealthy counting views that say
// unhealthy, it reports whether the endpoint is unhealthy. Without voters
// nothing is unhealthy.
//
// Every node probes every endpoint and commits its own verdict, its view,
// through the cluster log (State.ApplyReport). The effective health of an
// endpoint, the one that decides DNS answers, is a pure function of the
// committed views:
//
//   - voters is the number of members with Member.Voter set;
//   - a node counts when it is a voter and not degraded;
//   - quorum is the pool's check.quorum, or voters/2+1 when that is 0, and
//     at most voters (EffectiveQuorum);
//   - the endpoint is unhealthy iff the number of counting nodes whose view
//     says unhealthy is greater than voters - quorum, that is when fewer
//     than quorum nodes could still say healthy.
//
// A node without a view of the endpoint (it has not decided yet) and a
// degraded node never move traffic. With three voters and the default
// quorum one failing prober changes nothing and two flip the endpoint.
// Without views, or without voters, every endpoint is healthy.
//
// The result is kept in State.Down, recomputed by the transitions
// (ApplyReport, ApplySpec, UpsertMember, RemoveMember) for the endpoints a
// command touched, so that State.EndpointHealthy is a map lookup.
func EffectiveUnhealthy(voters, quorum, unhealthy int) bool {
	if voters <= 0 {
		return false
	}
	return unhealthy > voters-EffectiveQuorum(voters, quorum)
}

// EffectiveQuorum returns the quorum that applies among voters for a
// configured quorum: quorum itself, or voters/2+1 when it is 0 or less,
// and never more than voters.
func EffectiveQuorum(voters, quorum int) int {
	if quorum <= 0 {
		quorum = voters/2 + 1
	}
	return min(quorum, voters)
}

// Voters returns the number of members that have a vote.
func (s *State) Voters() int {
	n := 0
	for _, m := range s.Members {
		if m.Voter {
			n++
		}
	}
	return n
}

// IsDegraded reports whether node has reported itself degraded.
func (s *State) IsDegraded(node string) bool { return s.Degraded[node] }

// counts reports whether node's views count: a voting member that is not
// degraded.
func (s *State) counts(node string) bool {
	m, ok := s.Members[node]
	return ok && m.Voter && !s.Degraded[node]
}

// unhealthyViews counts the counting nodes of views that say unhealthy.
func (s *State) unhealthyViews(views EndpointViews) int {
	n := 0
	for node, v := range views {
		if !v.Healthy && s.counts(node) {
			n++
		}
	}
	return n
}

// EndpointHealth returns the effective health of endpoint ep of pool
// (found case-insensitively, trailing dot optional) with every node's view
// and the overrides on it. An unknown pool or
// endpoint is reported healthy without views.
func (s *State) EndpointHealth(pool, ep string) EndpointHealth {
	h := EndpointHealth{Pool: pool, Endpoint: ep, Healthy: true, Voters: s.Voters()}
	quorum := 0
	if p := s.lookupPool(pool); p != nil {
		h.Pool = p.Name
		quorum = p.Check.Quorum
	}
	h.Quorum = EffectiveQuorum(h.Voters, quorum)
	views := s.Views[h.Pool][ep]
	h.Unhealthy = s.unhealthyViews(views)
	h.Healthy = s.EndpointHealthy(h.Pool, ep)
	h.ProbeHealthy = s.ProbeHealthy(h.Pool, ep)
	po := s.PoolOverrides[h.Pool]
	if po.Pin != nil && po.Pin.Endpoint == ep {
		h.Pinned = true
		h.Overrides = append(h.Overrides, *po.Pin)
	}
	if d, ok := po.Drain[ep]; ok {
		h.Drained = true
		h.Overrides = append(h.Overrides, d)
	}
	if f, ok := po.Force[ep]; ok {
		h.Forced = f.State
		h.Overrides = append(h.Overrides, f)
	}
	slices.SortFunc(h.Overrides, func(a, b Override) int { return strings.Compare(a.Kind, b.Kind) })
	for _, node := range slices.Sorted(maps.Keys(views)) {
		h.Views = append(h.Views, NodeViewOf{Node: node, NodeView: views[node], Counts: s.counts(node), Degraded: s.Degraded[node]})
	}
	return h
}

// TrimEvidence returns the last MaxEvidence results of ev with error texts
// and bodies cut to their limits (on a character boundary). It returns ev
// itself when nothing needs cutting.
func TrimEvidence(ev []ProbeResult) []ProbeResult {
	if len(ev) > MaxEvidence {
		ev = ev[len(ev)-MaxEvidence:]
	}
	long := false
	for i := range ev {
		long = long || len(ev[i].Error) > MaxEvidenceError || len(ev[i].Body) > MaxEvidenceBody
	}
	if !long {
		return ev
	}
	out := slices.Clone(ev)
	for i := range out {
		out[i].Error = cutText(out[i].Error, MaxEvidenceError)
		out[i].Body = cutText(out[i].Body, MaxEvidenceBody)
	}
	return out
}

// cutText returns at most n bytes of s, cut on a UTF-8 boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// viewEditor changes State.Views copy-on-write: it clones the outer map
// and each pool's map at most once, and every endpoint's map it changes.
type viewEditor struct {
	s      *State
	top    bool
	cloned map[string]bool
}

// set makes v node's view of pool/ep; v nil removes the view.
func (e *viewEditor) set(pool, ep, node string, v *NodeView) {
	if !e.top {
		e.s.Views = maps.Clone(e.s.Views)
		if e.s.Views == nil {
			e.s.Views = make(map[string]map[string]EndpointViews)
		}
		e.top, e.cloned = true, make(map[string]bool)
	}
	pm := e.s.Views[pool]
	if !e.cloned[pool] {
		pm = maps.Clone(pm)
		e.cloned[pool] = true
	}
	if pm == nil {
		pm = make(map[string]EndpointViews)
	}
	nm := maps.Clone(pm[ep])
	if v == nil {
		delete(nm, node)
	} else {
		if nm == nil {
			nm = make(EndpointViews, 1)
		}
		nm[node] = *v
	}
	if len(nm) == 0 {
		delete(pm, ep)
	} else {
		pm[ep] = nm
	}
	e.s.Views[pool] = pm
}

// finish drops the empty maps that set left behind.
func (e *viewEditor) finish() {
	for pool := range e.cloned {
		if len(e.s.Views[pool]) == 0 {
			delete(e.s.Views, pool)
		}
	}
	if len(e.s.Views) == 0 {
		e.s.Views = nil
	}
}

// touchSet names the endpoints whose effective health a transition may
// have changed: pool name -> endpoint names. A nil touchSet means every
// endpoint.
type touchSet map[string]map[string]bool

func (t touchSet) add(pool, ep string) {
	m := t[pool]
	if m == nil {
		m = make(map[string]bool)
		t[pool] = m
	}
	m[ep] = true
}

// ApplyReport records node r.Node's report in s, which must be an
// unpublished shallow copy of a published State (it replaces, never
// modifies, the maps it changes). It updates the node's views and degraded
// flag, recomputes the effective health of the endpoints whose views
// changed, and records events for what changed. A report from a node that
// is not a member returns an error and changes nothing.
func (s *State) ApplyReport(r Report) error {
	if r.Node == "" {
		return fmt.Errorf("report views: empty node id")
	}
	if _, ok := s.Members[r.Node]; !ok {
		return fmt.Errorf("report views from %s: not a member", r.Node)
	}
	before := *s
	var events []Event
	all := false
	if r.Degraded != nil && *r.Degraded != s.Degraded[r.Node] {
		d := maps.Clone(s.Degraded)
		if d == nil {
			d = make(map[string]bool, 1)
		}
		if *r.Degraded {
			d[r.Node] = true
			events = append(events, Event{Time: r.At, Kind: EventNodeDegraded, Node: r.Node,
				Reason: fmt.Sprintf("node %s is degraded (its canaries fail); its views stop counting", r.Node)})
		} else {
			delete(d, r.Node)
			events = append(events, Event{Time: r.At, Kind: EventNodeRecovered, Node: r.Node,
				Reason: fmt.Sprintf("node %s recovered; its views count again", r.Node)})
		}
		if len(d) == 0 {
			d = nil
		}
		s.Degraded = d
		all = true
	}

	touched := make(touchSet)
	ed := viewEditor{s: s}
	var reported touchSet
	if r.Full {
		reported = make(touchSet)
	}
	pools := poolIndex(s.Spec)
	for _, u := range r.Views {
		p := pools[CanonicalName(u.Pool)]
		if p == nil {
			continue
		}
		ep := p.Endpoint(u.Endpoint)
		if ep == nil {
			continue
		}
		if reported != nil {
			reported.add(p.Name, ep.Name)
		}
		v := NodeView{Healthy: u.Healthy, Since: r.At, Evidence: TrimEvidence(u.Evidence)}
		cur, had := s.Views[p.Name][ep.Name][r.Node]
		if had && cur.Healthy == v.Healthy {
			v.Since = cur.Since
			if len(v.Evidence) == 0 {
				v.Evidence = cur.Evidence
			}
		}
		if !had || cur.Healthy != v.Healthy {
			touched.add(p.Name, ep.Name)
		}
		ed.set(p.Name, ep.Name, r.Node, &v)
	}
	if r.Full {
		for pool, pm := range before.Views {
			for ep, views := range pm {
				if _, has := views[r.Node]; has && !reported[pool][ep] {
					ed.set(pool, ep, r.Node, nil)
					touched.add(pool, ep)
				}
			}
		}
	}
	if ed.top {
		ed.finish()
	}
	if all {
		touched = nil
	}
	s.addEvents(events...)
	if touched == nil || len(touched) > 0 {
		s.refreshHealth(&before, touched, r.At)
	}
	return nil
}

// ApplySpec makes spec the spec of s (an unpublished shallow copy of a
// published State): SpecVersion is incremented and SpecIndex set to
// index. Views of pools or endpoints that spec no longer has are dropped,
// the others kept; effective health is recomputed for every endpoint, and
// events record the spec and any health change it caused.
func (s *State) ApplySpec(spec *Spec, index uint64, at time.Time) {
	before := *s
	s.Spec = spec
	s.SpecVersion++
	s.SpecIndex = index
	if s.Views != nil {
		views := make(map[string]map[string]EndpointViews, len(s.Views))
		for pool, pm := range s.Views {
			p := spec.Pool(pool)
			if p == nil {
				continue
			}
			keep, cloned := pm, false
			for ep := range pm {
				if p.Endpoint(ep) == nil {
					if !cloned {
						keep, cloned = maps.Clone(pm), true
					}
					delete(keep, ep)
				}
			}
			if len(keep) > 0 {
				views[p.Name] = keep
			}
		}
		if len(views) == 0 {
			views = nil
		}
		s.Views = views
	}
	s.pruneOverrides(spec, at)
	endpoints := 0
	for i := range spec.Pools {
		endpoints += len(spec.Pools[i].Endpoints)
	}
	s.addEvents(Event{Time: at, Kind: EventSpecApplied,
		Reason:  fmt.Sprintf("spec version %d applied: %d zones, %d pools, %d endpoints", s.SpecVersion, len(spec.Zones), len(spec.Pools), endpoints),
		Details: &EventDetails{SpecVersion: s.SpecVersion, Zones: len(spec.Zones), Pools: len(spec.Pools), Endpoints: endpoints}})
	s.refresh(&before, nil, at, false) // a spec change starts no failback hold
}

// UpsertMember records m in s (an unpublished shallow copy of a published
// State). A new member is recorded in an event; a change of the voter set
// recomputes effective health.
func (s *State) UpsertMember(m Member, at time.Time) {
	before := *s
	old, had := s.Members[m.ID]
	members := maps.Clone(s.Members)
	if members == nil {
		members = make(map[string]Member, 1)
	}
	members[m.ID] = m
	s.Members = members
	if !had {
		role := "voter"
		if !m.Voter {
			role = "non-voter"
		}
		s.addEvents(Event{Time: at, Kind: EventMemberJoined, Node: m.ID,
			Reason: fmt.Sprintf("member %s joined (%s, region %q)", m.ID, role, m.Region)})
	}
	if old.Voter != m.Voter {
		s.refreshHealth(&before, nil, at)
	}
}

// RemoveMember forgets member id in s (an unpublished shallow copy of a
// published State), with its views and degraded flag, and recomputes
// effective health. Removing an unknown id changes nothing.
func (s *State) RemoveMember(id string, at time.Time) {
	if _, ok := s.Members[id]; !ok {
		return
	}
	before := *s
	members := maps.Clone(s.Members)
	delete(members, id)
	if len(members) == 0 {
		members = nil
	}
	s.Members = members
	if s.Degraded[id] {
		d := maps.Clone(s.Degraded)
		delete(d, id)
		if len(d) == 0 {
			d = nil
		}
		s.Degraded = d
	}
	ed := viewEditor{s: s}
	for pool, pm := range before.Views {
		for ep, views := range pm {
			if _, has := views[id]; has {
				ed.set(pool, ep, id, nil)
			}
		}
	}
	if ed.top {
		ed.finish()
	}
	s.addEvents(Event{Time: at, Kind: EventMemberRemoved, Node: id,
		Reason: fmt.Sprintf("member %s removed; its views are dropped", id)})
	s.refreshHealth(&before, nil, at)
}

// refreshHealth recomputes State.Down for the touched endpoints (every
// endpoint when touched is nil) and records an event for every endpoint
// whose effective health differs from before, and for every pool that
// entered or left the all-down state.
func (s *State) refreshHealth(before *State, touched touchSet, at time.Time) {
	s.refresh(before, touched, at, true)
}

// refresh is refreshHealth; startHolds says whether a gated pool whose
// best healthy tier got worse starts a failback hold (transitions driven
// by health, not by a new spec).
func (s *State) refresh(before *State, touched touchSet, at time.Time, startHolds bool) {
	if s.Spec == nil {
		s.Down = nil
		return
	}
	voters := s.Voters()
	var down map[string]map[string]bool
	if touched == nil {
		down = make(map[string]map[string]bool)
	} else {
		down = maps.Clone(s.Down)
		if down == nil {
			down = make(map[string]map[string]bool)
		}
	}
	s.Down = down
	beforePools := func(name string) *Pool { return before.Spec.Pool(name) }
	if before.Spec != s.Spec && before.Spec != nil && (touched == nil || len(touched) > 8) {
		idx := poolIndex(before.Spec)
		beforePools = func(name string) *Pool { return idx[CanonicalName(name)] }
	}
	var events []Event
	for i := range s.Spec.Pools {
		p := &s.Spec.Pools[i]
		tp := touched[p.Name]
		if touched != nil && tp == nil {
			continue
		}
		var pd map[string]bool
		if touched != nil {
			pd = maps.Clone(down[p.Name])
		}
		if pd == nil {
			pd = make(map[string]bool)
		}
		quorum := EffectiveQuorum(voters, p.Check.Quorum)
		bp := p
		if before.Spec != s.Spec {
			bp = beforePools(p.Name)
		}
		for j := range p.Endpoints {
			ep := &p.Endpoints[j]
			if touched != nil && !tp[ep.Name] {
				continue
			}
			views := s.Views[p.Name][ep.Name]
			unhealthy := s.unhealthyViews(views)
			isDown := EffectiveUnhealthy(voters, p.Check.Quorum, unhealthy)
			if isDown {
				pd[ep.Name] = true
			} else {
				delete(pd, ep.Name)
			}
			if bp == nil || (bp != p && bp.Endpoint(ep.Name) == nil) {
				continue
			}
			wasDown := !before.ProbeHealthy(bp.Name, ep.Name)
			if wasDown == isDown {
				continue
			}
			// The reason is written below, only for the events kept.
			e := Event{Time: at, Kind: EventEndpointUp, Pool: p.Name, Endpoint: ep.Name,
				Details: &EventDetails{Views: views, Voters: voters, Quorum: quorum, Unhealthy: unhealthy}}
			if isDown {
				e.Kind = EventEndpointDown
			}
			events = append(events, e)
		}
		if len(pd) == 0 {
			delete(down, p.Name)
		} else {
			down[p.Name] = pd
		}
		events = append(events, s.updateHold(before, p, bp, at, startHolds)...)
		if bp == nil {
			continue
		}
		if e, ok := allDownEvent(before, s, p, bp, at); ok {
			events = append(events, e)
		}
	}
	if len(down) == 0 {
		s.Down = nil
	}
	// A large outage flips thousands of endpoints at once; only the
	// newest events are kept, so only those get a reason.
	for i := max(0, len(events)-s.maxEvents()); i < len(events); i++ {
		if e := &events[i]; e.Reason == "" {
			e.Reason = endpointReason(e)
		}
	}
	s.addEvents(events...)
}

// poolAllDownEvents records the event of pool p entering or leaving the
// all-down state between before (where it is bp) and s.
func (s *State) poolAllDownEvents(before *State, p, bp *Pool, at time.Time) {
	if e, ok := allDownEvent(before, s, p, bp, at); ok {
		s.addEvents(e)
	}
}

// allDownEvent returns the pool_all_down or pool_recovered event of p
// between before (where it is bp) and after, if it entered or left the
// all-down state.
func allDownEvent(before, after *State, p, bp *Pool, at time.Time) (Event, bool) {
	wasAll, isAll := before.PoolAnswer(bp).AllDown, after.PoolAnswer(p).AllDown
	if wasAll == isAll {
		return Event{}, false
	}
	wad := p.WhenAllDown
	if wad == "" {
		wad = AllDownServeAll
	}
	e := Event{Time: at, Pool: p.Name, Details: &EventDetails{WhenAllDown: wad}}
	if isAll {
		e.Kind = EventPoolAllDown
		if wad == AllDownServeNone {
			e.Reason = fmt.Sprintf("every endpoint of %s is down; answering NODATA (when_all_down serve_none)", p.Name)
		} else {
			e.Reason = fmt.Sprintf("every endpoint of %s is down; answering as if all were healthy (when_all_down serve_all)", p.Name)
		}
	} else {
		e.Kind = EventPoolRecovered
		e.Reason = fmt.Sprintf("%s has a healthy endpoint again", p.Name)
	}
	return e, true
}

// endpointReason writes the reason of an endpoint_down or endpoint_up
// event from its details.
func endpointReason(e *Event) string {
	d := e.Details
	if e.Kind == EventEndpointDown {
		return fmt.Sprintf("%d of %d voters see %s/%s unhealthy; fewer than %d could still see it healthy%s",
			d.Unhealthy, d.Voters, e.Pool, e.Endpoint, d.Quorum, failingClasses(d.Views))
	}
	return fmt.Sprintf("%d of %d voters see %s/%s unhealthy; at least %d may see it healthy",
		d.Unhealthy, d.Voters, e.Pool, e.Endpoint, d.Quorum)
}

// failingClasses summarises the failure classes in the evidence of the
// unhealthy views, for an event's reason: " (timeout: 2, status 503: 1)".
func failingClasses(views EndpointViews) string {
	counts := make(map[string]int)
	for _, v := range views {
		if v.Healthy || len(v.Evidence) == 0 {
			continue
		}
		last := v.Evidence[len(v.Evidence)-1]
		c := last.Class
		if c == "" {
			c = "failed"
		}
		if last.Status != 0 {
			c = fmt.Sprintf("%s %d", c, last.Status)
		}
		counts[c]++
	}
	if len(counts) == 0 {
		return ""
	}
	parts := make([]string, 0, len(counts))
	for _, c := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s: %d", c, counts[c]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// poolIndex maps the canonical names of spec's pools to the pools, for
// lookups in loops over many pools.
func poolIndex(spec *Spec) map[string]*Pool {
	if spec == nil {
		return nil
	}
	idx := make(map[string]*Pool, len(spec.Pools))
	for i := range spec.Pools {
		idx[CanonicalName(spec.Pools[i].Name)] = &spec.Pools[i]
	}
	return idx
}
