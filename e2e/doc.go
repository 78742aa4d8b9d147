// Package e2e holds end-to-end tests that build the detour binary and run
// it as separate processes on 127.0.0.1: three "detour server" nodes
// driven through the CLI and the admin API, with a killed leader and a
// restart of every node from disk. The tests are skipped with -short.
package e2e
