package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/detour-dns/detour/policy"
)

// PinRequest pins a pool to one endpoint (manual failover).
type PinRequest struct {
	// Pool is the pool's name (case-insensitive, trailing dot optional);
	// Endpoint the endpoint the pool answers with.
	Pool, Endpoint string
	// Actor is who asks (the API token's name); Reason why.
	Actor, Reason string
	// ExpiresIn, when above 0, makes the leader release the pin after
	// that long; 0 keeps it until released.
	ExpiresIn time.Duration
	// RequireHealthy refuses the pin (policy.ErrUnhealthy) when the
	// endpoint is not healthy, instead of answering it with a warning.
	RequireHealthy bool
}

// DrainRequest takes an endpoint out of a pool's rotation.
type DrainRequest struct {
	Pool, Endpoint string
	Actor, Reason  string
	ExpiresIn      time.Duration
	// Force drains even when the pool would be left without a healthy
	// endpoint in its answer (otherwise refused with policy.ErrUnsafe).
	Force bool
}

// ForceRequest replaces an endpoint's effective health.
type ForceRequest struct {
	Pool, Endpoint string
	// State is policy.ForceUp or policy.ForceDown.
	State         string
	Actor, Reason string
	ExpiresIn     time.Duration
	// Force does a force-down even when the pool would be left without a
	// healthy endpoint in its answer (otherwise policy.ErrUnsafe).
	Force bool
}

// ReleaseRequest releases a pin (Endpoint ignored) or clears a drain or
// force of Endpoint.
type ReleaseRequest struct {
	Pool, Endpoint string
	Actor, Reason  string
}

// FailbackRequest returns a held failover pool to its best healthy tier.
type FailbackRequest struct {
	Pool          string
	Actor, Reason string
}

// SetPin pins r.Pool to r.Endpoint on every node, replacing any pin of the
// pool. Like every override method it runs on the leader only (a follower
// returns a *NotLeaderError; no commit in time an error wrapping
// ErrNoQuorum) and commits one log entry stamped with the leader's clock;
// the FSM checks it against the state it applies to and a refusal changes
// nothing. Errors wrap the policy sentinels: ErrBadOverride (malformed
// request, checked before proposing), ErrUnknownPool, ErrUnknownEndpoint,
// ErrUnhealthy (RequireHealthy) and ErrConflict (a drained endpoint). A
// pin to an unhealthy endpoint succeeds with a warning in the result.
func (n *Node) SetPin(ctx context.Context, r PinRequest) (policy.OverrideResult, error) {
	o := policy.Override{Kind: policy.OverridePin, Pool: r.Pool, Endpoint: r.Endpoint, Actor: r.Actor, Reason: r.Reason}
	return n.setOverride(ctx, o, r.ExpiresIn, r.RequireHealthy, false)
}

// SetDrain takes r.Endpoint out of r.Pool's rotation, replacing any drain
// of it. Besides SetPin's errors it returns ErrUnsafe (with the
// explanation in the *policy.OverrideError) when the pool would be left
// without a healthy endpoint in its answer, unless r.Force, and
// ErrConflict for the endpoint the pool is pinned to.
func (n *Node) SetDrain(ctx context.Context, r DrainRequest) (policy.OverrideResult, error) {
	o := policy.Override{Kind: policy.OverrideDrain, Pool: r.Pool, Endpoint: r.Endpoint, Actor: r.Actor, Reason: r.Reason}
	return n.setOverride(ctx, o, r.ExpiresIn, false, r.Force)
}

// SetForce forces r.Endpoint of r.Pool up or down, replacing any force of
// it. A force-down is refused like a drain (ErrUnsafe) unless r.Force.
func (n *Node) SetForce(ctx context.Context, r ForceRequest) (policy.OverrideResult, error) {
	o := policy.Override{Kind: policy.OverrideForce, Pool: r.Pool, Endpoint: r.Endpoint, State: strings.ToLower(strings.TrimSpace(r.State)),
		Actor: r.Actor, Reason: r.Reason}
	return n.setOverride(ctx, o, r.ExpiresIn, false, r.Force)
}

// ReleasePin releases r.Pool's pin; a pool without one returns an error
// wrapping policy.ErrNoOverride.
func (n *Node) ReleasePin(ctx context.Context, r ReleaseRequest) (policy.OverrideResult, error) {
	return n.clearOverride(ctx, policy.OverridePin, r)
}

// ClearDrain puts r.Endpoint back into rotation; an endpoint that is not
// drained returns an error wrapping policy.ErrNoOverride.
func (n *Node) ClearDrain(ctx context.Context, r ReleaseRequest) (policy.OverrideResult, error) {
	return n.clearOverride(ctx, policy.OverrideDrain, r)
}

// ClearForce hands r.Endpoint's health back to its probes; an endpoint
// that is not forced returns an error wrapping policy.ErrNoOverride.
func (n *Node) ClearForce(ctx context.Context, r ReleaseRequest) (policy.OverrideResult, error) {
	return n.clearOverride(ctx, policy.OverrideForce, r)
}

