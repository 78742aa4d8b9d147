package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/detour-dns/detour/policy"
)

// msgType identifies a command in the replicated log. Every log entry that
// the FSM applies is one msgType byte followed by the command's JSON
// payload. Numbers are explicit and append-only: a number is never reused
// or renumbered, because old log entries and snapshots keep it forever.
// The table lives in DESIGN.md; keep it in step.
type msgType uint8

// ignoreUnknownFlag marks a command type that a node which does not know
// it may skip (an additive command whose absence changes nothing that node
// computes). An unknown type without the flag stops the node.
const ignoreUnknownFlag msgType = 0x80

// Command types. Append new ones at the end with the next free number.
const (
	// initClusterType records the cluster ID; committed once by the
	// bootstrapping leader.
	initClusterType msgType = 1
	// applySpecType replaces the spec and increments SpecVersion.
	applySpecType msgType = 2
	// upsertMemberType records (or updates) a member's region and
	// addresses.
	upsertMemberType msgType = 3
	// removeMemberType forgets a member, its views and degraded flag.
	removeMemberType msgType = 4
	// reportViewsType records one node's batch of views (and degraded
	// flag): any number of verdicts in one entry.
	reportViewsType msgType = 5
	// setOverrideType sets an operator's override (pin, drain, force);
	// the safety checks run in Apply.
	setOverrideType msgType = 6
	// clearOverrideType releases an override (an operator, or the leader
	// when it expired).
	clearOverrideType msgType = 7
	// failbackType returns a held failover pool to its best healthy tier
	// (an operator, or the leader when the hold time passed).
	failbackType msgType = 8
)

// initClusterCmd is the payload of initClusterType.
type initClusterCmd struct {
	ClusterID string `json:"cluster_id"`
}

// applySpecCmd is the payload of applySpecType. The spec has been
// validated by the proposer.
type applySpecCmd struct {
	Spec *policy.Spec `json:"spec"`
	// At is the proposer's time, for events; zero in entries written
	// before commands carried a time.
	At time.Time `json:"at,omitzero"`
}

// upsertMemberCmd is the payload of upsertMemberType.
type upsertMemberCmd struct {
	Member policy.Member `json:"member"`
	At     time.Time     `json:"at,omitzero"`
	// IfPresent updates the member only while the state still records it:
	// a leader syncing a member's vote must not bring back a member that
	// a removal forgot in the meantime.
	IfPresent bool `json:"if_present,omitempty"`
}

// removeMemberCmd is the payload of removeMemberType.
type removeMemberCmd struct {
	ID string    `json:"id"`
	At time.Time `json:"at,omitzero"`
}

// reportViewsCmd is the payload of reportViewsType; its At is stamped by
// the leader that proposes it.
type reportViewsCmd = policy.Report

// setOverrideCmd is the payload of setOverrideType; Override.Created (and
// Expires) are stamped by the leader that proposes it.
type setOverrideCmd = policy.SetOverrideCommand

// clearOverrideCmd is the payload of clearOverrideType; At is stamped by
// the leader.
type clearOverrideCmd = policy.ClearOverrideCommand

// failbackCmd is the payload of failbackType; At is stamped by the leader.
type failbackCmd = policy.FailbackCommand

// encodeCommand returns the log entry for a command of type t.
func encodeCommand(t msgType, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", t, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// specResult is what the FSM returns to the proposer of an applied spec.
type specResult struct {
	Version uint64
}
