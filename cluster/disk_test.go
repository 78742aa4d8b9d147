package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// Fault modes of a faultStore.
const (
	diskOK int32 = iota
	diskHang
	diskFull
)

// faultStore is a real store (bbolt) whose writes can be made to hang (a
// stuck disk: reads keep working from the page cache, as bbolt reads
// through mmap) or to fail with ENOSPC (a full disk), on demand.
type faultStore struct {
	raftStore
	mode atomic.Int32
	hung atomic.Int64 // writes hanging right now

	mu      sync.Mutex
	release chan struct{} // closed by heal; guarded by mu
}

// hang makes every write block until heal.
func (f *faultStore) hang() {
	f.mu.Lock()
	f.release = make(chan struct{})
	f.mu.Unlock()
	f.mode.Store(diskHang)
}

// fill makes every write fail with ENOSPC until heal.
func (f *faultStore) fill() { f.mode.Store(diskFull) }

// heal ends the fault and releases the writes that hang.
func (f *faultStore) heal() {
	f.mode.Store(diskOK)
	f.mu.Lock()
	if f.release != nil {
		close(f.release)
		f.release = nil
	}
	f.mu.Unlock()
}

// fault applies the current mode to a write.
func (f *faultStore) fault() error {
	switch f.mode.Load() {
	case diskHang:
		f.mu.Lock()
		ch := f.release
		f.mu.Unlock()
		if ch != nil {
			f.hung.Add(1)
			<-ch
			f.hung.Add(-1)
		}
	case diskFull:
		return &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC}
	}
	return nil
}

func (f *faultStore) StoreLog(l *raft.Log) error { return f.StoreLogs([]*raft.Log{l}) }

func (f *faultStore) StoreLogs(logs []*raft.Log) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.raftStore.StoreLogs(logs)
}

func (f *faultStore) DeleteRange(lo, hi uint64) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.raftStore.DeleteRange(lo, hi)
}

func (f *faultStore) Set(k, v []byte) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.raftStore.Set(k, v)
}

func (f *faultStore) SetUint64(k []byte, v uint64) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.raftStore.SetUint64(k, v)
}

// faultCluster is a loopback cluster whose nodes' stores are faultStores.
type faultCluster struct {
	*testCluster
	faults []*faultStore // by node position
}

// newFaultCluster starts three nodes over TCP on 127.0.0.1 with real bbolt
// stores behind fault switches.
func newFaultCluster(t testing.TB, tweak func(*Config)) *faultCluster {
	t.Helper()
	faults := make([]*faultStore, 3)
	c := newTestClusterWith(t, 3, tweak, func(i int, n *Node) {
		n.wrapStore = func(s raftStore) raftStore {
			faults[i] = &faultStore{raftStore: s}
			return faults[i]
		}
	})
	t.Cleanup(func() { // before the nodes close: release hung writes
		for _, f := range faults {
			f.heal()
		}
	})
	return &faultCluster{testCluster: c, faults: faults}
}

// waitLeaderAmong waits until one of nodes leads and has announced itself.
func (c *testCluster) waitLeaderAmong(nodes ...*Node) *Node {
	c.t.Helper()
	var leader *Node
	testutil.WaitFor(c.t, testTimeout, func() bool {
		for _, n := range nodes {
			if n.IsLeader() && n.State().Members[n.ID()].APIAddr != "" {
				leader = n
				return true
			}
		}
		return false
	}, "a leader among %d nodes", len(nodes))
	return leader
}