// Failback returns r.Pool, held on a worse tier by its gated failback, to
// its best healthy tier. A pool that is not held returns an error wrapping
// policy.ErrNoOverride; the result warns when no better tier is healthy.
func (n *Node) Failback(ctx context.Context, r FailbackRequest) (policy.OverrideResult, error) {
	op := fmt.Sprintf("failback %s", r.Pool)
	if strings.TrimSpace(r.Pool) == "" || strings.TrimSpace(r.Actor) == "" {
		return policy.OverrideResult{}, fmt.Errorf("%s: %w", op, &policy.OverrideError{Code: policy.CodeBadOverride, Pool: r.Pool,
			Message: "failback: pool and actor are required"})
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	return n.proposeOverride(ctx, op, failbackType, failbackCmd{Pool: r.Pool, Actor: r.Actor, Reason: r.Reason, At: time.Now()})
}

// setOverride checks o, stamps it and commits it.
func (n *Node) setOverride(ctx context.Context, o policy.Override, expiresIn time.Duration, requireHealthy, force bool) (policy.OverrideResult, error) {
	op := fmt.Sprintf("set %s override on %s/%s", o.Kind, o.Pool, o.Endpoint)
	now := time.Now()
	o.Created = now
	if expiresIn < 0 {
		return policy.OverrideResult{}, fmt.Errorf("%s: %w", op, &policy.OverrideError{Code: policy.CodeBadOverride, Pool: o.Pool, Endpoint: o.Endpoint,
			Message: fmt.Sprintf("expires in %v: must not be negative", expiresIn)})
	}
	if expiresIn > 0 {
		exp := now.Add(expiresIn)
		o.Expires = &exp
	}
	if err := policy.CheckOverride(o); err != nil {
		return policy.OverrideResult{}, fmt.Errorf("%s: %w", op, err)
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	return n.proposeOverride(ctx, op, setOverrideType, setOverrideCmd{Override: o, RequireHealthy: requireHealthy, Force: force})
}

// clearOverride commits the release of an override of kind.
func (n *Node) clearOverride(ctx context.Context, kind string, r ReleaseRequest) (policy.OverrideResult, error) {
	op := fmt.Sprintf("clear %s override on %s", kind, r.Pool)
	if kind != policy.OverridePin {
		op += "/" + r.Endpoint
	}
	var probs []string
	if strings.TrimSpace(r.Pool) == "" {
		probs = append(probs, "pool is required")
	}
	if kind != policy.OverridePin && strings.TrimSpace(r.Endpoint) == "" {
		probs = append(probs, "endpoint is required")
	}
	if strings.TrimSpace(r.Actor) == "" {
		probs = append(probs, "actor is required")
	}
	if len(probs) > 0 {
		return policy.OverrideResult{}, fmt.Errorf("%s: %w", op, &policy.OverrideError{Code: policy.CodeBadOverride, Pool: r.Pool, Endpoint: r.Endpoint,
			Message: strings.Join(probs, "; ")})
	}
	ep := r.Endpoint
	if kind == policy.OverridePin {
		ep = ""
	}
	ctx, cancel := n.writeCtx(ctx)
	defer cancel()
	return n.proposeOverride(ctx, op, clearOverrideType, clearOverrideCmd{Kind: kind, Pool: r.Pool, Endpoint: ep, Actor: r.Actor, Reason: r.Reason, At: time.Now()})
}

// proposeOverride commits an override command and returns its result.
func (n *Node) proposeOverride(ctx context.Context, op string, t msgType, cmd any) (policy.OverrideResult, error) {
	resp, err := n.propose(ctx, op, t, cmd)
	if err != nil {
		return policy.OverrideResult{}, err
	}
	res, ok := resp.(policy.OverrideResult)
	if !ok {
		return policy.OverrideResult{}, fmt.Errorf("%s: unexpected FSM response %T", op, resp)
	}
	return res, nil
}

// leaderTasks runs while this node leads: it commits the changes that
// come due with time (policy.State.DueChanges): the release of expired
// overrides (actor detour, reason expired) and the failback of pools whose
// hold time has passed. It wakes when the state changes or the next change
// comes due, and returns when ctx ends (leadership lost or node closed).
func (n *Node) leaderTasks(ctx context.Context) {
	const retry = 500 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		st, changed := n.fsm.watch()
		due, next := st.DueChanges(time.Now())
		failed := false
		for _, d := range due {
			if err := n.commitDue(ctx, d); err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrNotLeader) {
					return
				}
				n.logger.Error("leader task", "error", err)
				failed = true
			}
		}
		if len(due) > 0 && !failed {
			if n.fsm.current() != st {
				continue // the state changed: look again
			}
			failed = true // nothing applied: do not spin
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		if failed {
			wait = min(wait, retry)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// commitDue commits one due change. A change that the state no longer
// calls for (released or replaced meanwhile) is refused by the FSM with
// policy.ErrNoOverride, which is not an error here.
func (n *Node) commitDue(ctx context.Context, d policy.Due) error {
	wctx, cancel := n.writeCtx(ctx)
	defer cancel()
	var err error
	switch {
	case d.Expire != nil:
		o := d.Expire
		_, err = n.proposeOverride(wctx, fmt.Sprintf("expire %s override on %s/%s", o.Kind, o.Pool, o.Endpoint), clearOverrideType,
			clearOverrideCmd{Kind: o.Kind, Pool: o.Pool, Endpoint: o.Endpoint, Actor: policy.ActorDetour, Reason: "expired",
				At: time.Now(), Expired: true, ExpectIndex: o.Index})
	case d.Failback != "":
		_, err = n.proposeOverride(wctx, fmt.Sprintf("failback %s after its hold time", d.Failback), failbackType,
			failbackCmd{Pool: d.Failback, Actor: policy.ActorDetour, Reason: "hold time passed", At: time.Now(), HoldPassed: true, ExpectSince: d.Since})
	}
	if errors.Is(err, policy.ErrNoOverride) {
		return nil
	}
	return err
}
