package testutil

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	var calls atomic.Int32
	ok := Eventually(time.Second, func() bool { return calls.Add(1) >= 3 })
	if !ok || calls.Load() != 3 {
		t.Errorf("Eventually = %v after %d calls, want true after 3", ok, calls.Load())
	}
	start := time.Now()
	if Eventually(30*time.Millisecond, func() bool { return false }) {
		t.Error("Eventually = true for a condition that never holds")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Error("Eventually gave up before its timeout")
	}
}
