package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// outagePools is the number of pools in the agreement benchmarks; each has
// three endpoints, and the outage takes down one of them (us-east-1) in
// every pool: outagePools endpoints fail at once.
const outagePools = 5000

// outageReport returns node's report of the regional outage: us-east-1 of
// every pool unhealthy, with the three results (fall 3) that decided it.
func outageReport(node string, at time.Time) reportViewsCmd {
	r := reportViewsCmd{Node: node, At: at, Views: make([]policy.ViewUpdate, 0, outagePools)}
	for i := range outagePools {
		v := policy.ViewUpdate{Pool: fmt.Sprintf("pool%d.example.test.", i), Endpoint: "us-east-1"}
		for k := range 3 {
			v.Evidence = append(v.Evidence, policy.ProbeResult{
				Time: at.Add(time.Duration(k-3) * 500 * time.Millisecond), Duration: policy.Duration(400 * time.Millisecond),
				Class: "timeout", Address: "198.51.100.11:18080", Error: "GET http://198.51.100.11:18080/healthz: i/o timeout",
			})
		}
		r.Views = append(r.Views, v)
	}
	return r
}

// outageFSM returns an fsm with three voters, outagePools pools and n1's
// report of the outage applied (indexes 1-5).
func outageFSM(b *testing.B, now time.Time) *fsm {
	f := newFSM(slog.New(slog.DiscardHandler))
	apply := func(index uint64, t msgType, payload any) {
		data, err := encodeCommand(t, payload)
		if err != nil {
			b.Fatal(err)
		}
		if resp := f.Apply(&raft.Log{Index: index, Data: data}); isError(resp) {
			b.Fatal(resp)
		}
	}
	for i := 1; i <= 3; i++ {
		apply(uint64(i), upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: fmt.Sprintf("n%d", i), RaftAddr: fmt.Sprintf("127.0.0.%d:1", i), Voter: true}})
	}
	apply(4, applySpecType, applySpecCmd{Spec: testSpec(1, outagePools)})
	apply(5, reportViewsType, outageReport("n1", now))
	return f
}

// BenchmarkAgreementApplyOneFlip measures the apply of a report of one
// flip (n2 agreeing with n1 on one endpoint) in a state of 5,000 pools
// whose views of 5,000 endpoints are recorded: the copy-on-write cost of
// an ordinary flip in a large state.
func BenchmarkAgreementApplyOneFlip(b *testing.B) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	f := outageFSM(b, now)
	base := f.current()
	one := outageReport("n2", now.Add(time.Second))
	one.Views = one.Views[:1]
	data, err := encodeCommand(reportViewsType, one)
	if err != nil {
		b.Fatal(err)
	}
	log := &raft.Log{Index: 6, Data: data}
	b.ReportAllocs()
	for b.Loop() {
		f.state.Store(base)
		if resp := f.Apply(log); resp != nil {
			b.Fatal(resp)
		}
	}
	if st := f.current(); st.EndpointHealthy("pool0.example.test.", "us-east-1") || len(st.Down) != 1 {
		b.Fatalf("%d pools down after one flip, want 1", len(st.Down))
	}
}

// BenchmarkAgreementApply measures the FSM's apply of the log entry that
// flips 5,000 endpoints at once: the second node's report of a regional
// outage (the first one changed nothing), on a state of 5,000 pools with
// three voters. It includes decoding the entry, the effective-health
// update, the events and the zone serials. It reports the entry's size.
func BenchmarkAgreementApply(b *testing.B) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	f := outageFSM(b, now)
	base := f.current()
	data, err := encodeCommand(reportViewsType, outageReport("n2", now.Add(time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	log := &raft.Log{Index: 6, Data: data}
	b.ReportAllocs()
	var applied time.Duration
	runs := 0
	for b.Loop() {
		f.state.Store(base)
		start := time.Now()
		if resp := f.Apply(log); resp != nil {
			b.Fatal(resp)
		}
		applied += time.Since(start)
		runs++
	}
	b.ReportMetric(float64(applied.Microseconds())/1000/float64(runs), "apply-ms")
	st := f.current()
	if st.EndpointHealthy("pool0.example.test.", "us-east-1") || len(st.Down) != outagePools {
		b.Fatalf("%d pools have a down endpoint, want %d", len(st.Down), outagePools)
	}
	var snap bytes.Buffer
	if err := encodeSnapshot(&snap, st); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(data))/(1<<20), "entry-MB")
	b.ReportMetric(float64(snap.Len())/(1<<20), "snapshot-MB")
}

// BenchmarkAgreementOutage runs a three-node cluster over loopback TCP
// (default timings, bbolt stores) with 5,000 pools; every node reports the
// regional outage the way the daemon batches flips (one ReportViews per
// node with all 5,000 flips). It reports the Raft log entries added and
// the time from the first report until every node's state has every
// failed endpoint down.
func BenchmarkAgreementOutage(b *testing.B) {
	c := newTestCluster(b, 3, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 0, 0, 0
		cfg.CommitTimeout, cfg.ApplyTimeout = 0, 0
		cfg.Logger = slog.New(slog.DiscardHandler)
	})
	leader := c.waitLeader()
	ctx := b.Context()
	if _, err := leader.ApplySpec(ctx, testSpec(1, outagePools)); err != nil {
		b.Fatal(err)
	}
	c.waitConverged()
	var entries, runs int
	var total time.Duration
	for b.Loop() {
		runs++
		healthy := runs%2 == 0 // alternate outage and recovery
		start := time.Now()
		first, _ := leader.running()
		before := first.LastIndex()
		for _, n := range c.live() {
			r := outageReport(n.ID(), time.Time{})
			for i := range r.Views {
				r.Views[i].Healthy = healthy
			}
			if err := leader.ReportViews(ctx, ViewReport{Node: n.ID(), Views: r.Views}); err != nil {
				b.Fatal(err)
			}
		}
		testutil.WaitFor(b, time.Minute, func() bool {
			for _, n := range c.live() {
				if st := n.State(); (len(st.Down) == 0) != healthy {
					return false
				}
			}
			return true
		}, "every node to agree on the outage")
		total += time.Since(start)
		entries += int(first.LastIndex() - before)
	}
	b.ReportMetric(float64(entries)/float64(runs), "raft-entries/outage")
	b.ReportMetric(float64(total.Milliseconds())/float64(runs), "ms/outage")
}
