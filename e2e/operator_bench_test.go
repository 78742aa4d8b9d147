package e2e

import (
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
)

// BenchmarkManualFailover measures, on three server processes with API
// tokens, the time from the 2xx of a manual failover sent to a follower
// (POST /v1/pools/www.example.test./failover, forwarded to the leader) to
// "all three nodes answer eu-west-1". Each iteration pins, measures, then
// releases the pin and waits for us-east-1 again (untimed). Run with
//
//	go test -run '^$' -bench ManualFailover -benchtime 20x ./e2e
//
// It reports p50, p99 and max in ms.
func BenchmarkManualFailover(b *testing.B) {
	fc := startCluster(b, clusterOptions{auth: true})
	fc.converge(b, time.Now(), 20*time.Second, www, usEast)
	op := fc.follower(b).client(b).WithToken(operateToken)
	var lat []time.Duration
	for b.Loop() {
		if _, err := op.Failover(b.Context(), www, api.FailoverBody{To: "eu-west-1", Reason: "bench"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, fc.converge(b, time.Now(), 5*time.Second, www, euWest))
		b.StopTimer()
		if _, err := op.ReleaseFailover(b.Context(), www, "bench"); err != nil {
			b.Fatal(err)
		}
		fc.converge(b, time.Now(), 5*time.Second, www, usEast)
		b.StartTimer()
	}
	b.StopTimer()
	reportLatencies(b, lat)
	b.Logf("manual failover through a follower, %d trials: %v", len(lat), lat)
}
