package policy

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kinds of overrides (Override.Kind).
const (
	// OverridePin answers a pool with one endpoint (manual failover).
	OverridePin = "pin"
	// OverrideDrain takes an endpoint out of a pool's rotation.
	OverrideDrain = "drain"
	// OverrideForce replaces an endpoint's effective health.
	OverrideForce = "force"
)

// Values of Override.State for a force.
const (
	ForceUp   = "up"
	ForceDown = "down"
)

// ActorDetour is the actor of the changes the leader commits on its own
// (expiry of overrides, failback after the hold time).
const ActorDetour = "detour"

// Override is one operator decision that wins over probes. Overrides are
// part of the replicated state: every node answers the same way, and they
// survive restarts.
type Override struct {
	// Kind is pin, drain or force.
	Kind string `json:"kind"`
	// Pool is the pool's name as written in the spec; Endpoint the
	// endpoint's name (for a pin, the endpoint the pool answers with).
	Pool     string `json:"pool"`
	Endpoint string `json:"endpoint"`
	// State is up or down for a force, empty otherwise.
	State string `json:"state,omitempty"`
	// Actor is who set it (the API token's name); Reason why.
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// Created is when it was set, stamped by the leader.
	Created time.Time `json:"created"`
	// Expires, when set, is when the leader releases it.
	Expires *time.Time `json:"expires,omitempty"`
	// Forced reports that the request overrode a safety refusal.
	Forced bool `json:"forced,omitempty"`
	// Index is the Raft index of the command that set it.
	Index uint64 `json:"index,omitempty"`
}

// PoolOverrides are the overrides on one pool: at most one pin, one drain
// and one force per endpoint. A value in a published State is never
// modified: transitions replace it.
type PoolOverrides struct {
	Pin   *Override           `json:"pin,omitempty"`
	Drain map[string]Override `json:"drain,omitempty"`
	Force map[string]Override `json:"force,omitempty"`
}

func (po PoolOverrides) empty() bool {
	return po.Pin == nil && len(po.Drain) == 0 && len(po.Force) == 0
}

// equal reports whether po and o hold the same overrides.
func (po PoolOverrides) equal(o PoolOverrides) bool {
	if (po.Pin == nil) != (o.Pin == nil) || (po.Pin != nil && *po.Pin != *o.Pin) {
		return false
	}
	return maps.Equal(po.Drain, o.Drain) && maps.Equal(po.Force, o.Force)
}

// Overrides returns every override of s, sorted by pool, kind and
// endpoint. The slice is new; the Overrides are copies.
func (s *State) Overrides() []Override {
	var out []Override
	for _, po := range s.PoolOverrides {
		if po.Pin != nil {
			out = append(out, *po.Pin)
		}
		for _, o := range po.Drain {
			out = append(out, o)
		}
		for _, o := range po.Force {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Override) int {
		return cmp.Or(strings.Compare(a.Pool, b.Pool), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Endpoint, b.Endpoint))
	})
	return out
}

// Errors of override commands. The concrete error is an *OverrideError;
// check with errors.Is.
var (
	// ErrUnknownPool: no pool of that name (HTTP 404).
	ErrUnknownPool = errors.New("policy: no such pool")
	// ErrUnknownEndpoint: the pool has no endpoint of that name (404).
	ErrUnknownEndpoint = errors.New("policy: no such endpoint")
	// ErrNoOverride: nothing to release or clear, or a failback of a
	// pool that is not held (404).
	ErrNoOverride = errors.New("policy: no such override")
	// ErrUnsafe: the change would leave the pool without a healthy
	// endpoint in its answer; send it with force to do it anyway (409).
	ErrUnsafe = errors.New("policy: unsafe override")
	// ErrUnhealthy: a pin with require_healthy to an endpoint that is not
	// healthy (409).
	ErrUnhealthy = errors.New("policy: endpoint not healthy")
	// ErrConflict: the override contradicts another (a pin to a drained
	// endpoint, a drain of the pinned endpoint) (409).
	ErrConflict = errors.New("policy: conflicting override")
	// ErrBadOverride: a malformed request (400).
	ErrBadOverride = errors.New("policy: bad override request")
)

