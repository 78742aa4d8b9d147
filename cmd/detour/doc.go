// Command detour runs a detour node (detour server) and talks to a running
// cluster through its admin API (apply, spec, status, members, ...).
//
// It imports internal/daemon, api, config and policy; nothing imports it.
// main is a few lines: run holds the command tree and returns the exit
// code, so that tests drive the CLI in-process.
package main
