package policy

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// Values of Pool.Failback besides a hold time.
const (
	// FailbackAuto returns to the better tier as soon as it is healthy
	// (the default, also written as "").
	FailbackAuto = "auto"
	// FailbackManual stays on the worse tier until an operator fails
	// back.
	FailbackManual = "manual"
)

// Bounds of a failback hold time.
const (
	MinFailbackHold = time.Second
	MaxFailbackHold = 7 * 24 * time.Hour
)

// Settings are cluster-wide settings of the replicated state, written at
// the top of the spec (settings:).
type Settings struct {
	// EventsRetained is how many events the state keeps (the newest);
	// 0 means DefaultEventsRetained. Between MinEventsRetained and
	// MaxEventsRetained.
	EventsRetained int `yaml:"events_retained,omitempty" json:"events_retained,omitempty"`
}

// Bounds and default of Settings.EventsRetained.
const (
	DefaultEventsRetained = MaxEvents
	MinEventsRetained     = 100
	MaxEventsRetained     = 100000
)

// FailbackHold is what the state records about a failover pool whose
// failback is gated (failback manual or a hold time) while it is held on a
// worse tier after a health-driven failover.
type FailbackHold struct {
	// Tier is the priority of the tier the pool was failed over to; the
	// pool keeps answering it while it has a healthy endpoint.
	Tier int `json:"tier"`
	// FailedOver is when the pool failed over to Tier (command time).
	FailedOver time.Time `json:"failed_over"`
	// BetterHealthySince is when a better tier became healthy again
	// (command time); zero while none is. The hold time counts from it.
	BetterHealthySince time.Time `json:"better_healthy_since,omitzero"`
}

// FailbackMode reads p.Failback: gated is false for auto (or empty);
// hold is the hold time of a gated pool, 0 for manual. A value that does
// not parse (rejected by Validate) reads as auto.
func (p *Pool) FailbackMode() (gated bool, hold time.Duration) {
	if p.Policy != PolicyFailover && p.Policy != "" {
		return false, 0
	}
	switch f := strings.ToLower(strings.TrimSpace(p.Failback)); f {
	case "", FailbackAuto:
		return false, 0
	case FailbackManual:
		return true, 0
	default:
		d, err := time.ParseDuration(f)
		if err != nil || d < MinFailbackHold || d > MaxFailbackHold {
			return false, 0
		}
		return true, d
	}
}

// failback validates a pool's failback field.
func (v *validator) failback(pp string, p *Pool) {
	f := strings.ToLower(strings.TrimSpace(p.Failback))
	switch f {
	case "", FailbackAuto:
		return
	case FailbackManual:
	default:
		d, err := time.ParseDuration(f)
		switch {
		case err != nil:
			v.addf(pp+".failback", "%q is not auto, manual or a hold time like 5m", p.Failback)
			return
		case d < MinFailbackHold || d > MaxFailbackHold:
			v.addf(pp+".failback", "hold time %v is outside %v..%v", d, MinFailbackHold, MaxFailbackHold)
			return
		}
	}
	if p.Policy != PolicyFailover {
		v.addf(pp+".failback", "failback %q applies to failover pools only (this pool is %s)", p.Failback, p.Policy)
	}
}

// settings validates the spec's settings block.
func (v *validator) settings(s *Settings) {
	if s == nil {
		return
	}
	if n := s.EventsRetained; n != 0 && (n < MinEventsRetained || n > MaxEventsRetained) {
		v.addf("settings.events_retained", "%d is outside %d..%d", n, MinEventsRetained, MaxEventsRetained)
	}
}

// maxEvents is how many events s keeps.
func (s *State) maxEvents() int {
	if s.Spec != nil && s.Spec.Settings != nil && s.Spec.Settings.EventsRetained > 0 {
		return s.Spec.Settings.EventsRetained
	}
	return MaxEvents
}

