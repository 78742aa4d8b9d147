package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/detour-dns/detour/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// newTestProber returns a Prober with cfg; it fails the test on error.
func newTestProber(t *testing.T, cfg Config, onFlip func([]Verdict)) *Prober {
	t.Helper()
	p, err := New(cfg, onFlip)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// compileOne compiles the check of a one-endpoint pool named
// "www.example.test." and returns its checker.
func compileOne(t *testing.T, p *Prober, c policy.Check, ep policy.Endpoint) checker {
	t.Helper()
	pool := policy.Pool{Name: "www.example.test.", Check: c, Endpoints: []policy.Endpoint{ep}}
	jc, err := p.compile(&pool, &pool.Endpoints[0])
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return jc.checker
}

// runCheck runs c once with the given timeout.
func runCheck(t *testing.T, c checker, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return c.check(ctx)
}

// startRun runs p until the test ends and waits for Run to return.
func startRun(t *testing.T, p *Prober) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// contains reports whether sub is within s.
func contains(s, sub string) bool { return strings.Contains(s, sub) }
