package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/detour-dns/detour/policy"
)

// ViewReport is the body of POST /v1/views: one node's batch of health
// verdicts, which the leader commits as one log entry. The endpoint is
// internal: nodes send their probe verdicts with it; operators have no
// reason to.
type ViewReport struct {
	// Node is the reporting node's ID; it must be a member.
	Node string `json:"node"`
	// Degraded, when set, is the node's degraded flag (every canary
	// failing): a degraded node's views stop counting.
	Degraded *bool `json:"degraded,omitempty"`
	// Full means Views is the node's complete view set: its views of
	// endpoints not listed are dropped.
	Full bool `json:"full,omitempty"`
	// Views are the node's verdicts, each naming its pool as written in
	// the spec and the endpoint.
	Views []policy.ViewUpdate `json:"views,omitempty"`
}

// ViewWriter commits a node's views. It is leader-only: a follower returns
// a *NotLeaderError; a report from a node that is not a member an error
// wrapping ErrUnknownMember; without quorum an error wrapping ErrNoQuorum.
type ViewWriter interface {
	ReportViews(ctx context.Context, r ViewReport) error
}

// LocalProber gives the results of this node's own prober, for the pool
// pages and the status. A nil Config.Prober means the node does not probe.
type LocalProber interface {
	// Results returns the last results of the endpoint named ep of pool
	// (the pool's name as written in the spec), oldest first; nil when
	// the endpoint is not probed.
	Results(pool, ep string) []policy.ProbeResult
	// Degraded reports whether every canary of this node is failing.
	Degraded() bool
}

// PoolList is the answer to GET /v1/pools.
type PoolList struct {
	// SpecVersion and Index identify the state the answer describes.
	SpecVersion uint64 `json:"spec_version"`
	Index       uint64 `json:"index"`
	// Node is the node that answered; EndpointStatus.Local holds its own
	// probe results.
	Node  string       `json:"node"`
	Pools []PoolStatus `json:"pools"`
}

// PoolStatus is one pool's health and current answer.
type PoolStatus struct {
	// Node is the node that answered (GET /v1/pools/{name} only; the
	// list names it once).
	Node        string `json:"node,omitempty"`
	Name        string `json:"name"`
	Policy      string `json:"policy"`
	WhenAllDown string `json:"when_all_down,omitempty"`
	// Answer is what the pool answers with in this state.
	Answer PoolAnswer `json:"answer"`
	// Endpoints holds every endpoint of the pool, in spec order.
	Endpoints []EndpointStatus `json:"endpoints"`
	// Overrides are the operator overrides on the pool.
	Overrides []policy.Override `json:"overrides,omitempty"`
	// Failback, when set, says that the pool is held on a worse tier
	// until the hold time passes or an operator fails it back.
	Failback *policy.FailbackHold `json:"failback,omitempty"`
	// FailbackMode is auto, manual or the hold time.
	FailbackMode string `json:"failback_mode,omitempty"`
}