func TestCluster_LeaderDiskTrouble(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name    string
		fault   func(*faultStore)
		wantErr error // besides ErrStorage and ErrNoQuorum
	}{
		{"stuck disk", (*faultStore).hang, nil},
		{"full disk", (*faultStore).fill, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const storeTimeout = time.Second
			c := newFaultCluster(t, func(cfg *Config) { cfg.StoreTimeout = storeTimeout })
			ctx := t.Context()
			old := c.waitLeader()
			if _, err := old.ApplySpec(ctx, testSpec(1, 1)); err != nil {
				t.Fatal(err)
			}
			before := c.waitConverged()
			bad := c.faults[c.indexOf(old)]

			tc.fault(bad)
			start := time.Now()
			_, err := old.ApplySpec(ctx, testSpec(99, 1))
			took := time.Since(start)
			if err == nil {
				t.Fatal("the leader acknowledged a write its disk could not store")
			}
			for _, want := range []error{ErrStorage, ErrNoQuorum, tc.wantErr} {
				if want != nil && !errors.Is(err, want) {
					t.Errorf("write error %q does not wrap %v", err, want)
				}
			}
			if took > storeTimeout+time.Second {
				t.Errorf("the write failed after %v, want within the store timeout %v", took, storeTimeout)
			}
			t.Logf("write on the leader failed after %v: %v", took, err)
			for _, n := range c.live() {
				if diff := cmp.Diff(before, n.State()); diff != "" {
					t.Errorf("%s changed state after the failed write (-before +now):\n%s", n.ID(), diff)
				}
			}

			others := c.followers(old)
			leader := c.waitLeaderAmong(others...)
			t.Logf("%s leads %v after the fault began (old leader %s)", leader.ID(), time.Since(start).Round(time.Millisecond), old.ID())
			if old.IsLeader() {
				t.Errorf("the node with the bad disk still claims to lead")
			}
			// Writes go through the new leader (asked again if leadership
			// moves between the healthy two on a loaded machine).
			var err2 error
			if !testutil.Eventually(testTimeout, func() bool {
				_, err2 = c.waitLeaderAmong(others...).ApplySpec(ctx, testSpec(2, 1))
				return err2 == nil || !(errors.Is(err2, ErrNoQuorum) || errors.Is(err2, ErrNotLeader))
			}) || err2 != nil {
				t.Fatalf("ApplySpec on the new leader (%s): %v", leader.ID(), err2)
			}
			testutil.WaitFor(t, testTimeout, func() bool {
				return specText(others[0].State()) == "version=2" && specText(others[1].State()) == "version=2"
			}, "the healthy nodes to apply version 2")
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			_, err = old.ApplySpec(short, testSpec(98, 1))
			cancel()
			if err == nil {
				t.Errorf("the node with the bad disk acknowledged a write")
			}
			if v := old.State().SpecVersion; v != 1 {
				t.Errorf("the node with the bad disk serves spec version %d, want its last good 1", v)
			}

			bad.heal()
			st := c.waitConverged()
			if specText(st) != "version=2" || st.SpecVersion < 2 {
				t.Errorf("after the disk recovered: spec version %d with %q; want version=2 (the failed writes must not appear)",
					st.SpecVersion, specText(st))
			}
		})
	}
}

func TestCluster_FollowerDiskFull(t *testing.T) {
	skipShort(t)
	c := newFaultCluster(t, func(cfg *Config) { cfg.StoreTimeout = time.Second })
	ctx := t.Context()
	leader := c.waitLeader()
	if _, err := leader.ApplySpec(ctx, testSpec(1, 1)); err != nil {
		t.Fatal(err)
	}
	before := c.waitConverged()
	full, other := c.followers(leader)[0], c.followers(leader)[1]
	c.faults[c.indexOf(full)].fill()

	// The leader and the other follower are a majority: writes go on.
	start := time.Now()
	if _, err := leader.ApplySpec(ctx, testSpec(2, 1)); err != nil {
		t.Fatalf("write with one follower's disk full: %v", err)
	}
	t.Logf("write with a full follower took %v", time.Since(start))
	testutil.WaitFor(t, testTimeout, func() bool { return specText(other.State()) == "version=2" }, "the healthy follower to apply version 2")
	if diff := cmp.Diff(before, full.State()); diff != "" {
		t.Errorf("the follower with a full disk changed state (-before +now):\n%s", diff)
	}

	c.faults[c.indexOf(full)].heal()
	if st := c.waitConverged(); specText(st) != "version=2" {
		t.Errorf("after freeing the disk the cluster holds %q, want version=2", specText(st))
	}
}

// specText returns the TXT value that testSpec sets, "" without a spec.
func specText(st *policy.State) string {
	if st.Spec == nil || len(st.Spec.Zones) == 0 {
		return ""
	}
	return st.Spec.Zones[0].Records[0].Values[0]
}