// naturalTier returns the best priority among the endpoints of p that are
// effectively healthy and not drained in s; ok is false when none is.
func (s *State) naturalTier(p *Pool) (tier int, ok bool) {
	po := s.PoolOverrides[p.Name]
	for i := range p.Endpoints {
		ep := &p.Endpoints[i]
		if _, drained := po.Drain[ep.Name]; drained || !s.EndpointHealthy(p.Name, ep.Name) {
			continue
		}
		if !ok || ep.Priority < tier {
			tier, ok = ep.Priority, true
		}
	}
	return tier, ok
}

// tierHealthy reports whether tier of p has an endpoint that is healthy
// and not drained in s.
func (s *State) tierHealthy(p *Pool, tier int) bool {
	po := s.PoolOverrides[p.Name]
	for i := range p.Endpoints {
		ep := &p.Endpoints[i]
		if ep.Priority != tier {
			continue
		}
		if _, drained := po.Drain[ep.Name]; !drained && s.EndpointHealthy(p.Name, ep.Name) {
			return true
		}
	}
	return false
}

// setHold records h for pool (nil removes it), copy-on-write.
func (s *State) setHold(pool string, h *FailbackHold) {
	m := maps.Clone(s.Failbacks)
	if h == nil {
		delete(m, pool)
	} else {
		if m == nil {
			m = make(map[string]FailbackHold, 1)
		}
		m[pool] = *h
	}
	if len(m) == 0 {
		m = nil
	}
	s.Failbacks = m
}

// updateHold keeps the failback hold of pool p (in s, after a transition
// from before; bp is p in before's spec, or nil) in step with health and
// returns the events. A hold starts only when start is set (transitions
// driven by health, not by operators) and the pool's best healthy tier got
// worse. Pools whose failback is auto never hold.
func (s *State) updateHold(before *State, p, bp *Pool, at time.Time, start bool) []Event {
	gated, hold := p.FailbackMode()
	h, held := s.Failbacks[p.Name]
	if !gated {
		if held {
			s.setHold(p.Name, nil)
		}
		return nil
	}
	now, okNow := s.naturalTier(p)
	if !held {
		if !start || bp == nil || !okNow {
			return nil
		}
		was, okWas := before.naturalTier(bp)
		if !okWas || now <= was {
			return nil
		}
		s.setHold(p.Name, &FailbackHold{Tier: now, FailedOver: at})
		return []Event{{Time: at, Kind: EventPoolFailover, Pool: p.Name,
			Reason:  fmt.Sprintf("%s failed over from tier %d to tier %d; failback %s", p.Name, was, now, failbackWords(hold)),
			Details: &EventDetails{FromTier: was, Tier: now, HoldTime: Duration(hold)}}}
	}
	if !okNow {
		return nil // nothing healthy: the hold waits
	}
	switch {
	case now > h.Tier:
		from := h.Tier
		h.Tier, h.BetterHealthySince = now, time.Time{}
		s.setHold(p.Name, &h)
		return []Event{{Time: at, Kind: EventPoolFailover, Pool: p.Name,
			Reason:  fmt.Sprintf("%s failed over from tier %d to tier %d; failback %s", p.Name, from, now, failbackWords(hold)),
			Details: &EventDetails{FromTier: from, Tier: now, HoldTime: Duration(hold)}}}
	case now == h.Tier:
		if h.BetterHealthySince.IsZero() {
			return nil
		}
		h.BetterHealthySince = time.Time{}
		s.setHold(p.Name, &h)
		return []Event{{Time: at, Kind: EventFailbackHoldReset, Pool: p.Name,
			Reason:  fmt.Sprintf("no tier better than %d of %s is healthy any more; the failback hold starts again when one is", h.Tier, p.Name),
			Details: &EventDetails{Tier: h.Tier, HoldTime: Duration(hold)}}}
	default: // a better tier is healthy
		if !s.tierHealthy(p, h.Tier) {
			s.setHold(p.Name, nil)
			return []Event{{Time: at, Kind: EventPoolFailback, Pool: p.Name, Actor: ActorDetour,
				Reason:  fmt.Sprintf("%s failed back to tier %d: the held tier %d has no healthy endpoint", p.Name, now, h.Tier),
				Details: &EventDetails{FromTier: h.Tier, Tier: now}}}
		}
		if !h.BetterHealthySince.IsZero() {
			return nil
		}
		h.BetterHealthySince = at
		s.setHold(p.Name, &h)
		reason := fmt.Sprintf("tier %d of %s is healthy again; staying on tier %d until an operator fails back", now, p.Name, h.Tier)
		if hold > 0 {
			reason = fmt.Sprintf("tier %d of %s is healthy again; staying on tier %d until it has been healthy for %v", now, p.Name, h.Tier, hold)
		}
		return []Event{{Time: at, Kind: EventFailbackHoldStarted, Pool: p.Name, Reason: reason,
			Details: &EventDetails{FromTier: h.Tier, Tier: now, HoldTime: Duration(hold)}}}
	}
}

