// Package proctest runs a server process for a test: it starts the
// command, copies its stderr line by line into a log the test can read at
// any time, and waits for the JSON log record that says the process is
// running. The end-to-end tests and the fault suite start "detour server"
// with it.
//
// Only _test.go files import it.
package proctest