// PoolAnswer is the answer a pool gives: the endpoints it answers with,
// their weights (weighted pools) and whether it fell back to its
// when_all_down rule because nothing is healthy.
type PoolAnswer struct {
	Endpoints []string `json:"endpoints"`
	Weights   []int    `json:"weights,omitempty"`
	AllDown   bool     `json:"all_down,omitempty"`
	// Pinned: an operator pinned the pool to its one endpoint. Held: a
	// gated failback keeps it on a worse tier.
	Pinned   bool     `json:"pinned,omitempty"`
	Held     bool     `json:"held,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// EndpointStatus is the health of one endpoint: the effective health that
// DNS answers follow, every node's committed view with its time and
// evidence, and the answering node's latest local results.
type EndpointStatus struct {
	Name string `json:"name"`
	// Healthy is the effective health (after a force).
	Healthy bool `json:"healthy"`
	// ProbeHealthy is what the probes alone say.
	ProbeHealthy bool `json:"probe_healthy"`
	// Forced is up or down when forced; Drained and Pinned say whether
	// the endpoint is out of rotation or the pool is pinned to it.
	Forced  string `json:"forced,omitempty"`
	Drained bool   `json:"drained,omitempty"`
	Pinned  bool   `json:"pinned,omitempty"`
	// Voters, Quorum and Unhealthy are the figures of the agreement rule:
	// unhealthy when more than Voters-Quorum counting views say unhealthy.
	Voters    int `json:"voters"`
	Quorum    int `json:"quorum"`
	Unhealthy int `json:"unhealthy"`
	// Views holds every node's committed view, sorted by node.
	Views []policy.NodeViewOf `json:"views"`
	// Local holds the answering node's own latest probe results, oldest
	// first (GET /v1/pools: the last one only).
	Local []policy.ProbeResult `json:"local,omitempty"`
}

// EventList is the answer to GET /v1/events.
type EventList struct {
	// Events are the events with an index above the query's after, oldest
	// first, at most limit of them.
	Events []policy.Event `json:"events"`
	// Last is the index of the last event returned, or the query's after
	// when none: pass it as after to get the next page.
	Last uint64 `json:"last"`
	// Dropped reports that events right after the query's after were
	// already dropped (only the last policy.MaxEvents are kept).
	Dropped bool `json:"dropped,omitempty"`
}

// Event list limits.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = policy.MaxEvents
)

func (s *Server) handlePools(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.State()
	out := PoolList{SpecVersion: st.SpecVersion, Index: st.Index, Node: s.cfg.NodeID, Pools: []PoolStatus{}}
	if st.Spec != nil {
		for i := range st.Spec.Pools {
			out.Pools = append(out.Pools, s.poolStatus(st, &st.Spec.Pools[i], 1))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handlePool(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st := s.cluster.State()
	p := st.Spec.Pool(policy.CanonicalName(name))
	if p == nil {
		writeError(w, &Error{StatusCode: http.StatusNotFound, Code: CodeUnknownPool,
			Message: fmt.Sprintf("no pool named %q in spec version %d", name, st.SpecVersion)})
		return
	}
	ps := s.poolStatus(st, p, 0)
	ps.Node = s.cfg.NodeID
	writeJSON(w, http.StatusOK, ps)
}

// poolStatus describes pool p in st, with at most last local results per
// endpoint (0: all).
func (s *Server) poolStatus(st *policy.State, p *policy.Pool, last int) PoolStatus {
	ps := PoolStatus{Name: p.Name, Policy: p.Policy, WhenAllDown: p.WhenAllDown, Endpoints: []EndpointStatus{}}
	a := st.PoolAnswer(p)
	ps.Answer = PoolAnswer{Endpoints: []string{}, Weights: a.Weights, AllDown: a.AllDown, Pinned: a.Pinned,
		Held: a.Held, Warnings: a.Warnings}
	for _, o := range st.Overrides() {
		if o.Pool == p.Name {
			ps.Overrides = append(ps.Overrides, o)
		}
	}
	if h, ok := st.Failbacks[p.Name]; ok {
		ps.Failback = &h
	}
	if p.Policy == "failover" {
		ps.FailbackMode = "auto"
		if gated, hold := p.FailbackMode(); gated && hold == 0 {
			ps.FailbackMode = "manual"
		} else if gated {
			ps.FailbackMode = hold.String()
		}
	}
	for _, ep := range a.Endpoints {
		ps.Answer.Endpoints = append(ps.Answer.Endpoints, ep.Name)
	}
	for i := range p.Endpoints {
		ep := &p.Endpoints[i]
		h := st.EndpointHealth(p.Name, ep.Name)
		es := EndpointStatus{Name: ep.Name, Healthy: h.Healthy, ProbeHealthy: h.ProbeHealthy, Forced: h.Forced,
			Drained: h.Drained, Pinned: h.Pinned, Voters: h.Voters, Quorum: h.Quorum, Unhealthy: h.Unhealthy, Views: h.Views}
		if es.Views == nil {
			es.Views = []policy.NodeViewOf{}
		}
		if s.cfg.Prober != nil {
			res := s.cfg.Prober.Results(p.Name, ep.Name)
			if last > 0 && len(res) > last {
				res = res[len(res)-last:]
			}
			es.Local = res
		}
		ps.Endpoints = append(ps.Endpoints, es)
	}
	return ps
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ds []ErrorDetail
	after, err := parseUint(q.Get("after"), 0)
	if err != nil {
		ds = append(ds, ErrorDetail{Field: "after", Message: err.Error()})
	}
	limit, err := parseUint(q.Get("limit"), DefaultEventLimit)
	switch {
	case err != nil:
		ds = append(ds, ErrorDetail{Field: "limit", Message: err.Error()})
	case limit == 0 || limit > MaxEventLimit:
		ds = append(ds, ErrorDetail{Field: "limit", Message: fmt.Sprintf("must be from 1 to %d, got %d", MaxEventLimit, limit)})
	}
	if len(ds) > 0 {
		writeError(w, &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid query", Details: ds})
		return
	}
	evs := s.cluster.State().EventsAfter(after, int(limit))
	out := EventList{Events: evs, Last: after}
	if out.Events == nil {
		out.Events = []policy.Event{}
	}
	if n := len(evs); n > 0 {
		out.Last = evs[n-1].Index
		out.Dropped = evs[0].Index > after+1
	}
	writeJSON(w, http.StatusOK, out)
}

// parseUint parses a non-negative query number; "" gives def.
func parseUint(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return n, nil
}

func (s *Server) handleViews(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.cfg.MaxSpecBytes)
	if !ok {
		return
	}
	var req ViewReport
	if e := decodeJSON(body, &req, false); e != nil {
		writeError(w, e)
		return
	}
	if e := checkViews(req); e != nil {
		writeError(w, e)
		return
	}
	s.runWrite(w, r, body, func(ctx context.Context) (int, any, error) {
		if err := s.cluster.ReportViews(ctx, req); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"node": req.Node, "status": "committed", "views": len(req.Views)}, nil
	})
}

// checkViews validates a view report's fields.
func checkViews(req ViewReport) *Error {
	var ds []ErrorDetail
	if err := ValidNodeID(req.Node); err != nil {
		ds = append(ds, ErrorDetail{Field: "node", Message: err.Error()})
	}
	for i, v := range req.Views {
		if v.Pool == "" {
			ds = append(ds, ErrorDetail{Field: fmt.Sprintf("views[%d].pool", i), Message: "is required"})
		}
		if v.Endpoint == "" {
			ds = append(ds, ErrorDetail{Field: fmt.Sprintf("views[%d].endpoint", i), Message: "is required"})
		}
		if len(ds) >= 10 {
			break
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid view report", Details: ds}
}

// addHealthStatus fills in the health figures of a status answer.
func (s *Server) addHealthStatus(st *Status) {
	if s.cfg.Prober != nil {
		st.Degraded = s.cfg.Prober.Degraded()
	}
	state := s.cluster.State()
	if state.Spec != nil {
		st.Pools = len(state.Spec.Pools)
		for i := range state.Spec.Pools {
			p := &state.Spec.Pools[i]
			st.Endpoints += len(p.Endpoints)
			for k := range p.Endpoints {
				if !state.EndpointHealthy(p.Name, p.Endpoints[k].Name) {
					st.EndpointsDown++
				}
			}
			a := state.PoolAnswer(p)
			if a.AllDown {
				st.PoolsAllDown++
			}
			if a.Held {
				st.PoolsHeld++
			}
		}
	}
	st.Overrides = len(state.Overrides())
	for node, d := range state.Degraded {
		if d {
			st.DegradedNodes = append(st.DegradedNodes, node)
		}
	}
	slices.Sort(st.DegradedNodes)
}
