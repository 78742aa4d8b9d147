package cluster

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/detour-dns/detour/internal/testutil"
)

// countingStore counts the writes that reach it.
type countingStore struct {
	*faultStore
	writes atomic.Int64
}

func (c *countingStore) SetUint64(k []byte, v uint64) error {
	c.writes.Add(1)
	return c.faultStore.SetUint64(k, v)
}

// newGuarded returns a guarded real bbolt store behind a fault switch.
func newGuarded(t *testing.T, timeout time.Duration) (*guardedStore, *countingStore) {
	t.Helper()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &countingStore{faultStore: &faultStore{raftStore: bolt}}
	g := newGuardedStore(f, timeout, testutil.Logger(t, slog.LevelWarn))
	t.Cleanup(func() {
		f.heal()
		if err := g.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g, f
}

func entries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	return out
}

func TestGuardedStore_StuckDisk(t *testing.T) {
	const timeout = 100 * time.Millisecond
	g, f := newGuarded(t, timeout)
	if err := g.StoreLogs(entries(1, 2)); err != nil {
		t.Fatal(err)
	}

	f.hang()
	start := time.Now()
	err := g.StoreLogs(entries(3, 3))
	took := time.Since(start)
	if !errors.Is(err, ErrStorage) || took < timeout || took > timeout+time.Second {
		t.Fatalf("write to a stuck disk: %v after %v, want ErrStorage after %v", err, took, timeout)
	}
	// While the write hangs, everything else is refused at once rather
	// than queued behind it.
	for _, op := range []func() error{
		func() error { return g.StoreLogs(entries(4, 4)) },
		func() error { var l raft.Log; return g.GetLog(1, &l) },
		func() error { _, err := g.LastIndex(); return err },
	} {
		start := time.Now()
		if err := op(); !errors.Is(err, ErrStorage) || time.Since(start) > timeout/2 {
			t.Errorf("operation while stuck: %v after %v, want ErrStorage at once", err, time.Since(start))
		}
	}
	if f.hung.Load() != 1 {
		t.Errorf("%d writes reached the stuck disk, want only the first", f.hung.Load())
	}

	f.heal()
	testutil.WaitFor(t, time.Second, func() bool { return g.stuck.Load() == 0 }, "the stuck write to return")
	// The abandoned write completed late; the store works again.
	if last, err := g.LastIndex(); err != nil || last != 3 {
		t.Errorf("LastIndex after recovery = %d, %v; want 3 (the late write landed)", last, err)
	}
	if err := g.StoreLogs(entries(4, 4)); err != nil {
		t.Errorf("write after recovery: %v", err)
	}
}

func TestGuardedStore_FullDisk(t *testing.T) {
	g, f := newGuarded(t, time.Second)
	if err := g.StoreLogs(entries(1, 2)); err != nil {
		t.Fatal(err)
	}
	f.fill()
	err := g.StoreLogs(entries(3, 3))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write to a full disk = %v, want ErrStorage and ENOSPC", err)
	}
	if err := g.Set([]byte("k"), []byte("v")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Set on a full disk = %v", err)
	}
	// Reads go on and keep the errors raft recognises.
	var l raft.Log
	if err := g.GetLog(2, &l); err != nil || l.Index != 2 {
		t.Errorf("GetLog(2) = %+v, %v", l, err)
	}
	if err := g.GetLog(3, &l); err != raft.ErrLogNotFound {
		t.Errorf("GetLog of the failed entry = %v, want raft.ErrLogNotFound itself", err)
	}
	if _, err := g.Get([]byte("missing")); err == nil || err.Error() != "not found" {
		t.Errorf("Get of a missing key = %v, want bbolt's \"not found\" unchanged", err)
	}
}

