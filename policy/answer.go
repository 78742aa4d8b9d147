package policy

import "fmt"

// MaxMultivalue is the most endpoints a multivalue pool answers with.
const MaxMultivalue = 8

// PoolAnswer is what a pool answers with in one State: the endpoints that
// are candidates for a response and, for a weighted pool, their weights.
// The DNS server turns it into records: a failover or multivalue pool
// answers with every endpoint in Endpoints (multivalue shuffled per
// response), a weighted pool with one endpoint per response, chosen with
// Pick.
type PoolAnswer struct {
	// Policy is the pool's policy (failover, weighted or multivalue).
	Policy string
	// Endpoints are the candidates, in spec order. Empty means the pool
	// answers nothing (NODATA).
	Endpoints []*Endpoint
	// Weights holds the weight of each endpoint of a weighted pool (all
	// above 0); nil for the other policies.
	Weights []int
	// AllDown reports that no endpoint was healthy, so the answer follows
	// the pool's WhenAllDown setting.
	AllDown bool
	// Pinned reports that an operator pinned the pool to its one
	// endpoint (manual failover), whatever the probes say.
	Pinned bool
	// Held reports that a failover pool stays on a worse tier although a
	// better one is healthy: its failback is gated (manual or a hold
	// time) and has not happened yet.
	Held bool
	// Warnings say what an operator should know about the answer (a
	// pinned endpoint that probes call unhealthy).
	Warnings []string
}

// AnswerInput is what a pool's answer depends on besides the pool.
type AnswerInput struct {
	// Healthy reports an endpoint's effective health; required.
	Healthy func(ep *Endpoint) bool
	// Drained reports an endpoint taken out of rotation: never answered,
	// not even when the pool fails open. Nil means none.
	Drained func(ep *Endpoint) bool
	// Pin, when set, is the only endpoint answered, healthy or not.
	Pin *Endpoint
	// HoldTier, when set on a failover pool, is the tier answered while
	// it has a healthy endpoint, even if a better tier is healthy.
	HoldTier *int
}

// TotalWeight is the sum of Weights.
func (a PoolAnswer) TotalWeight() int {
	t := 0
	for _, w := range a.Weights {
		t += w
	}
	return t
}

// Pick returns the index in Endpoints of the weighted choice for the
// random number r, which must be uniform in [0, TotalWeight()). Each
// endpoint is picked with a probability proportional to its weight. For a
// pool without weights it returns r modulo the number of endpoints. It
// returns -1 when there are no endpoints.
func (a PoolAnswer) Pick(r int) int {
	if len(a.Endpoints) == 0 {
		return -1
	}
	if len(a.Weights) != len(a.Endpoints) {
		if r < 0 {
			r = -r
		}
		return r % len(a.Endpoints)
	}
	for i, w := range a.Weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(a.Endpoints) - 1
}

// PoolAnswer decides the answer of pool p in s: endpoint health from
// s.EndpointHealthy (probes, or an operator's force), the pool's pin and
// drains, and its failback hold. It is the one decision that DNS answers,
// zone serials and Route 53 records follow.
func (s *State) PoolAnswer(p *Pool) PoolAnswer {
	healthy := func(ep *Endpoint) bool { return s.EndpointHealthy(p.Name, ep.Name) }
	po, hasPO := s.PoolOverrides[p.Name]
	hold, held := s.Failbacks[p.Name]
	if !hasPO && !held {
		return AnswerPool(p, healthy)
	}
	in := AnswerInput{Healthy: healthy}
	if len(po.Drain) > 0 {
		in.Drained = func(ep *Endpoint) bool { _, ok := po.Drain[ep.Name]; return ok }
	}
	if po.Pin != nil {
		in.Pin = p.Endpoint(po.Pin.Endpoint)
	}
	if held {
		in.HoldTier = &hold.Tier
	}
	return Answer(p, in)
}