// Codes of OverrideError, one per sentinel.
const (
	CodeUnknownPool     = "unknown_pool"
	CodeUnknownEndpoint = "unknown_endpoint"
	CodeNoOverride      = "no_override"
	CodeUnsafe          = "unsafe"
	CodeUnhealthy       = "unhealthy"
	CodeConflict        = "conflict"
	CodeBadOverride     = "bad_request"
)

var codeErrs = map[string]error{
	CodeUnknownPool: ErrUnknownPool, CodeUnknownEndpoint: ErrUnknownEndpoint, CodeNoOverride: ErrNoOverride,
	CodeUnsafe: ErrUnsafe, CodeUnhealthy: ErrUnhealthy, CodeConflict: ErrConflict, CodeBadOverride: ErrBadOverride,
}

// OverrideError is why an override command was refused. It unwraps to the
// sentinel of its Code.
type OverrideError struct {
	Code     string `json:"code"`
	Pool     string `json:"pool,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	// Message explains the refusal in one sentence.
	Message string `json:"message"`
	// Remaining lists, for an unsafe change, every endpoint of the pool
	// and why it would not count as a healthy answer.
	Remaining []EndpointStatus `json:"remaining,omitempty"`
}

// EndpointStatus is one endpoint's standing in a safety explanation.
type EndpointStatus struct {
	Endpoint string `json:"endpoint"`
	// Healthy reports whether it would be a healthy answer.
	Healthy bool `json:"healthy"`
	// Why says why not: unhealthy, drained, forced down, weight 0,
	// worse tier, not pinned.
	Why string `json:"why,omitempty"`
}

// Error returns Message.
func (e *OverrideError) Error() string { return e.Message }

// Unwrap returns the sentinel of e.Code.
func (e *OverrideError) Unwrap() error { return codeErrs[e.Code] }

func overrideErr(code, pool, ep, format string, args ...any) *OverrideError {
	return &OverrideError{Code: code, Pool: pool, Endpoint: ep, Message: fmt.Sprintf(format, args...)}
}

// OverrideResult is the outcome of an override command or a failback.
type OverrideResult struct {
	// Override is the override now in force (nil after a release).
	Override *Override `json:"override,omitempty"`
	// Replaced is the override it replaced or released, if any.
	Replaced *Override `json:"replaced,omitempty"`
	// Warnings are things the operator should know (a pin to an
	// unhealthy endpoint, a forced unsafe change).
	Warnings []string `json:"warnings,omitempty"`
	// Index is the Raft index of the command.
	Index uint64 `json:"index"`
}

// SetOverrideCommand sets an override, as the leader proposes it.
type SetOverrideCommand struct {
	// Override is the override; its Created (and Expires) are stamped by
	// the leader, its Index and Forced are set when applied.
	Override Override `json:"override"`
	// RequireHealthy refuses a pin to an endpoint that is not healthy.
	RequireHealthy bool `json:"require_healthy,omitempty"`
	// Force does a drain or force-down even when it leaves the pool
	// without a healthy endpoint.
	Force bool `json:"force,omitempty"`
}

// ClearOverrideCommand clears an override, as the leader proposes it.
type ClearOverrideCommand struct {
	Kind     string `json:"kind"`
	Pool     string `json:"pool"`
	Endpoint string `json:"endpoint,omitempty"` // ignored for a pin
	Actor    string `json:"actor"`
	Reason   string `json:"reason,omitempty"`
	// At is the leader's time.
	At time.Time `json:"at"`
	// Expired marks a release the leader commits because the override
	// expired; it applies only while the override set at ExpectIndex is
	// still the one in force.
	Expired     bool   `json:"expired,omitempty"`
	ExpectIndex uint64 `json:"expect_index,omitempty"`
}

// CheckOverride reports what is malformed in o (kind, pool, endpoint,
// actor, a force's state) as an error wrapping ErrBadOverride.
func CheckOverride(o Override) error {
	var probs []string
	switch o.Kind {
	case OverridePin, OverrideDrain:
		if o.State != "" {
			probs = append(probs, "state applies to force only")
		}
	case OverrideForce:
		if o.State != ForceUp && o.State != ForceDown {
			probs = append(probs, fmt.Sprintf("state %q is not up or down", o.State))
		}
	default:
		probs = append(probs, fmt.Sprintf("kind %q is not pin, drain or force", o.Kind))
	}
	if strings.TrimSpace(o.Pool) == "" {
		probs = append(probs, "pool is required")
	}
	if strings.TrimSpace(o.Endpoint) == "" {
		probs = append(probs, "endpoint is required")
	}
	if strings.TrimSpace(o.Actor) == "" {
		probs = append(probs, "actor is required")
	}
	if o.Expires != nil && !o.Expires.After(o.Created) {
		probs = append(probs, "expires must be after created")
	}
	if len(probs) == 0 {
		return nil
	}
	return overrideErr(CodeBadOverride, o.Pool, o.Endpoint, "%s override: %s", o.Kind, strings.Join(probs, "; "))
}

// lookupPool finds a pool by name, case-insensitively, with or without the
// trailing dot.
func (s *State) lookupPool(name string) *Pool {
	name = strings.TrimSpace(name)
	if name == "" || s.Spec == nil {
		return nil
	}
	return s.Spec.Pool(FQDN(name))
}

// setPoolOverrides records po for pool, copy-on-write.
func (s *State) setPoolOverrides(pool string, po PoolOverrides) {
	m := maps.Clone(s.PoolOverrides)
	if po.empty() {
		delete(m, pool)
	} else {
		if m == nil {
			m = make(map[string]PoolOverrides, 1)
		}
		m[pool] = po
	}
	if len(m) == 0 {
		m = nil
	}
	s.PoolOverrides = m
}

// clonePO returns a copy of po whose maps may be changed.
func clonePO(po PoolOverrides) PoolOverrides {
	return PoolOverrides{Pin: po.Pin, Drain: maps.Clone(po.Drain), Force: maps.Clone(po.Force)}
}

// healthyAnswers counts the endpoints of a (p's answer in s) that are
// healthy and not drained in s.
func (s *State) healthyAnswers(p *Pool, a PoolAnswer) int {
	po := s.PoolOverrides[p.Name]
	n := 0
	for _, ep := range a.Endpoints {
		if _, drained := po.Drain[ep.Name]; !drained && s.EndpointHealthy(p.Name, ep.Name) {
			n++
		}
	}
	return n
}

// remaining explains, for every endpoint of p, whether it is a healthy
// answer in s and why not.
func (s *State) remaining(p *Pool) []EndpointStatus {
	a := s.PoolAnswer(p)
	in := make(map[string]bool, len(a.Endpoints))
	for _, ep := range a.Endpoints {
		in[ep.Name] = true
	}
	po := s.PoolOverrides[p.Name]
	out := make([]EndpointStatus, 0, len(p.Endpoints))
	for i := range p.Endpoints {
		ep := &p.Endpoints[i]
		st := EndpointStatus{Endpoint: ep.Name}
		_, drained := po.Drain[ep.Name]
		f, forced := po.Force[ep.Name]
		switch {
		case drained:
			st.Why = "drained"
		case forced && f.State == ForceDown:
			st.Why = "forced down"
		case !s.EndpointHealthy(p.Name, ep.Name):
			st.Why = "unhealthy"
		case p.Policy == PolicyWeighted && weightOf(ep) == 0:
			st.Why = "weight 0"
		case po.Pin != nil && !in[ep.Name]:
			st.Why = "not pinned"
		case !in[ep.Name]:
			st.Why = "worse tier"
		default:
			st.Healthy = true
		}
		out = append(out, st)
	}
	return out
}

// SetOverride applies c to s (an unpublished shallow copy of a published
// State) at Raft index index. It replaces an override of the same kind on
// the same target (one pin per pool, one drain and one force per
// endpoint), records an override_set event, and returns what changed. It
// refuses, changing nothing, an unknown pool or endpoint, a malformed
// override, a pin to a drained endpoint or a drain of the pinned one
// (ErrConflict), a pin with RequireHealthy to an endpoint that is not
// healthy (ErrUnhealthy), and a drain or force-down that would leave the
// pool with no healthy endpoint in its answer when it had one (ErrUnsafe,
// unless c.Force: the override then records Forced).
func (s *State) SetOverride(c SetOverrideCommand, index uint64) (OverrideResult, error) {
	o := c.Override
	if err := CheckOverride(o); err != nil {
		return OverrideResult{}, err
	}
	p := s.lookupPool(o.Pool)
	if p == nil {
		return OverrideResult{}, overrideErr(CodeUnknownPool, o.Pool, "", "no pool named %s", o.Pool)
	}
	ep := p.Endpoint(o.Endpoint)
	if ep == nil {
		return OverrideResult{}, overrideErr(CodeUnknownEndpoint, p.Name, o.Endpoint, "pool %s has no endpoint named %s", p.Name, o.Endpoint)
	}
	o.Pool, o.Index, o.Forced = p.Name, index, false
	po := clonePO(s.PoolOverrides[p.Name])
	res := OverrideResult{Index: index}
	var replaced *Override
	healthy := s.EndpointHealthy(p.Name, ep.Name)
	switch o.Kind {
	case OverridePin:
		if _, drained := po.Drain[ep.Name]; drained {
			return OverrideResult{}, overrideErr(CodeConflict, p.Name, ep.Name, "endpoint %s of %s is drained; undrain it before pinning the pool to it", ep.Name, p.Name)
		}
		if !healthy && c.RequireHealthy {
			return OverrideResult{}, overrideErr(CodeUnhealthy, p.Name, ep.Name, "endpoint %s of %s is not healthy (require_healthy)", ep.Name, p.Name)
		}
		replaced = po.Pin
		po.Pin = &o
		if !healthy {
			res.Warnings = append(res.Warnings, fmt.Sprintf("endpoint %s of %s is unhealthy; the pool answers it anyway while pinned", ep.Name, p.Name))
		}
	case OverrideDrain:
		if po.Pin != nil && po.Pin.Endpoint == ep.Name {
			return OverrideResult{}, overrideErr(CodeConflict, p.Name, ep.Name, "%s is pinned to %s; release the pin before draining it", p.Name, ep.Name)
		}
		if old, ok := po.Drain[ep.Name]; ok {
			replaced = &old
		}
		if po.Drain == nil {
			po.Drain = make(map[string]Override, 1)
		}
		po.Drain[ep.Name] = o
	case OverrideForce:
		if old, ok := po.Force[ep.Name]; ok {
			replaced = &old
		}
		if po.Force == nil {
			po.Force = make(map[string]Override, 1)
		}
		po.Force[ep.Name] = o
	}

	cand := *s
	cand.setPoolOverrides(p.Name, po)
	var remaining []EndpointStatus
	if o.Kind == OverrideDrain || (o.Kind == OverrideForce && o.State == ForceDown) {
		if s.healthyAnswers(p, s.PoolAnswer(p)) > 0 && cand.healthyAnswers(p, cand.PoolAnswer(p)) == 0 {
			remaining = cand.remaining(p)
			if !c.Force {
				e := overrideErr(CodeUnsafe, p.Name, ep.Name, "%s %s/%s would leave %s with no healthy endpoint in its answer (%s); send force to do it anyway",
					overrideVerb(o), p.Name, ep.Name, p.Name, statusWords(remaining))
				e.Remaining = remaining
				return OverrideResult{}, e
			}
			o.Forced = true
			res.Warnings = append(res.Warnings, fmt.Sprintf("forced: %s is left with no healthy endpoint in its answer (%s)", p.Name, statusWords(remaining)))
			switch o.Kind {
			case OverrideDrain:
				po.Drain[ep.Name] = o
			case OverrideForce:
				po.Force[ep.Name] = o
			}
		}
	}

	before := *s
	s.setPoolOverrides(p.Name, po)
	oc := o
	res.Override, res.Replaced = &oc, replaced
	reason := fmt.Sprintf("%s %s by %s", overrideVerb(o), overrideTarget(o), o.Actor)
	if o.Reason != "" {
		reason += ": " + o.Reason
	}
	if o.Expires != nil {
		reason += fmt.Sprintf(" (expires %s)", o.Expires.UTC().Format(time.RFC3339))
	}
	if o.Forced {
		reason += " (forced past a safety refusal)"
	}
	s.addEvents(Event{Time: o.Created, Kind: EventOverrideSet, Pool: p.Name, Endpoint: ep.Name, Actor: o.Actor, Reason: reason,
		Details: &EventDetails{Override: &o, Replaced: replaced, Forced: o.Forced, Remaining: remaining}})
	s.afterOverride(&before, p, o.Created)
	return res, nil
}

// ClearOverride applies c to s (an unpublished shallow copy of a published
// State): it removes the override and records an override_cleared (or,
// for an expiry, override_expired) event. Nothing to clear returns an
// error wrapping ErrNoOverride, an unknown pool ErrUnknownPool; neither
// changes s. Clearing is never refused for safety: it hands the endpoint
// back to its probes.
func (s *State) ClearOverride(c ClearOverrideCommand, index uint64) (OverrideResult, error) {
	p := s.lookupPool(c.Pool)
	if p == nil {
		return OverrideResult{}, overrideErr(CodeUnknownPool, c.Pool, c.Endpoint, "no pool named %s", c.Pool)
	}
	po := clonePO(s.PoolOverrides[p.Name])
	var old *Override
	switch c.Kind {
	case OverridePin:
		old = po.Pin
		po.Pin = nil
	case OverrideDrain, OverrideForce:
		m := po.Drain
		if c.Kind == OverrideForce {
			m = po.Force
		}
		if p.Endpoint(c.Endpoint) == nil && !c.Expired {
			return OverrideResult{}, overrideErr(CodeUnknownEndpoint, p.Name, c.Endpoint, "pool %s has no endpoint named %s", p.Name, c.Endpoint)
		}
		if o, ok := m[c.Endpoint]; ok {
			old = &o
			delete(m, c.Endpoint)
		}
	default:
		return OverrideResult{}, overrideErr(CodeBadOverride, p.Name, c.Endpoint, "kind %q is not pin, drain or force", c.Kind)
	}
	if old == nil || (c.Expired && old.Index != c.ExpectIndex) {
		what := fmt.Sprintf("%s has no pin", p.Name)
		if c.Kind != OverridePin {
			what = fmt.Sprintf("%s/%s has no %s", p.Name, c.Endpoint, c.Kind)
		}
		return OverrideResult{}, overrideErr(CodeNoOverride, p.Name, c.Endpoint, "%s", what)
	}
	before := *s
	s.setPoolOverrides(p.Name, po)
	kind, reason := EventOverrideCleared, fmt.Sprintf("%s released by %s", overrideTarget(*old), c.Actor)
	if c.Expired {
		kind, reason = EventOverrideExpired, fmt.Sprintf("%s expired; released by the leader", overrideTarget(*old))
	}
	if c.Reason != "" && !c.Expired {
		reason += ": " + c.Reason
	}
	s.addEvents(Event{Time: c.At, Kind: kind, Pool: p.Name, Endpoint: old.Endpoint, Actor: c.Actor, Reason: reason,
		Details: &EventDetails{Override: old}})
	s.afterOverride(&before, p, c.At)
	return OverrideResult{Replaced: old, Index: index}, nil
}

// afterOverride follows an override change of pool p: the failback hold
// (never started by an operator's change) and the all-down events.
func (s *State) afterOverride(before *State, p *Pool, at time.Time) {
	s.addEvents(s.updateHold(before, p, p, at, false)...)
	s.poolAllDownEvents(before, p, p, at)
}

// overrideVerb names what o does ("pin", "drain", "force down").
func overrideVerb(o Override) string {
	if o.Kind == OverrideForce {
		return "force " + o.State
	}
	return o.Kind
}

// overrideTarget describes o for event reasons.
func overrideTarget(o Override) string {
	switch o.Kind {
	case OverridePin:
		return fmt.Sprintf("pin of %s to %s", o.Pool, o.Endpoint)
	case OverrideForce:
		return fmt.Sprintf("force %s of %s/%s", o.State, o.Pool, o.Endpoint)
	default:
		return fmt.Sprintf("drain of %s/%s", o.Pool, o.Endpoint)
	}
}

// statusWords summarises endpoint statuses: "a: drained, b: unhealthy".
func statusWords(st []EndpointStatus) string {
	parts := make([]string, 0, len(st))
	for _, e := range st {
		w := e.Why
		if e.Healthy {
			w = "healthy"
		}
		parts = append(parts, e.Endpoint+": "+w)
	}
	return strings.Join(parts, ", ")
}

// pruneOverrides drops the overrides and failback holds that spec (about
// to become s's spec) no longer has room for: pools and endpoints it
// removed, holds of pools that are no longer gated. It records an
// override_cleared event per dropped override.
func (s *State) pruneOverrides(spec *Spec, at time.Time) {
	var events []Event
	if s.PoolOverrides != nil {
		next := make(map[string]PoolOverrides, len(s.PoolOverrides))
		drop := func(o Override, why string) {
			events = append(events, Event{Time: at, Kind: EventOverrideCleared, Pool: o.Pool, Endpoint: o.Endpoint, Actor: ActorDetour,
				Reason: fmt.Sprintf("%s dropped: %s", overrideTarget(o), why), Details: &EventDetails{Override: &o}})
		}
		for _, name := range slices.Sorted(maps.Keys(s.PoolOverrides)) {
			po := s.PoolOverrides[name]
			p := spec.Pool(name)
			if p == nil {
				for _, o := range (&State{PoolOverrides: map[string]PoolOverrides{name: po}}).Overrides() {
					drop(o, "the spec no longer has the pool")
				}
				continue
			}
			npo := PoolOverrides{}
			rekey := func(o Override) Override { o.Pool = p.Name; return o }
			if po.Pin != nil {
				if p.Endpoint(po.Pin.Endpoint) == nil {
					drop(*po.Pin, "the spec no longer has the endpoint")
				} else {
					o := rekey(*po.Pin)
					npo.Pin = &o
				}
			}
			for _, m := range []struct {
				src map[string]Override
				dst *map[string]Override
			}{{po.Drain, &npo.Drain}, {po.Force, &npo.Force}} {
				for _, ep := range slices.Sorted(maps.Keys(m.src)) {
					if p.Endpoint(ep) == nil {
						drop(m.src[ep], "the spec no longer has the endpoint")
						continue
					}
					if *m.dst == nil {
						*m.dst = make(map[string]Override)
					}
					(*m.dst)[ep] = rekey(m.src[ep])
				}
			}
			if !npo.empty() {
				next[p.Name] = npo
			}
		}
		if len(next) == 0 {
			next = nil
		}
		s.PoolOverrides = next
	}
	if s.Failbacks != nil {
		next := make(map[string]FailbackHold, len(s.Failbacks))
		for name, h := range s.Failbacks {
			if p := spec.Pool(name); p != nil {
				if gated, _ := p.FailbackMode(); gated {
					next[p.Name] = h
				}
			}
		}
		if len(next) == 0 {
			next = nil
		}
		s.Failbacks = next
	}
	s.addEvents(events...)
}

// Due is a change the leader commits on its own once its time has come.
type Due struct {
	// Expire is an override whose Expires has passed; release it with a
	// ClearOverrideCommand{Expired: true, ExpectIndex: Expire.Index}.
	Expire *Override
	// Failback names a pool whose hold time has passed; fail it back
	// with a FailbackCommand{HoldPassed: true, ExpectSince: Since}.
	Failback string
	Since    time.Time
}

// DueChanges returns the changes due at now (expired overrides, holds
// whose time has passed), in a stable order, and the earliest time at
// which a change not yet due becomes due (zero when none is pending).
func (s *State) DueChanges(now time.Time) (due []Due, next time.Time) {
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, o := range s.Overrides() {
		if o.Expires == nil {
			continue
		}
		if !o.Expires.After(now) {
			o := o
			due = append(due, Due{Expire: &o})
		} else {
			later(*o.Expires)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Failbacks)) {
		h := s.Failbacks[name]
		p := s.Spec.Pool(name)
		if p == nil || h.BetterHealthySince.IsZero() {
			continue
		}
		gated, hold := p.FailbackMode()
		if !gated || hold == 0 {
			continue
		}
		at := h.BetterHealthySince.Add(hold)
		if !at.After(now) {
			due = append(due, Due{Failback: p.Name, Since: h.BetterHealthySince})
		} else {
			later(at)
		}
	}
	return due, next
}
