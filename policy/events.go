package policy

import (
	"slices"
	"time"
)

// MaxEvents is how many events a State keeps by default (the spec's
// settings.events_retained changes it); when more are recorded the oldest
// are dropped. Every node applies the same log, so every node keeps the
// same events.
const MaxEvents = 1000

// Kinds of events (Event.Kind).
const (
	// EventEndpointDown: an endpoint's effective health became
	// unhealthy. Details.Views holds every node's view with its evidence.
	EventEndpointDown = "endpoint_down"
	// EventEndpointUp: an endpoint's effective health became healthy.
	EventEndpointUp = "endpoint_up"
	// EventPoolAllDown: no endpoint of a pool is healthy any more; the
	// pool answers per its when_all_down setting (Details.WhenAllDown).
	EventPoolAllDown = "pool_all_down"
	// EventPoolRecovered: a pool that was all down has a healthy endpoint
	// again.
	EventPoolRecovered = "pool_recovered"
	// EventNodeDegraded: a node reported itself degraded; its views stop
	// counting.
	EventNodeDegraded = "node_degraded"
	// EventNodeRecovered: a degraded node reported that it is not
	// degraded any more.
	EventNodeRecovered = "node_recovered"
	// EventSpecApplied: a new spec was applied (Details.SpecVersion and
	// counts).
	EventSpecApplied = "spec_applied"
	// EventMemberJoined: a node became a member.
	EventMemberJoined = "member_joined"
	// EventMemberRemoved: a member was removed; its views were dropped.
	EventMemberRemoved = "member_removed"
	// EventOverrideSet: an operator set (or replaced) an override.
	// Details.Override is the new one, Details.Replaced the old one,
	// Details.Forced and Details.Remaining tell a safety refusal that the
	// request overrode.
	EventOverrideSet = "override_set"
	// EventOverrideCleared: an operator released an override, or a new
	// spec dropped it (actor detour). Details.Override is the override.
	EventOverrideCleared = "override_cleared"
	// EventOverrideExpired: the leader released an expired override.
	EventOverrideExpired = "override_expired"
	// EventPoolFailover: a failover pool whose failback is gated moved to
	// a worse tier (Details.FromTier, Tier, HoldTime).
	EventPoolFailover = "pool_failover"
	// EventFailbackHoldStarted: a better tier of a held pool is healthy
	// again; the hold time counts from now.
	EventFailbackHoldStarted = "failback_hold_started"
	// EventFailbackHoldReset: the better tier went unhealthy again before
	// the pool failed back.
	EventFailbackHoldReset = "failback_hold_reset"
	// EventPoolFailback: a held pool returned to its best healthy tier
	// (an operator, or the leader once the hold time passed: actor
	// detour).
	EventPoolFailback = "pool_failback"
)

// Event records one change that users care about. Events are computed
// deterministically while a command is applied, so every node records the
// same events with the same indexes.
type Event struct {
	// Index numbers the event: it starts at 1, increases by one per event
	// and is never reused, even after old events were dropped.
	Index uint64 `json:"index"`
	// Time is the time carried by the command (stamped by the leader
	// that proposed it); zero for commands written before commands
	// carried a time.
	Time time.Time `json:"time"`
	// Kind is one of the Event* constants.
	Kind string `json:"kind"`
	// Pool, Endpoint and Node name what the event is about, where they
	// apply.
	Pool     string `json:"pool,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Node     string `json:"node,omitempty"`
	// Actor is who caused the change (an operator); empty for changes
	// caused by probes.
	Actor string `json:"actor,omitempty"`
	// Reason says what happened, in one sentence.
	Reason string `json:"reason"`
	// Details holds the evidence and figures behind the event, when any.
	Details *EventDetails `json:"details,omitempty"`
}

// EventDetails holds the figures behind an event. Fields that do not apply
// to the event's kind are zero.
type EventDetails struct {
	// Views holds every node's view of the endpoint (endpoint events),
	// with the evidence each node reported. It is shared with the State
	// it was recorded in and must not be modified.
	Views EndpointViews `json:"views,omitempty"`
	// Voters, Quorum and Unhealthy are the figures of the agreement rule
	// when the endpoint flipped (see EffectiveUnhealthy).
	Voters    int `json:"voters,omitempty"`
	Quorum    int `json:"quorum,omitempty"`
	Unhealthy int `json:"unhealthy,omitempty"`
	// WhenAllDown is the pool's when_all_down behaviour (pool events).
	WhenAllDown string `json:"when_all_down,omitempty"`
	// SpecVersion, Zones, Pools and Endpoints describe an applied spec.
	SpecVersion uint64 `json:"spec_version,omitempty"`
	Zones       int    `json:"zones,omitempty"`
	Pools       int    `json:"pools,omitempty"`
	Endpoints   int    `json:"endpoints,omitempty"`
	// Override is the override set or cleared (override events);
	// Replaced the one a new override replaced.
	Override *Override `json:"override,omitempty"`
	Replaced *Override `json:"replaced,omitempty"`
	// Forced reports that the override was set past a safety refusal;
	// Remaining is what the pool was left with.
	Forced    bool             `json:"forced,omitempty"`
	Remaining []EndpointStatus `json:"remaining,omitempty"`
	// FromTier and Tier are the priorities of a failover or failback
	// (from, to); HoldTime the pool's failback hold (0: manual).
	FromTier int      `json:"from_tier,omitempty"`
	Tier     int      `json:"tier,omitempty"`
	HoldTime Duration `json:"hold_time,omitempty"`
}

// EventsAfter returns the events with an Index above after, oldest first,
// at most limit of them (all when limit <= 0). The returned slice shares
// the State's events and must not be modified. Events older than the
// oldest kept are gone: a caller that asks for them gets the oldest kept
// and can tell from the first Index that some were dropped.
func (s *State) EventsAfter(after uint64, limit int) []Event {
	i, _ := slices.BinarySearchFunc(s.Events, after+1, func(e Event, idx uint64) int {
		switch {
		case e.Index < idx:
			return -1
		case e.Index > idx:
			return 1
		}
		return 0
	})
	out := s.Events[i:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out[:len(out):len(out)]
}

// addEvents numbers evs and appends them to s.Events (s must be
// unpublished), dropping the oldest beyond the number retained
// (maxEvents). It always builds a
// new slice: published States may share the old one, and two States
// derived from the same one must not write into a shared backing array.
// Events are recorded only when something changed, so the copy (at most
// MaxEvents entries) is rare.
func (s *State) addEvents(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	if s.NextEventIndex == 0 {
		s.NextEventIndex = 1
	}
	for i := range evs {
		evs[i].Index = s.NextEventIndex
		s.NextEventIndex++
	}
	keep, limit := s.Events, s.maxEvents()
	if drop := len(keep) + len(evs) - limit; drop > 0 {
		keep = keep[min(drop, len(keep)):]
		evs = evs[max(0, len(evs)-limit):]
	}
	out := make([]Event, 0, len(keep)+len(evs))
	out = append(out, keep...)
	s.Events = append(out, evs...)
}