// failbackWords describes a failback setting for event reasons.
func failbackWords(hold time.Duration) string {
	if hold == 0 {
		return "waits for an operator (failback manual)"
	}
	return fmt.Sprintf("waits until the better tier has been healthy for %v", hold)
}

// FailbackCommand returns a held failover pool to its best healthy tier.
// An operator sends it (Actor, Reason), or the leader once the hold time
// has passed (HoldPassed with ExpectSince, the hold's BetterHealthySince
// it saw).
type FailbackCommand struct {
	Pool   string `json:"pool"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// At is the leader's time.
	At time.Time `json:"at"`
	// HoldPassed marks a failback the leader commits because the hold
	// time passed; it applies only while the hold's BetterHealthySince is
	// still ExpectSince.
	HoldPassed  bool      `json:"hold_passed,omitempty"`
	ExpectSince time.Time `json:"expect_since,omitzero"`
}

// Failback applies c to s (an unpublished shallow copy of a published
// State): it drops the pool's failback hold so that the pool answers its
// best healthy tier, and records a pool_failback event. A pool that is not
// held returns an error wrapping ErrNoOverride, an unknown pool
// ErrUnknownPool; neither changes s.
func (s *State) Failback(c FailbackCommand, index uint64) (OverrideResult, error) {
	p := s.lookupPool(c.Pool)
	if p == nil {
		return OverrideResult{}, overrideErr(CodeUnknownPool, c.Pool, "", "no pool named %s", c.Pool)
	}
	h, held := s.Failbacks[p.Name]
	if !held || (c.HoldPassed && (h.BetterHealthySince.IsZero() || !h.BetterHealthySince.Equal(c.ExpectSince))) {
		return OverrideResult{}, overrideErr(CodeNoOverride, p.Name, "", "%s is not held on a failover tier", p.Name)
	}
	before := *s
	s.setHold(p.Name, nil)
	res := OverrideResult{Index: index}
	now, ok := s.naturalTier(p)
	reason := c.Reason
	if reason == "" {
		reason = "operator failback"
	}
	switch {
	case !ok:
		res.Warnings = append(res.Warnings, fmt.Sprintf("no endpoint of %s is healthy; the pool answers per when_all_down", p.Name))
	case now >= h.Tier:
		res.Warnings = append(res.Warnings, fmt.Sprintf("no tier better than %d of %s is healthy; the hold was cleared and the pool stays on tier %d", h.Tier, p.Name, now))
	}
	s.addEvents(Event{Time: c.At, Kind: EventPoolFailback, Pool: p.Name, Actor: c.Actor,
		Reason:  fmt.Sprintf("%s failed back from tier %d to tier %d: %s", p.Name, h.Tier, now, reason),
		Details: &EventDetails{FromTier: h.Tier, Tier: now}})
	s.poolAllDownEvents(&before, p, p, c.At)
	return res, nil
}