// BenchmarkStuckLeaderReplaced measures, with the default timings, the
// time from the leader's disk hanging (and a write arriving) until another
// node leads, and until a write through it succeeds. Each iteration builds
// a fresh cluster; run it with -benchtime Nx.
func BenchmarkStuckLeaderReplaced(b *testing.B) {
	var elect, write []time.Duration
	for b.Loop() {
		c := newFaultCluster(b, func(cfg *Config) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 0, 0, 0
			cfg.CommitTimeout, cfg.ApplyTimeout, cfg.StoreTimeout = 0, 0, 0
			cfg.Logger = slog.New(slog.DiscardHandler)
		})
		old := c.waitLeader()
		c.faults[c.indexOf(old)].hang()
		start := time.Now()
		go old.ApplySpec(context.Background(), testSpec(99, 1)) // fails after the store timeout
		leader := c.waitLeaderAmong(c.followers(old)...)
		elect = append(elect, time.Since(start))
		if _, err := leader.ApplySpec(b.Context(), testSpec(2, 1)); err != nil {
			b.Fatal(err)
		}
		write = append(write, time.Since(start))
		c.faults[c.indexOf(old)].heal()
		for i := range c.nodes {
			c.closeNode(i)
		}
	}
	report := func(ds []time.Duration, name string) {
		var sum, worst time.Duration
		for _, d := range ds {
			sum += d
			worst = max(worst, d)
		}
		b.ReportMetric(float64(sum)/float64(len(ds))/1e6, name+"-mean-ms")
		b.ReportMetric(float64(worst)/1e6, name+"-max-ms")
	}
	report(elect, "new-leader")
	report(write, "write-ok")
}

// recordHandler keeps the messages and attributes of the records it
// handles, for tests that check what was logged.
type recordHandler struct {
	mu    sync.Mutex
	lines []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// find returns the lines that contain every one of parts.
func (h *recordHandler) find(parts ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after the nodes registered later have closed).
// It skips the test when it cannot mount (not root, or no permission).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a tmpfs mount: run as root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): skipping the real full-disk test", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for range 1 << 16 { // at most 256 MiB
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
	t.Fatalf("%s did not fill up", dir)
	return ""
}

func TestNode_RealFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 8<<20)
	rec := &recordHandler{}
	cfg := soloConfig(t, rec)
	cfg.DataDir = filepath.Join(dir, "n0")
	n, err := startSolo(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	soloLeader(t, n)
	applyVersions(t, n, 1, 1)
	if err := n.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	applyVersions(t, n, 2, 2)
	kept := listSnapshots(t, cfg.DataDir)
	before := n.State()

	filler := fillDisk(t, dir)
	big := testSpec(3, 500) // a few hundred kilobytes: bbolt needs new pages
	_, err = n.ApplySpec(t.Context(), big)
	if err == nil {
		t.Fatal("a write on a full disk was acknowledged")
	}
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNoQuorum) {
		t.Errorf("write on a full disk = %v; want ErrStorage, ENOSPC and ErrNoQuorum", err)
	}
	t.Logf("write on a full disk: %v", err)
	if diff := cmp.Diff(before, n.State()); diff != "" {
		t.Errorf("state changed after the failed write (-before +after):\n%s", diff)
	}
	if err := n.Snapshot(t.Context()); err == nil {
		t.Error("a snapshot on a full disk succeeded")
	} else {
		t.Logf("snapshot on a full disk: %v", err)
	}
	if got := listSnapshots(t, cfg.DataDir); !slices.EqualFunc(got, kept, func(a, b *raft.SnapshotMeta) bool { return a.ID == b.ID }) {
		t.Errorf("snapshots after the failure %v, want the old ones %v", got, kept)
	}

	// Free the disk: the node leads again and the same write succeeds.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var v uint64
	if !testutil.Eventually(testTimeout, func() bool {
		v, err = n.ApplySpec(t.Context(), big)
		return err == nil
	}) {
		t.Fatalf("write after freeing the disk: %v", err)
	}
	if v != 3 || n.State().SpecVersion != 3 {
		t.Errorf("after freeing the disk: version %d, state %d; want 3", v, n.State().SpecVersion)
	}

	// The snapshot that failed on the full disk left a partial directory;
	// the next start removes it.
	partial, _ := filepath.Glob(filepath.Join(cfg.DataDir, "snapshots", "*.tmp"))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := startSolo(t, cfg); err != nil {
		t.Fatal(err)
	}
	for _, p := range partial {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partial snapshot %s still there after a restart (%v)", p, err)
		}
		if len(rec.find("WARN", "removed a partial snapshot", p)) != 1 {
			t.Errorf("no Warn line for removing %s", p)
		}
	}
	t.Logf("partial snapshots removed at restart: %v", partial)
}
