package policy

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

// PoolAnswer decides the answer of pool p in s, with endpoint health from
// s.EndpointHealthy.
func (s *State) PoolAnswer(p *Pool) PoolAnswer {
	return AnswerPool(p, func(ep *Endpoint) bool { return s.EndpointHealthy(p.Name, ep.Name) })
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
