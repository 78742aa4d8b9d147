// Package testutil holds helpers shared by detour's tests: polling with a
// deadline instead of sleeping, loggers that write to the test's output, and
// a buffer safe for concurrent writers and readers (SyncBuffer). Its
// subpackages start daemons (daemontest) and processes (proctest).
//
// It may import any detour package, and only _test.go files may import it.
package testutil
