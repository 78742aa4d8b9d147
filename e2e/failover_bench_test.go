package e2e

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkFailoverConvergence measures, on three server processes
// running the example spec (failover pool: interval 500ms, timeout 400ms,
// fall 3, rise 2), the time from "us-east-1 starts answering 503" to "all
// three nodes answer eu-west-1". Each iteration is one trial: fail,
// measure, recover, wait until every node's view of us-east-1 is healthy
// again, then wait a random part of the interval so that failures land at
// random points of the probe schedule. Run 20 trials with
//
//	go test -run '^$' -bench FailoverConvergence -benchtime 20x ./e2e
//
// (make bench-failover). It reports p50, p99 and max in ms.
func BenchmarkFailoverConvergence(b *testing.B) {
	fc := startCluster(b, clusterOptions{})
	us := fc.backends[0]
	www := "www.example.test."
	const interval = 500 * time.Millisecond
	healthyEverywhere := func() bool {
		for _, p := range fc.procs {
			ps, err := p.client(b).Pool(b.Context(), www)
			if err != nil {
				return false
			}
			for _, q := range fc.procs {
				if v, ok := view(ps, "us-east-1", q.id); !ok || !v.Healthy {
					return false
				}
			}
		}
		return true
	}
	settle := func() {
		b.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !healthyEverywhere() {
			if time.Now().After(deadline) {
				b.Fatal("us-east-1 did not become healthy in every node's view")
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		time.Sleep(rand.N(interval)) // a random phase against the probe schedule
	}
	settle()
	var lat []time.Duration
	for b.Loop() {
		us.setMode(mode503)
		lat = append(lat, fc.converge(b, time.Now(), 15*time.Second, www, euWest))
		us.setMode(modeOK)
		fc.converge(b, time.Now(), 15*time.Second, www, usEast)
		b.StopTimer()
		settle()
		b.StartTimer()
	}
	b.StopTimer()
	reportLatencies(b, lat)
	b.Logf("failover convergence over %d trials: %v", len(lat), lat)
}

// reportLatencies sorts lat and reports its p50, p99 and max in ms as
// metrics of b.
func reportLatencies(b *testing.B, lat []time.Duration) {
	b.Helper()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
