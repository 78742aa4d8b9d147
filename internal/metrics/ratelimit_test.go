package metrics

import (
	"sync"
	"testing"
)

func TestMetrics_ObserveRateLimited(t *testing.T) {
	m := mustNew(t, Config{})
	// Both series exist at 0 before anything is limited, so that rate()
	// over them works from the first scrape.
	mustValue(t, m, "detour_dns_rate_limited_total", map[string]string{"action": "drop"}, 0)
	mustValue(t, m, "detour_dns_rate_limited_total", map[string]string{"action": "slip"}, 0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 250 {
				m.ObserveRateLimited("drop")
				m.ObserveRateLimited("drop")
				m.ObserveRateLimited("slip")
			}
		})
	}
	wg.Wait()
	m.ObserveRateLimited("other")
	mustValue(t, m, "detour_dns_rate_limited_total", map[string]string{"action": "drop"}, 2000)
	mustValue(t, m, "detour_dns_rate_limited_total", map[string]string{"action": "slip"}, 1000)
	mustValue(t, m, "detour_dns_rate_limited_total", map[string]string{"action": "other"}, 1)
}

func TestMetrics_ObserveRateLimitedDoesNotAllocate(t *testing.T) {
	m := mustNew(t, Config{})
	allocs := testing.AllocsPerRun(1000, func() {
		m.ObserveRateLimited("drop")
		m.ObserveRateLimited("slip")
	})
	if allocs != 0 {
		t.Errorf("ObserveRateLimited allocates %v times, want 0", allocs)
	}
}
