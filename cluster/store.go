package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// raftStore is what a Node needs from its log and stable store:
// raft-boltdb's BoltStore, or in tests a wrapper around it that fails on
// demand.
type raftStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// raftCurrentTermKey is the stable-store key under which raft records its
// current term. Raft stops the process (panics) when it cannot write it,
// so guardedStore retries that write instead of failing it; a test pins
// the name.
const raftCurrentTermKey = "CurrentTerm"

// termRetryInterval is how long guardedStore waits between attempts to
// record the current term while the disk fails.
const termRetryInterval = 250 * time.Millisecond

// Operation states of one guarded call.
const (
	opRunning int32 = iota
	opFinished
	opAbandoned
)

// guardedStore bounds every operation on a raftStore by a timeout, so that
// a stuck disk gives raft an error instead of blocking it for ever: a
// leader whose log write fails steps down and the others elect a leader
// with a working disk. Each operation runs on its own goroutine; one that
// has not returned within the timeout is abandoned (it goes on in the
// background) and, until it returns, every other operation fails at once
// rather than queue behind it.
//
// Errors of writes, timeouts and refusals while stuck are *storageError
// (errors.Is(err, ErrStorage)); errors of reads are returned unchanged, so
// that raft still recognises "not found".
//
// One write is never failed: recording the current term, which raft cannot
// survive failing (it panics). That write is retried every
// termRetryInterval until it succeeds or abort is called, holding raft's
// main loop: the node then takes no part in Raft (it neither votes nor
// acknowledges entries) while it keeps serving its last state.
type guardedStore struct {
	inner   raftStore
	timeout time.Duration
	logger  *slog.Logger

	stuck     atomic.Int64  // operations past their timeout that have not returned
	termMu    sync.Mutex    // serialises writes of the current term
	termSet   uint64        // the highest term written; guarded by termMu
	aborted   chan struct{} // closed by abort
	abortOnce sync.Once
}

var (
	_ raft.LogStore    = (*guardedStore)(nil)
	_ raft.StableStore = (*guardedStore)(nil)
)

// newGuardedStore returns inner with every operation bounded by timeout.
func newGuardedStore(inner raftStore, timeout time.Duration, logger *slog.Logger) *guardedStore {
	return &guardedStore{inner: inner, timeout: timeout, logger: logger, aborted: make(chan struct{})}
}

// storageError is an operation of the Raft store that failed or timed out.
// It wraps ErrStorage and the cause.
type storageError struct {
	op  string
	err error
}

// Error names the operation and the cause.
func (e *storageError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrStorage, e.op, e.err)
}

// Unwrap returns ErrStorage and the cause.
func (e *storageError) Unwrap() []error { return []error{ErrStorage, e.err} }

// run calls fn on its own goroutine and waits for it for at most the
// timeout.
func (g *guardedStore) run(op string, fn func() error) error {
	if n := g.stuck.Load(); n > 0 {
		return &storageError{op: op, err: fmt.Errorf("refused: %d earlier operation(s) did not return within %v and are still running", n, g.timeout)}
	}
	var state atomic.Int32
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		err := fn()
		if !state.CompareAndSwap(opRunning, opFinished) {
			g.stuck.Add(-1)
			g.logger.Warn("raft storage answered again", "op", op, "after", time.Since(start).Round(time.Millisecond), "error", err)
		}
		done <- err
	}()
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	g.stuck.Add(1)
	if !state.CompareAndSwap(opRunning, opAbandoned) {
		g.stuck.Add(-1) // it finished just now
		return <-done
	}
	g.logger.Error("raft storage did not answer in time: failing the operation", "op", op, "timeout", g.timeout)
	return &storageError{op: op, err: fmt.Errorf("no answer from the disk within %v", g.timeout)}
}

// write runs a write and wraps its error.
func (g *guardedStore) write(op string, fn func() error) error {
	select {
	case <-g.aborted:
		return &storageError{op: op, err: errors.New("refused: the node is stopping")}
	default:
	}
	err := g.run(op, fn)
	if err == nil {
		return nil
	}
	if _, ok := err.(*storageError); ok {
		return err
	}
	return &storageError{op: op, err: err}
}

// FirstIndex returns the first index in the log.
func (g *guardedStore) FirstIndex() (idx uint64, err error) {
	err = g.run("read first index", func() (err error) { idx, err = g.inner.FirstIndex(); return err })
	return idx, err
}

// LastIndex returns the last index in the log.
func (g *guardedStore) LastIndex() (idx uint64, err error) {
	err = g.run("read last index", func() (err error) { idx, err = g.inner.LastIndex(); return err })
	return idx, err
}