func TestGuardedStore_TermWaitsForTheDisk(t *testing.T) {
	g, f := newGuarded(t, time.Second)
	key := []byte(raftCurrentTermKey)
	if err := g.SetUint64(key, 5); err != nil {
		t.Fatal(err)
	}

	f.fill()
	before := f.writes.Load()
	done := make(chan error, 1)
	go func() { done <- g.SetUint64(key, 6) }()
	testutil.WaitFor(t, 5*time.Second, func() bool { return f.writes.Load() >= before+3 }, "three attempts to record the term")
	select {
	case err := <-done:
		t.Fatalf("recording the term on a full disk returned %v; it must wait (raft panics on an error)", err)
	default:
	}
	f.heal()
	if err := <-done; err != nil {
		t.Fatalf("recording the term after the disk recovered: %v", err)
	}
	if v, err := g.GetUint64(key); err != nil || v != 6 {
		t.Errorf("term on disk = %d, %v; want 6", v, err)
	}
	if err := g.SetUint64(key, 4); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.GetUint64(key); v != 6 {
		t.Errorf("an older term overwrote the newer one: %d on disk", v)
	}
	// Other numbers fail as usual.
	f.fill()
	if err := g.SetUint64([]byte("LastVoteTerm"), 6); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("SetUint64(LastVoteTerm) on a full disk = %v", err)
	}

	// A node that stops ends the wait.
	before = f.writes.Load()
	go func() { done <- g.SetUint64(key, 7) }()
	testutil.WaitFor(t, 5*time.Second, func() bool { return f.writes.Load() > before }, "an attempt to record the term")
	g.abort()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("aborted wait returned %v, want nil (raft panics on an error)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("abort did not end the wait")
	}
	f.heal()
	if err := g.StoreLogs(entries(1, 1)); !errors.Is(err, ErrStorage) {
		t.Errorf("write after abort = %v, want a refusal", err)
	}
	if v, _ := g.GetUint64(key); v != 6 {
		t.Errorf("term on disk after the aborted wait = %d, want 6", v)
	}
}

func TestLogCache(t *testing.T) {
	g, f := newGuarded(t, time.Second)
	c := newLogCache(4, g)
	if err := c.StoreLogs(entries(1, 6)); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	for i := uint64(3); i <= 6; i++ {
		if err := c.GetLog(i, &l); err != nil || l.Index != i || l.Data[0] != byte(i) {
			t.Errorf("GetLog(%d) = %+v, %v", i, l, err)
		}
	}
	if err := c.GetLog(1, &l); err != nil || l.Index != 1 {
		t.Errorf("GetLog(1) from the store = %+v, %v", l, err)
	}
	f.fill()
	err := c.StoreLogs(entries(7, 7))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("a failed write through the cache = %v, want its cause kept", err)
	}
	if err := c.GetLog(7, &l); err != raft.ErrLogNotFound {
		t.Errorf("GetLog of the failed entry = %+v, %v; a failed write must not be cached", l, err)
	}
	f.heal()
	if err := c.DeleteRange(5, 6); err != nil {
		t.Fatal(err)
	}
	if err := c.GetLog(6, &l); err != raft.ErrLogNotFound {
		t.Errorf("GetLog of a deleted entry = %+v, %v", l, err)
	}
}

// termKeyStore records the keys raft writes with SetUint64.
type termKeyStore struct {
	raftStore
	keys chan string
}

func (s *termKeyStore) SetUint64(k []byte, v uint64) error {
	select {
	case s.keys <- string(k):
	default:
	}
	return s.raftStore.SetUint64(k, v)
}

// TestRaftCurrentTermKey pins the stable-store key under which raft
// records its term: guardedStore retries exactly that write.
func TestRaftCurrentTermKey(t *testing.T) {
	cfg := nodeConfig(t, 0)
	cfg.Bootstrap = true
	cfg.RaftAddr = "inmem-0.example.test:8054"
	keys := make(chan string, 16)
	n := startNode(t, cfg, func(n *Node) {
		_, tr := raft.NewInmemTransport(raft.ServerAddress(cfg.RaftAddr))
		n.newTransport = func() (raft.Transport, error) { return tr, nil }
		n.wrapStore = func(s raftStore) raftStore { return &termKeyStore{raftStore: s, keys: keys} }
	})
	if err := n.WaitForLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(keys) > 0 {
		seen[<-keys] = true
	}
	if !seen[raftCurrentTermKey] {
		t.Errorf("raft wrote the numbers %v, not %q: guardedStore must retry the key raft uses for its term", seen, raftCurrentTermKey)
	}
}
