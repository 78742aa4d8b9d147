package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/detour-dns/detour/policy"
)

// OverrideWriter sets and clears operator overrides through the cluster
// log. Every method is leader-only (a follower returns a *NotLeaderError;
// no commit in time an error wrapping ErrNoQuorum). Refusals are errors
// wrapping the policy sentinels (policy.ErrUnknownPool, ErrUnsafe, ...),
// with a *policy.OverrideError carrying the explanation; a refusal changes
// nothing.
type OverrideWriter interface {
	SetOverride(ctx context.Context, r OverrideRequest) (policy.OverrideResult, error)
	ClearOverride(ctx context.Context, r OverrideRequest) (policy.OverrideResult, error)
	Failback(ctx context.Context, r OverrideRequest) (policy.OverrideResult, error)
}

// OverrideRequest is one operator action as the server hands it to the
// cluster: Kind is policy.OverridePin, OverrideDrain or OverrideForce
// (ignored by Failback).
type OverrideRequest struct {
	Kind           string
	Pool, Endpoint string
	// State is up or down (force only).
	State string
	// Actor is the name of the caller's token ("anonymous" without auth).
	Actor, Reason string
	// ExpiresIn 0 means no expiry.
	ExpiresIn time.Duration
	// RequireHealthy (pin) refuses a pin to an unhealthy endpoint; Force
	// (drain, force down) overrides a safety refusal.
	RequireHealthy, Force bool
}

// FailoverBody is the body of POST /v1/pools/{pool}/failover.
type FailoverBody struct {
	// To is the endpoint to pin the pool to (required).
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
	// ExpiresIn is a Go duration ("2h", "30m"); empty means no expiry.
	ExpiresIn      string `json:"expires_in,omitempty"`
	RequireHealthy bool   `json:"require_healthy,omitempty"`
}

