package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/detour-dns/detour/policy"
)

// Errors that the interfaces api consumes may return (wrapped). The daemon
// maps the cluster's errors onto these; the server turns them into status
// codes.
var (
	// ErrNotLeader: the write reached a follower. Prefer *NotLeaderError,
	// which names the leader.
	ErrNotLeader = errors.New("api: not leader")
	// ErrNoQuorum: the write could not be committed in bounded time.
	ErrNoQuorum = errors.New("api: no quorum")
	// ErrNodeIDTaken: a join used an ID that another address holds.
	ErrNodeIDTaken = errors.New("api: node id already taken")
	// ErrAddrTaken: a join used a Raft address another member holds.
	ErrAddrTaken = errors.New("api: raft address already taken")
	// ErrWrongCluster: a join carried another cluster's ID.
	ErrWrongCluster = errors.New("api: belongs to another cluster")
	// ErrUnknownMember: no member has that ID.
	ErrUnknownMember = errors.New("api: no such member")
	// ErrUnavailable: the node is shutting down or not started.
	ErrUnavailable = errors.New("api: node unavailable")
)

// NotLeaderError reports a write sent to a follower. LeaderAPIAddr is the
// leader's API base URL, empty while no leader is known.
type NotLeaderError struct {
	LeaderID      string
	LeaderAPIAddr string
}

// Error implements error.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "api: not leader (no leader known)"
	}
	return fmt.Sprintf("api: not leader (leader is %s at %s)", e.LeaderID, e.LeaderAPIAddr)
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// Error codes of the JSON error body.
const (
	CodeBadRequest       = "bad_request"        // 400: malformed request (bad JSON, missing field)
	CodeSyntax           = "syntax_error"       // 400: spec is not YAML/JSON of the right shape
	CodeInvalidSpec      = "invalid_spec"       // 400: spec fails validation
	CodeNotFound         = "not_found"          // 404: no such route or object
	CodeNoSpec           = "no_spec"            // 404: no spec applied yet
	CodeUnknownMember    = "unknown_member"     // 404
	CodeUnknownPool      = "unknown_pool"       // 404: no pool of that name in the spec
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeNodeIDTaken      = "node_id_taken"      // 409
	CodeWrongCluster     = "wrong_cluster"      // 409
	CodeAddrTaken        = "raft_addr_taken"    // 409
	CodeTooLarge         = "body_too_large"     // 413
	CodeInternal         = "internal"           // 500
	CodeNoQuorum         = "no_quorum"          // 503
	CodeNoLeader         = "no_leader"          // 503: no reachable leader in bounded time
	CodeNotLeader        = "not_leader"         // 503: forwarded write reached a non-leader
	CodeUnavailable      = "unavailable"        // 503: node not ready or shutting down
	CodeTimeout          = "timeout"            // 503: the write did not finish in bounded time
	CodeUnauthorized     = "unauthorized"       // 401: no token, or not a known one
	CodeForbidden        = "forbidden"          // 403: the token's role does not allow the request
	CodeUnknownEndpoint  = "unknown_endpoint"   // 404: the pool has no endpoint of that name
	CodeNoOverride       = "no_override"        // 404: nothing to release, clear or fail back
	CodeUnsafe           = "unsafe"             // 409: the change would leave a pool without a healthy answer
	CodeUnhealthy        = "unhealthy"          // 409: a pin with require_healthy to an unhealthy endpoint
	CodeConflict         = "conflict"           // 409: the override contradicts another
)

// ErrorDetail is one item of an error's details: a spec problem (Path), a
// syntax error position (Line, Column) or a bad request field (Field).
type ErrorDetail struct {
	Path    string `json:"path,omitempty"`
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// String formats d the way the CLI prints it: "path: message",
// "line 3, column 7: message" or "field: message".
func (d ErrorDetail) String() string {
	switch {
	case d.Path != "":
		return d.Path + ": " + d.Message
	case d.Line > 0:
		return fmt.Sprintf("line %d, column %d: %s", d.Line, d.Column, d.Message)
	case d.Field != "":
		return d.Field + ": " + d.Message
	}
	return d.Message
}

// Error is the error the API answers with, and the error the Client
// returns for a non-2xx answer.
type Error struct {
	// StatusCode is the HTTP status (set by the client; not sent).
	StatusCode int           `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Details    []ErrorDetail `json:"details,omitempty"`
	// Remaining explains an unsafe refusal (CodeUnsafe): every endpoint
	// of the pool and why it would not count as a healthy answer.
	Remaining []policy.EndpointStatus `json:"remaining,omitempty"`
}

// Error formats the message and every detail, one per line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, d := range e.Details {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	for _, r := range e.Remaining {
		b.WriteString("\n  ")
		b.WriteString(r.Endpoint)
		if r.Healthy {
			b.WriteString(": healthy")
		} else {
			b.WriteString(": " + r.Why)
		}
	}
	return b.String()
}

// errorBody is the wire envelope of an Error.
type errorBody struct {
	Error *Error `json:"error"`
}
