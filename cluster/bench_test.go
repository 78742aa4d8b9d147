package cluster

import (
	"bytes"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

// BenchmarkApply measures ApplySpec latency on the leader of a three-node
// cluster over loopback TCP with the default timings: a small spec (one
// zone, one pool) changed on every call. It reports the median and 99th
// percentile in milliseconds.
func BenchmarkApply(b *testing.B) {
	c := newTestCluster(b, 3, func(cfg *Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 0, 0, 0
		cfg.CommitTimeout, cfg.ApplyTimeout = 0, 0
		cfg.Logger = slog.New(slog.DiscardHandler)
	})
	leader := c.waitLeader()
	ctx := b.Context()
	var lat []time.Duration
	v := 0
	for b.Loop() {
		v++
		start := time.Now()
		if _, err := leader.ApplySpec(ctx, testSpec(v, 1)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// bigState returns the state after applying a spec of pools pools of
// three endpoints.
func bigState(b *testing.B, pools int) *policy.State {
	f := newFSM(slog.New(slog.DiscardHandler))
	data, err := encodeCommand(applySpecType, applySpecCmd{Spec: testSpec(1, pools)})
	if err != nil {
		b.Fatal(err)
	}
	f.Apply(&raft.Log{Index: 1, Data: data})
	return f.current()
}

// BenchmarkSnapshotPersist10k measures Persist of a state with 10,000
// pools of three endpoints into raft's file snapshot store (write, fsync,
// rename) and reports the snapshot's size.
func BenchmarkSnapshotPersist10k(b *testing.B) {
	st := bigState(b, 10000)
	store, err := raft.NewFileSnapshotStore(b.TempDir(), 2, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		sink, err := store.Create(raft.SnapshotVersionMax, st.Index, 1, raft.Configuration{}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := (&fsmSnapshot{state: st}).Persist(sink); err != nil {
			b.Fatal(err)
		}
		metas, err := store.List()
		if err != nil || len(metas) == 0 {
			b.Fatalf("no snapshot listed: %v", err)
		}
		size = metas[0].Size
	}
	b.ReportMetric(float64(size)/1e6, "snapshot-MB")
}

// BenchmarkSnapshotRestore10k measures Restore of the same snapshot. ns/op
// includes two forced GCs per iteration; restore-p50-ms and restore-max-ms
// time the Restore call alone. It also reports the bytes allocated per
// restore (an upper bound for the extra heap a restore needs) and the live
// heap that the restored state keeps.
func BenchmarkSnapshotRestore10k(b *testing.B) {
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, bigState(b, 10000)); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	var ms runtime.MemStats
	var allocMB, liveMB float64
	var took []time.Duration
	for b.Loop() {
		f := newFSM(slog.New(slog.DiscardHandler))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		total0, live0 := ms.TotalAlloc, ms.HeapAlloc
		start := time.Now()
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		runtime.ReadMemStats(&ms)
		allocMB = float64(ms.TotalAlloc-total0) / 1e6
		runtime.GC()
		runtime.ReadMemStats(&ms)
		liveMB = (float64(ms.HeapAlloc) - float64(live0)) / 1e6
		if got := len(f.current().Spec.Pools); got != 10000 {
			b.Fatalf("restored %d pools", got)
		}
		runtime.KeepAlive(f)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "restore-p50-ms")
	b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "restore-max-ms")
	b.ReportMetric(float64(len(data))/1e6, "snapshot-MB")
	b.ReportMetric(allocMB, "alloc-MB/op")
	b.ReportMetric(liveMB, "live-heap-MB")
}

// BenchmarkFailover measures, with the default timings, the time from
// closing the leader of a three-node loopback cluster until another node
// leads. Each iteration builds a fresh cluster; run it with -benchtime Nx.
func BenchmarkFailover(b *testing.B) {
	var total time.Duration
	var worst time.Duration
	n := 0
	for b.Loop() {
		c := newTestCluster(b, 3, func(cfg *Config) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 0, 0, 0
			cfg.CommitTimeout, cfg.ApplyTimeout = 0, 0
			cfg.Logger = slog.New(slog.DiscardHandler)
		})
		old := c.waitLeader()
		start := time.Now()
		c.closeNode(c.indexOf(old))
		c.waitLeader()
		took := time.Since(start)
		total += took
		worst = max(worst, took)
		n++
		for i := range c.nodes {
			if c.nodes[i] != nil {
				c.closeNode(i)
			}
		}
	}
	b.ReportMetric(float64(total)/float64(n)/float64(time.Millisecond), "election-mean-ms")
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "election-max-ms")
}
