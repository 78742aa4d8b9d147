// Package logging adapts detour's log/slog logging to the interfaces that
// libraries we depend on expect.
//
// NewHCLog returns an hclog.Logger (the logger hashicorp/raft takes) that
// writes every record through a slog.Handler, so raft's logs share the
// node's handler, levels and attributes. logging imports no other detour
// package; cluster and internal/daemon use it.
package logging