// GetLog reads the entry at index into log.
func (g *guardedStore) GetLog(index uint64, log *raft.Log) error {
	var l raft.Log // the abandoned goroutine must not write into log later
	err := g.run("read log entry", func() error { return g.inner.GetLog(index, &l) })
	if err == nil {
		*log = l
	}
	return err
}

// StoreLog stores one entry.
func (g *guardedStore) StoreLog(log *raft.Log) error {
	return g.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores entries.
func (g *guardedStore) StoreLogs(logs []*raft.Log) error {
	return g.write("store log entries", func() error { return g.inner.StoreLogs(logs) })
}

// DeleteRange deletes the entries from min to max, inclusive.
func (g *guardedStore) DeleteRange(min, max uint64) error {
	return g.write("delete log entries", func() error { return g.inner.DeleteRange(min, max) })
}

// Set stores val under key.
func (g *guardedStore) Set(key, val []byte) error {
	return g.write("set "+string(key), func() error { return g.inner.Set(key, val) })
}

// Get returns the value stored under key.
func (g *guardedStore) Get(key []byte) (val []byte, err error) {
	err = g.run("get "+string(key), func() (err error) { val, err = g.inner.Get(key); return err })
	return val, err
}

// SetUint64 stores val under key. Recording the current term is retried
// until it succeeds or abort is called (see guardedStore).
func (g *guardedStore) SetUint64(key []byte, val uint64) error {
	op := "set " + string(key)
	set := func() error { return g.write(op, func() error { return g.inner.SetUint64(key, val) }) }
	if string(key) != raftCurrentTermKey {
		return set()
	}
	// Raft may record the term from two goroutines at once (its main
	// loop and the transport's heartbeat handler). While the disk fails
	// both wait here; the term on disk never goes back.
	g.termMu.Lock()
	defer g.termMu.Unlock()
	if val < g.termSet {
		return nil
	}
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := set()
		if err == nil {
			g.termSet = val
			if attempt > 0 {
				g.logger.Warn("recorded the raft term after the disk recovered", "term", val, "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if attempt%40 == 0 { // about every 10 s
			g.logger.Error("cannot record the raft term: this node takes no part in raft until its disk answers", "term", val, "waited", time.Since(start).Round(time.Millisecond), "error", err)
		}
		t := time.NewTimer(termRetryInterval)
		select {
		case <-g.aborted:
			t.Stop()
			// The node is stopping: raft leaves its main loop right
			// after this call and writes nothing more through this
			// store (abort makes every write fail), so the unrecorded
			// term is never acted on. Failing it would make raft panic.
			return nil
		case <-t.C:
		}
	}
}

// GetUint64 returns the number stored under key.
func (g *guardedStore) GetUint64(key []byte) (val uint64, err error) {
	err = g.run("get "+string(key), func() (err error) { val, err = g.inner.GetUint64(key); return err })
	return val, err
}

// abort ends a pending retry of the current term and makes every later
// write fail. Call it after raft.Shutdown and before waiting for raft to
// stop.
func (g *guardedStore) abort() {
	g.abortOnce.Do(func() { close(g.aborted) })
}

// Close aborts and closes the inner store, waiting at most the timeout.
func (g *guardedStore) Close() error {
	g.abort()
	g.stuck.Store(0) // closing must try even while an operation hangs
	return g.run("close", g.inner.Close)
}

// logCache keeps the newest entries of a log store in memory, so that
// replication and apply do not re-read (and re-decode) from bbolt the
// entries just written. Unlike raft's LogCache it returns the store's
// errors unchanged, so that callers can recognise ErrStorage.
type logCache struct {
	store raft.LogStore

	mu   sync.RWMutex // guards ring
	ring []*raft.Log  // entry i at ring[i%len(ring)]
}

var _ raft.LogStore = (*logCache)(nil)

// newLogCache returns a cache of size entries in front of store.
func newLogCache(size int, store raft.LogStore) *logCache {
	return &logCache{store: store, ring: make([]*raft.Log, size)}
}

// GetLog returns the entry at index from memory, or from the store.
func (c *logCache) GetLog(index uint64, log *raft.Log) error {
	c.mu.RLock()
	l := c.ring[index%uint64(len(c.ring))]
	c.mu.RUnlock()
	if l != nil && l.Index == index {
		*log = *l
		return nil
	}
	return c.store.GetLog(index, log)
}

// StoreLog stores one entry.
func (c *logCache) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries and, once they are stored, caches them.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, l := range logs {
		c.ring[l.Index%uint64(len(c.ring))] = l
	}
	c.mu.Unlock()
	return nil
}

// FirstIndex returns the store's first index.
func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex returns the store's last index.
func (c *logCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange empties the cache and deletes the entries from the store.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	clear(c.ring)
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}
