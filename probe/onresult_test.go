package probe

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// TestProber_OnResult: every finished probe of an endpoint reaches
// OnResult with its outcome; canary probes do not.
func TestProber_OnResult(t *testing.T) {
	b := newBackend(t, false)
	canary, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { canary.Close() })
	var (
		mu      sync.Mutex
		results = map[Target][]bool{}
	)
	p := newTestProber(t, Config{
		NodeID:         "n1",
		Canaries:       []string{canary.Addr().String()},
		CanaryInterval: 20 * time.Millisecond,
		OnResult: func(tg Target, r Result) {
			mu.Lock()
			defer mu.Unlock()
			results[tg] = append(results[tg], r.OK)
		},
	}, func([]Verdict) {})
	spec := &policy.Spec{Pools: []policy.Pool{{
		Name: "www.example.test.",
		Check: policy.Check{Type: "http", Port: b.port(t), Path: "/health",
			Interval: policy.Duration(30 * time.Millisecond), Timeout: policy.Duration(500 * time.Millisecond), Rise: 1, Fall: 1},
		Endpoints: []policy.Endpoint{{Name: "us-east-1", Addresses: []string{"127.0.0.1"}}},
	}}}
	if err := p.Update(spec); err != nil {
		t.Fatal(err)
	}
	startRun(t, p)
	tgt := Target{Pool: "www.example.test.", Endpoint: "us-east-1"}
	count := func(ok bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range results[tgt] {
			if v == ok {
				n++
			}
		}
		return n
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return count(true) >= 2 }, "two passing results")
	b.set("503")
	testutil.WaitFor(t, 10*time.Second, func() bool { return count(false) >= 2 }, "two failing results")
	mu.Lock()
	defer mu.Unlock()
	for tg := range results {
		if tg != tgt {
			t.Errorf("OnResult saw %v, want only %v (canaries excluded)", tg, tgt)
		}
	}
	if st := p.Stats(); st.Probes < uint64(len(results[tgt])) {
		t.Errorf("OnResult saw %d results, more than the %d probes counted", len(results[tgt]), st.Probes)
	}
}
