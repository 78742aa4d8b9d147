// Package testutil holds helpers shared by detour's tests: polling with a
// deadline instead of sleeping, and loggers that write to the test's output.
//
// It may import any detour package, and only _test.go files may import it.
package testutil