// Answer decides the answer of pool p from in. A pin answers its endpoint
// alone (with a warning when it is unhealthy). Otherwise drained endpoints
// are left out, a failover pool with HoldTier answers the healthy
// endpoints of that tier while it has any (Held when a better tier is
// healthy), and the rest is AnswerPool's rule over the endpoints that are
// not drained.
func Answer(p *Pool, in AnswerInput) PoolAnswer {
	if ep := in.Pin; ep != nil {
		a := PoolAnswer{Policy: p.Policy, Endpoints: []*Endpoint{ep}, Pinned: true}
		if p.Policy == PolicyWeighted {
			a.Weights = []int{max(1, weightOf(ep))}
		}
		if !in.Healthy(ep) {
			a.Warnings = []string{fmt.Sprintf("pinned endpoint %s is unhealthy; answering it anyway", ep.Name)}
		}
		return a
	}
	eligible := func(ep *Endpoint) bool { return in.Drained == nil || !in.Drained(ep) }
	ok := func(ep *Endpoint) bool { return eligible(ep) && in.Healthy(ep) }
	if in.HoldTier != nil && p.Policy == PolicyFailover {
		a := PoolAnswer{Policy: p.Policy}
		better := false
		for i := range p.Endpoints {
			ep := &p.Endpoints[i]
			if !ok(ep) {
				continue
			}
			switch {
			case ep.Priority == *in.HoldTier:
				a.Endpoints = append(a.Endpoints, ep)
			case ep.Priority < *in.HoldTier:
				better = true
			}
		}
		if len(a.Endpoints) > 0 {
			a.Held = better
			return a
		}
	}
	a := choose(p, ok)
	if len(a.Endpoints) > 0 {
		return a
	}
	if p.WhenAllDown == AllDownServeNone {
		return PoolAnswer{Policy: p.Policy, AllDown: true}
	}
	a = choose(p, eligible)
	a.AllDown = true
	return a
}

// AnswerPool decides the answer of pool p given which endpoints are healthy: failover answers with
// the healthy endpoints of the best (lowest) priority tier, weighted with
// the healthy endpoints of weight above 0, multivalue with the first
// MaxMultivalue healthy endpoints. When no endpoint qualifies, a pool with
// when_all_down serve_none (NODATA) answers nothing, and any other pool
// answers as if every endpoint were healthy (fail open).
func AnswerPool(p *Pool, healthy func(ep *Endpoint) bool) PoolAnswer {
	a := choose(p, healthy)
	if len(a.Endpoints) > 0 {
		return a
	}
	if p.WhenAllDown == AllDownServeNone {
		return PoolAnswer{Policy: p.Policy, AllDown: true}
	}
	a = choose(p, func(*Endpoint) bool { return true })
	a.AllDown = true
	return a
}

// choose applies p's policy to the endpoints for which ok holds.
func choose(p *Pool, ok func(*Endpoint) bool) PoolAnswer {
	a := PoolAnswer{Policy: p.Policy}
	switch p.Policy {
	case PolicyWeighted:
		for i := range p.Endpoints {
			ep := &p.Endpoints[i]
			if w := weightOf(ep); w > 0 && ok(ep) {
				a.Endpoints = append(a.Endpoints, ep)
				a.Weights = append(a.Weights, w)
			}
		}
	case PolicyMultivalue:
		for i := range p.Endpoints {
			if ep := &p.Endpoints[i]; ok(ep) && len(a.Endpoints) < MaxMultivalue {
				a.Endpoints = append(a.Endpoints, ep)
			}
		}
	default: // failover
		best, found := 0, false
		for i := range p.Endpoints {
			ep := &p.Endpoints[i]
			if ok(ep) && (!found || ep.Priority < best) {
				best, found = ep.Priority, true
			}
		}
		for i := range p.Endpoints {
			if ep := &p.Endpoints[i]; found && ep.Priority == best && ok(ep) {
				a.Endpoints = append(a.Endpoints, ep)
			}
		}
	}
	return a
}

// weightOf returns an endpoint's weight; an unset weight counts as 1.
func weightOf(ep *Endpoint) int {
	if ep.Weight == nil {
		return 1
	}
	return *ep.Weight
}
