package daemon_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
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

// BenchmarkOutageEntries measures how many Raft entries a regional outage
// costs: three daemons in this process probe 5,000 endpoints (50
// multivalue pools of 100, tcp checks every 1 s, fall 3) at local
// listeners; once every node's views are committed, every listener closes
// at once, and the benchmark counts the log entries until all 5,000
// endpoints are effectively down on the leader, and how long that took.
// Run it with -benchtime 1x; it needs most of two cores for 15,000 probes
// a second.
func BenchmarkOutageEntries(b *testing.B) {
	const pools, perPool, listeners = 50, 100, 16
	var lns []net.Listener
	for range listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		lns = append(lns, ln)
	}
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	b.Cleanup(closeAll)
	var spec bytes.Buffer
	spec.WriteString(`zones:
  - name: example.test.
    soa: {mname: ns1.example.test., rname: hostmaster.example.test.}
    nameservers:
      - {name: ns1.example.test., addresses: [127.0.0.1]}
pools:
`)
	for p := range pools {
		fmt.Fprintf(&spec, "  - name: p%d.example.test.\n    policy: multivalue\n    check: {type: tcp, port: 9, interval: 1s, timeout: 500ms, rise: 2, fall: 3}\n    endpoints:\n", p)
		for e := range perPool {
			fmt.Fprintf(&spec, "      - {name: e%d, addresses: [198.51.100.%d], check_address: %q}\n", e, 1+e%250,
				lns[(p*perPool+e)%listeners].Addr().String())
		}
	}
	c := daemontest.StartWith(b, 3, testutil.Logger(b, slog.LevelError), func(rt *config.Runtime) {
		rt.Raft = config.Raft{}
	})
	leader := c.WaitLeader(10 * time.Second)
	if _, err := c.Nodes[leader].Client.ApplySpec(b.Context(), spec.Bytes(), false); err != nil {
		b.Fatal(err)
	}
	node := c.Nodes[leader].D.Node()
	viewsCommitted := func() bool {
		st := node.State()
		n := 0
		for _, pm := range st.Views {
			for _, views := range pm {
				if len(views) == 3 {
					n++
				}
			}
		}
		return n == pools*perPool
	}
	testutil.WaitFor(b, 60*time.Second, viewsCommitted, "every node's view of every endpoint")
	downCount := func() int {
		n := 0
		for _, pm := range node.State().Down {
			n += len(pm)
		}
		return n
	}
	for b.Loop() {
		from := node.Status().LastLogIndex
		start := time.Now()
		closeAll()
		testutil.WaitFor(b, 60*time.Second, func() bool { return downCount() == pools*perPool }, "every endpoint down")
		took := time.Since(start)
		entries := node.Status().LastLogIndex - from
		b.ReportMetric(float64(entries), "entries")
		b.ReportMetric(float64(took.Milliseconds()), "all-down-ms")
		b.Logf("5,000 endpoints down on the leader %s after the listeners closed, in %d Raft entries", took, entries)
		for _, n := range c.Nodes {
			b.Logf("%s: prober %+v, reports %+v", n.RT.NodeID, n.D.Prober().Stats(), n.D.ReportStats())
		}
	}
}
