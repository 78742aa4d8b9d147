package daemon_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
)

// BenchmarkAPI_ApplyThroughFollower measures PUT /v1/spec sent to a
// follower of a three-node cluster on loopback: HTTP, validation, the
// forward to the leader, the Raft commit and the answer relayed back. Each
// apply changes the zone TTL so that it is a real change. The nodes use the
// production Raft timing (config defaults).
func BenchmarkAPI_ApplyThroughFollower(b *testing.B) { benchApply(b, false) }

// BenchmarkAPI_ApplyOnLeader is the same with the requests sent to the
// leader's API, for comparison: the difference is the cost of forwarding.
func BenchmarkAPI_ApplyOnLeader(b *testing.B) { benchApply(b, true) }

func benchApply(b *testing.B, onLeader bool) {
	c := daemontest.StartWith(b, 3, testutil.Logger(b, slog.LevelError), func(rt *config.Runtime) {
		rt.Raft = config.Raft{}
	})
	leader := c.WaitLeader(10 * time.Second)
	client := c.Nodes[c.Follower()].Client
	if onLeader {
		client = c.Nodes[leader].Client
	}
	spec := exampleSpec(b)
	ctx := b.Context()
	var lat []time.Duration
	failed := 0
	for i := 0; b.Loop(); i++ {
		body := bytes.Replace(spec, []byte("ttl: 300"), fmt.Appendf(nil, "ttl: %d", 301+i%1000), 1)
		start := time.Now()
		if _, err := client.ApplySpec(ctx, body, false); err != nil {
			// A leadership change under load fails the write with a
			// 503; count it (a client would retry) unless it is common.
			failed++
			b.Logf("apply %d failed after %s: %v", i, time.Since(start), err)
			if failed > 1+i/10 {
				b.Fatalf("%d of %d applies failed", failed, i+1)
			}
			continue
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(failed), "failed")
}
