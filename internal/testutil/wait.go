package testutil

import (
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// PollInterval is how often WaitFor and Eventually check their condition.
const PollInterval = 10 * time.Millisecond

// WaitFor calls cond every PollInterval until it returns true, and fails
// the test (t.Fatalf, naming what it waited for) when timeout passes first.
// msg and args describe the condition in the failure message.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, fmt.Sprintf(msg, args...))
	}
}

// Eventually calls cond every PollInterval until it returns true or
// timeout passes, and reports whether cond returned true.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// Logger returns a slog.Logger writing text records at level and above to
// t.Output(), so that logs appear with the test that produced them. The
// component that logs must be stopped before the test ends (t.Cleanup).
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}