// DrainBody is the body of POST /v1/pools/{pool}/endpoints/{endpoint}/drain.
type DrainBody struct {
	Reason    string `json:"reason,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
	// Force drains even when the pool would be left with no healthy
	// endpoint in its answer.
	Force bool `json:"force,omitempty"`
}

// ForceBody is the body of POST /v1/pools/{pool}/endpoints/{endpoint}/force.
type ForceBody struct {
	// State is "up" or "down" (required).
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
	Force     bool   `json:"force,omitempty"`
}

// ReasonBody is the optional body of the DELETE override routes and of
// POST /v1/pools/{pool}/failback.
type ReasonBody struct {
	Reason string `json:"reason,omitempty"`
}

// OverrideList is the answer to GET /v1/overrides.
type OverrideList struct {
	// Index is the state index the list describes.
	Index     uint64            `json:"index"`
	Node      string            `json:"node"`
	Overrides []policy.Override `json:"overrides"`
}

// maxReasonLen caps the reason of an override.
const maxReasonLen = 1024

func (s *Server) handleOverrides(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.State()
	out := OverrideList{Index: st.Index, Node: s.cfg.NodeID, Overrides: st.Overrides()}
	if out.Overrides == nil {
		out.Overrides = []policy.Override{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleFailover(w http.ResponseWriter, r *http.Request) {
	overrideRoute[FailoverBody]{invalid: "invalid failover request", build: failoverRequest,
		op: OverrideWriter.SetOverride}.serve(s, w, r)
}

func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request) {
	overrideRoute[DrainBody]{emptyOK: true, invalid: "invalid drain request", build: drainRequest,
		op: OverrideWriter.SetOverride}.serve(s, w, r)
}

func (s *Server) handleForce(w http.ResponseWriter, r *http.Request) {
	overrideRoute[ForceBody]{invalid: "invalid force request", build: forceRequest,
		op: OverrideWriter.SetOverride}.serve(s, w, r)
}

// handleClear serves the DELETE routes of pins, drains and forces.
func (s *Server) handleClear(kind string) http.HandlerFunc {
	rt := overrideRoute[ReasonBody]{emptyOK: true, invalid: "invalid request",
		build: func(r *http.Request, b ReasonBody) (OverrideRequest, []ErrorDetail) {
			return OverrideRequest{Kind: kind, Pool: r.PathValue("pool"), Endpoint: r.PathValue("endpoint"),
				Actor: actor(r), Reason: b.Reason}, nil
		},
		op: OverrideWriter.ClearOverride}
	return func(w http.ResponseWriter, r *http.Request) { rt.serve(s, w, r) }
}

func (s *Server) handleFailback(w http.ResponseWriter, r *http.Request) {
	overrideRoute[ReasonBody]{emptyOK: true, invalid: "invalid failback request",
		build: func(r *http.Request, b ReasonBody) (OverrideRequest, []ErrorDetail) {
			return OverrideRequest{Pool: r.PathValue("pool"), Actor: actor(r), Reason: b.Reason}, nil
		},
		op: OverrideWriter.Failback}.serve(s, w, r)
}

// failoverRequest builds the pin of POST /v1/pools/{pool}/failover.
func failoverRequest(r *http.Request, b FailoverBody) (OverrideRequest, []ErrorDetail) {
	var ds []ErrorDetail
	if b.To == "" {
		ds = append(ds, ErrorDetail{Field: "to", Message: "is required: the endpoint to fail over to"})
	}
	exp, ds := parseExpiry(b.ExpiresIn, ds)
	return OverrideRequest{Kind: policy.OverridePin, Pool: r.PathValue("pool"), Endpoint: b.To, Actor: actor(r),
		Reason: b.Reason, ExpiresIn: exp, RequireHealthy: b.RequireHealthy}, ds
}

// drainRequest builds the drain of POST .../endpoints/{endpoint}/drain.
func drainRequest(r *http.Request, b DrainBody) (OverrideRequest, []ErrorDetail) {
	exp, ds := parseExpiry(b.ExpiresIn, nil)
	return OverrideRequest{Kind: policy.OverrideDrain, Pool: r.PathValue("pool"), Endpoint: r.PathValue("endpoint"),
		Actor: actor(r), Reason: b.Reason, ExpiresIn: exp, Force: b.Force}, ds
}

// forceRequest builds the force of POST .../endpoints/{endpoint}/force.
func forceRequest(r *http.Request, b ForceBody) (OverrideRequest, []ErrorDetail) {
	var ds []ErrorDetail
	if b.State != policy.ForceUp && b.State != policy.ForceDown {
		ds = append(ds, ErrorDetail{Field: "state", Message: fmt.Sprintf("must be %q or %q, got %q", policy.ForceUp, policy.ForceDown, b.State)})
	}
	exp, ds := parseExpiry(b.ExpiresIn, ds)
	return OverrideRequest{Kind: policy.OverrideForce, Pool: r.PathValue("pool"), Endpoint: r.PathValue("endpoint"),
		State: b.State, Actor: actor(r), Reason: b.Reason, ExpiresIn: exp, Force: b.Force}, ds
}

// overrides returns the cluster's OverrideWriter, or one that reports the
// node unavailable when the cluster has none.
func (s *Server) overrides() OverrideWriter {
	if ow, ok := s.cluster.(OverrideWriter); ok {
		return ow
	}
	return noOverrides{}
}

type noOverrides struct{}

func (noOverrides) SetOverride(context.Context, OverrideRequest) (policy.OverrideResult, error) {
	return policy.OverrideResult{}, fmt.Errorf("%w: this node does not support overrides", ErrUnavailable)
}
func (noOverrides) ClearOverride(ctx context.Context, r OverrideRequest) (policy.OverrideResult, error) {
	return noOverrides{}.SetOverride(ctx, r)
}
func (noOverrides) Failback(ctx context.Context, r OverrideRequest) (policy.OverrideResult, error) {
	return noOverrides{}.SetOverride(ctx, r)
}

// overrideRoute is what sets one override route apart from the others;
// serve does the rest.
type overrideRoute[B any] struct {
	// emptyOK takes an empty body for a zero B.
	emptyOK bool
	// invalid is the message of the 400 that lists the body's problems.
	invalid string
	// build turns the body into the cluster's request, with the problems
	// of its fields (the reason is checked by serve).
	build func(*http.Request, B) (OverrideRequest, []ErrorDetail)
	// op is the OverrideWriter method that carries the request out.
	op func(OverrideWriter, context.Context, OverrideRequest) (policy.OverrideResult, error)
}

// serve reads and decodes the body, builds and checks the request, and
// runs it as a write. The pool and endpoint are checked by the leader
// against the state the command applies to, not here: a follower a few
// entries behind (just after a spec change) must not answer 404 for a pool
// the leader knows.
func (rt overrideRoute[B]) serve(s *Server, w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	var b B
	if e := decodeJSON(body, &b, rt.emptyOK); e != nil {
		writeError(w, e)
		return
	}
	req, ds := rt.build(r, b)
	if ds = checkReason(req.Reason, ds); len(ds) > 0 {
		writeError(w, badRequest(rt.invalid, ds))
		return
	}
	s.runWrite(w, r, body, func(ctx context.Context) (int, any, error) {
		res, err := rt.op(s.overrides(), ctx, req)
		if err != nil {
			return 0, nil, err
		}
		if res.Warnings == nil {
			res.Warnings = []string{}
		}
		s.log.Info("override", "kind", req.Kind, "pool", req.Pool, "endpoint", req.Endpoint, "actor", req.Actor,
			"index", res.Index, "path", r.URL.Path, "method", r.Method)
		return http.StatusOK, res, nil
	})
}

// parseExpiry parses an expires_in field; "" means no expiry.
func parseExpiry(s string, ds []ErrorDetail) (time.Duration, []ErrorDetail) {
	if s == "" {
		return 0, ds
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, append(ds, ErrorDetail{Field: "expires_in", Message: fmt.Sprintf("%q is not a duration like 30m or 2h", s)})
	case d <= 0:
		return 0, append(ds, ErrorDetail{Field: "expires_in", Message: fmt.Sprintf("must be above 0, got %s", s)})
	case d > maxExpiry:
		return 0, append(ds, ErrorDetail{Field: "expires_in", Message: fmt.Sprintf("must be at most %s, got %s", maxExpiry, s)})
	}
	return d, ds
}

// maxExpiry caps expires_in (a year).
const maxExpiry = 366 * 24 * time.Hour

func checkReason(reason string, ds []ErrorDetail) []ErrorDetail {
	if len(reason) > maxReasonLen {
		ds = append(ds, ErrorDetail{Field: "reason", Message: fmt.Sprintf("must be at most %d bytes, got %d", maxReasonLen, len(reason))})
	}
	return ds
}

func badRequest(msg string, ds []ErrorDetail) *Error {
	return &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: msg, Details: ds}
}

// overrideError maps a refusal of the cluster to the API's error, or
// returns nil when err is not one.
func overrideError(err error) *Error {
	status := 0
	switch {
	case errors.Is(err, policy.ErrUnknownPool), errors.Is(err, policy.ErrUnknownEndpoint), errors.Is(err, policy.ErrNoOverride):
		status = http.StatusNotFound
	case errors.Is(err, policy.ErrUnsafe), errors.Is(err, policy.ErrUnhealthy), errors.Is(err, policy.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, policy.ErrBadOverride):
		status = http.StatusBadRequest
	default:
		return nil
	}
	e := &Error{StatusCode: status, Message: err.Error()}
	if oe, ok := errors.AsType[*policy.OverrideError](err); ok {
		e.Code, e.Message, e.Remaining = oe.Code, oe.Message, oe.Remaining
	}
	if e.Code == "" {
		e.Code = CodeBadRequest
	}
	return e
}
