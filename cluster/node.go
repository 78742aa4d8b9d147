package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/detour-dns/detour/internal/logging"
	"github.com/detour-dns/detour/policy"
)

// Node is one member of a detour cluster: a Raft server with its stores,
// transport and FSM. Create it with New, run it with Start, stop it with
// Close. All methods are safe for concurrent use.
type Node struct {
	cfg    Config // with defaults applied; read-only
	logger *slog.Logger
	fsm    *fsm

	mu        sync.Mutex // guards the fields below
	started   bool
	closed    bool
	raft      *raft.Raft
	store     *guardedStore
	transport raft.Transport
	streams   *trackingLayer     // the transport's connections; nil with newTransport
	advertise string             // the address other nodes dial
	clusterID string             // from the identity file, until the state knows it
	stop      context.CancelFunc // stops the node's goroutines

	wg sync.WaitGroup // the node's goroutines

	// newTransport, when set before Start, replaces the TCP transport
	// (the in-memory tests use it to partition nodes without sockets).
	newTransport func() (raft.Transport, error)
	// wrapStore and wrapSnapshots, when set before Start, wrap the bbolt
	// store and the file snapshot store (the disk fault tests use them to
	// make the disk hang or fill up on demand).
	wrapStore     func(raftStore) raftStore
	wrapSnapshots func(raft.SnapshotStore) raft.SnapshotStore
}

// logCacheSize is how many of the newest log entries are kept in memory
// in front of the bbolt log store.
const logCacheSize = 64

// New validates cfg and returns a Node that is not started yet. It
// reports every problem of cfg at once.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	logger := cfg.Logger.With("component", "cluster", "node_id", cfg.NodeID)
	return &Node{cfg: cfg, logger: logger, fsm: newFSM(logger)}, nil
}

// Start opens the stores in the data dir, binds the Raft transport, starts
// Raft and, with Config.Bootstrap and a data dir without Raft state, forms
// a new single-node cluster whose leader commits a fresh cluster ID. A node
// without state and without Bootstrap waits to be added by a leader (Join).
// Start returns once Raft runs; it does not wait for a leader
// (WaitForLeader does). A failed Start leaves nothing running; call Close
// in any case.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.started:
		return errors.New("cluster: node already started")
	}
	n.started = true
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	c := n.cfg
	var undo []func()
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(undo) {
				f()
			}
			n.raft, n.store, n.transport = nil, nil, nil
		}
	}()

	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	id, ok, err := readIdentity(c.DataDir)
	if err != nil {
		return err
	}
	if ok && id.NodeID != c.NodeID {
		return fmt.Errorf("start node %q: %w: data dir %s was created by node %q", c.NodeID, ErrWrongNode, c.DataDir, id.NodeID)
	}
	if !ok {
		id = identity{NodeID: c.NodeID}
		if err := writeIdentity(c.DataDir, id); err != nil {
			return err
		}
	}
	n.clusterID = id.ClusterID

	hlog := logging.NewHCLog(n.logger.Handler(), "raft")
	dbPath := filepath.Join(c.DataDir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: dbPath, BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("open raft log store %s: locked by another process", dbPath)
		}
		return fmt.Errorf("open raft log store %s: %w", dbPath, err)
	}
	var inner raftStore = bolt
	if n.wrapStore != nil {
		inner = n.wrapStore(bolt)
	}
	store := newGuardedStore(inner, c.StoreTimeout, n.logger.With("store", dbPath))
	undo = append(undo, func() { store.Close() })
	n.store = store

	files, err := raft.NewFileSnapshotStoreWithLogger(c.DataDir, c.SnapshotRetain, hlog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	var inSnaps raft.SnapshotStore = files
	if n.wrapSnapshots != nil {
		inSnaps = n.wrapSnapshots(files)
	}
	snaps := &snapshotStore{
		SnapshotStore: inSnaps,
		dir:           filepath.Join(c.DataDir, "snapshots"),
		logs:          store,
		logger:        n.logger,
		restoreErr:    n.fsm.lastRestoreError,
	}

	trans, err := n.openTransport(hlog)
	if err != nil {
		return err
	}
	undo = append(undo, func() { closeTransport(trans) })
	n.transport = trans
	n.advertise = string(trans.LocalAddr())

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.ShutdownOnRemove = true
	rc.Logger = hlog
	notify := make(chan bool, 8)
	rc.NotifyCh = notify
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft config: %w", err)
	}

	snaps.removePartial()
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	if existing {
		last, err := lastCommandIndex(store)
		if err != nil {
			return fmt.Errorf("read raft log: %w", err)
		}
		n.fsm.holdVisible(last)
	}
	// A small cache of the newest entries spares raft from reading (and
	// decoding) from bbolt the entry it just wrote whenever it replicates
	// the next one; health reports of a large outage are megabytes each.
	logs := newLogCache(logCacheSize, store)
	snaps.beginStart()
	r, err := raft.NewRaft(rc, n.fsm, logs, store, snaps, trans)
	if fatal := snaps.endStart(err); fatal != nil {
		if err == nil {
			stopRaft(r, store, n.streams)
		}
		return fmt.Errorf("start raft: %w", fatal)
	}
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	undo = append(undo, func() { stopRaft(r, store, n.streams) })
	n.raft = r

	if c.Bootstrap && !existing {
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: raft.ServerID(c.NodeID), Address: raft.ServerAddress(n.advertise)},
		}})
		if err := f.Error(); err != nil {
			return fmt.Errorf("bootstrap cluster: %w", err)
		}
		n.logger.Info("bootstrapped a new cluster", "raft_addr", n.advertise)
	} else if c.Bootstrap {
		n.logger.Info("data dir has raft state; not bootstrapping again")
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.stop = stop
	n.wg.Add(3)
	go n.leaderLoop(runCtx, r, notify)
	go n.identityLoop(runCtx, id)
	go n.replayLoop(runCtx, r)
	n.logger.Info("node started", "raft_addr", n.advertise, "existing_state", existing)
	return nil
}

// stopRaft shuts r down. It aborts a pending retry in store first, which
// would otherwise hold raft's main loop (and the shutdown) for as long as
// the disk fails.
//
// Once the shutdown has begun it closes every connection of streams (when
// not nil): a replication goroutine blocked writing to a peer that stopped
// reading would otherwise hold the shutdown for the transport's whole I/O
// timeout (10 s), and a SIGTERM with it.
func stopRaft(r *raft.Raft, store *guardedStore, streams *trackingLayer) error {
	f := r.Shutdown()
	store.abort()
	if streams != nil {
		streams.closeConns()
	}
	return f.Error()
}

// openTransport binds the TCP transport on RaftAddr, advertising
// RaftAdvertise or the bound address.
func (n *Node) openTransport(hlog hclog.Logger) (raft.Transport, error) {
	if n.newTransport != nil {
		return n.newTransport()
	}
	adv, err := n.advertiseAddr()
	if err != nil {
		return nil, err
	}
	var layer raft.StreamLayer
	if n.cfg.TLS != nil {
		if layer, err = n.openTLSLayer(adv); err != nil {
			return nil, err
		}
	} else {
		if layer, err = newTCPStreamLayer(n.cfg.RaftAddr, adv); err != nil {
			return nil, fmt.Errorf("bind raft transport on %s: %w", n.cfg.RaftAddr, err)
		}
	}
	tracked := newTrackingLayer(layer)
	n.streams = tracked
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  tracked,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog.Named("transport"),
		// No pipelined replication: raft v1.7.2's pipeline can deadlock on
		// shutdown (its decoder exits on a failed response, the sender then
		// blocks handing off the next request, and the pipeline is closed
		// only after the sender returns), which held SIGTERM stops forever
		// in the fault suite. Plain AppendEntries calls end when
		// stopRaft closes their connections; raft's own notes (#541) find
		// pipelining of little use at detour's write rates.
		MaxRPCsInFlight: 1,
	}), nil
}

// closeTransport closes t and, for the TCP transport, its pooled outbound
// connections too (raft leaves them open), so that the peers' handlers see
// EOF and end.
func closeTransport(t raft.Transport) error {
	if nt, ok := t.(*raft.NetworkTransport); ok {
		nt.CloseStreams()
	}
	if c, ok := t.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// advertiseAddr returns the address to give the transport, or nil to use
// the bound one.
func (n *Node) advertiseAddr() (net.Addr, error) {
	c := n.cfg
	if c.RaftAdvertise == "" {
		return nil, nil
	}
	host, port, _ := splitHostPort(c.RaftAdvertise) // checked by validate
	if port == 0 {
		_, port, _ = splitHostPort(c.RaftAddr)
	}
	a, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("resolve raft advertise address %q: %w", c.RaftAdvertise, err)
	}
	if a.IP == nil || a.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft advertise address %q: resolves to an unspecified address", c.RaftAdvertise)
	}
	return a, nil
}

// Close stops Raft, the node's goroutines, the transport and the stores.
// It is safe to call more than once and on a node that never started.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	r, trans, store, stop, streams := n.raft, n.transport, n.store, n.stop, n.streams
	n.mu.Unlock()

	var errs []error
	if r != nil {
		if err := stopRaft(r, store, streams); err != nil {
			errs = append(errs, fmt.Errorf("stop raft: %w", err))
		}
	}
	if stop != nil {
		stop()
	}
	n.wg.Wait()
	if trans != nil {
		if err := closeTransport(trans); err != nil {
			errs = append(errs, fmt.Errorf("close raft transport: %w", err))
		}
	}
	if store != nil {
		if err := store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft log store: %w", err))
		}
	}
	n.logger.Info("node closed")
	return errors.Join(errs...)
}

// running returns the node's Raft, or ErrClosed when it is not running.
func (n *Node) running() (*raft.Raft, error) {
	n.mu.Lock()
	r, closed := n.raft, n.closed
	n.mu.Unlock()
	if r == nil || closed || r.State() == raft.Shutdown {
		return nil, ErrClosed
	}
	return r, nil
}

// RaftAddr returns the Raft address other nodes dial (the advertise
// address, with the real port when bound to port 0); "" before Start.
func (n *Node) RaftAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.advertise
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// ClusterID returns the ID of the cluster this node belongs to, or "" while
// it does not know yet (a new node before it has joined).
func (n *Node) ClusterID() string {
	if id := n.fsm.applied().ClusterID; id != "" {
		return id
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clusterID
}

// State returns the current replicated state; never nil (an empty State
// before anything has been applied). The State is shared and immutable:
// callers must not modify it.
func (n *Node) State() *policy.State { return n.fsm.current() }

// Watch returns the current state and a channel that is closed when a
// newer state is published: a consumer processes the state, then waits on
// the channel and calls Watch again.
func (n *Node) Watch() (*policy.State, <-chan struct{}) { return n.fsm.watch() }

// Leader returns the ID and API address of the leader as this node knows
// it; both are "" while no leader is known, and apiAddr is "" until the
// leader has recorded its member.
func (n *Node) Leader() (id, apiAddr string) {
	r, err := n.running()
	if err != nil {
		return "", ""
	}
	_, sid := r.LeaderWithID()
	id = string(sid)
	return id, n.fsm.applied().Members[id].APIAddr
}

// IsLeader reports whether this node is the leader right now.
func (n *Node) IsLeader() bool {
	r, err := n.running()
	return err == nil && r.State() == raft.Leader
}

// WaitForLeader blocks until this node knows a leader (itself or another
// node), ctx is done, or the node stops.
func (n *Node) WaitForLeader(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := n.running()
		if err != nil {
			return err
		}
		if _, id := r.LeaderWithID(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leader: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Status is a point-in-time view of a node, for the status API.
type Status struct {
	NodeID, Region string
	// Role is leader, follower, candidate or shutdown.
	Role string
	// LeaderID and LeaderAPIAddr name the leader when known.
	LeaderID, LeaderAPIAddr string
	ClusterID               string
	Term                    uint64
	// AppliedIndex is the last log index applied to the FSM; CommitIndex
	// the last known committed one; LastLogIndex the last one stored.
	AppliedIndex, CommitIndex, LastLogIndex uint64
	SpecVersion                             uint64
	// LastContact is when a follower last heard from the leader (zero if
	// never); on the leader it is the time of the Status call.
	LastContact time.Time
}

// Status returns the node's current status. It never blocks on the
// network.
func (n *Node) Status() Status {
	st := n.fsm.current()
	s := Status{
		NodeID:      n.cfg.NodeID,
		Region:      n.cfg.Region,
		Role:        "shutdown",
		ClusterID:   n.ClusterID(),
		SpecVersion: st.SpecVersion,
	}
	r, err := n.running()
	if err != nil {
		return s
	}
	state := r.State()
	s.Role = strings.ToLower(state.String())
	_, id := r.LeaderWithID()
	s.LeaderID = string(id)
	s.LeaderAPIAddr = st.Members[s.LeaderID].APIAddr
	s.Term = r.CurrentTerm()
	s.AppliedIndex = r.AppliedIndex()
	s.CommitIndex = r.CommitIndex()
	s.LastLogIndex = r.LastIndex()
	if state == raft.Leader {
		s.LastContact = time.Now()
	} else {
		s.LastContact = r.LastContact()
	}
	return s
}

// MemberInfo describes one member of the Raft configuration, joined with
// what State.Members records about it.
type MemberInfo struct {
	ID, Region, RaftAddr, APIAddr string
	Voter, Leader                 bool
}

// Members returns the members of the Raft configuration as this node
// knows it, sorted by ID.
func (n *Node) Members(ctx context.Context) ([]MemberInfo, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	servers, err := n.configuration(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	_, leader := r.LeaderWithID()
	st := n.fsm.current()
	out := make([]MemberInfo, 0, len(servers))
	for _, s := range servers {
		m := st.Members[string(s.ID)]
		out = append(out, MemberInfo{
			ID:       string(s.ID),
			Region:   m.Region,
			RaftAddr: string(s.Address),
			APIAddr:  m.APIAddr,
			Voter:    s.Suffrage == raft.Voter,
			Leader:   s.ID == leader,
		})
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// configuration returns the latest Raft configuration's servers.
func (n *Node) configuration(ctx context.Context, r *raft.Raft) ([]raft.Server, error) {
	f := r.GetConfiguration()
	if err := waitFuture(ctx, f); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

// Snapshot makes Raft take a snapshot now and compact its log (for
// backups and tests; Raft snapshots on its own per SnapshotThreshold).
func (n *Node) Snapshot(ctx context.Context) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	if err := waitFuture(ctx, r.Snapshot()); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// waitFuture waits for f or for ctx, whichever comes first. When ctx wins,
// f is left to raft, which resolves every future eventually (at the
// latest when it shuts down).
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxReplayScan bounds how far back lastCommandIndex looks for a command
// among the entries Raft writes itself (no-ops, configurations).
const maxReplayScan = 1024

// lastCommandIndex returns the index of the newest command entry in logs,
// or 0 when the newest maxReplayScan entries hold none.
func lastCommandIndex(logs raft.LogStore) (uint64, error) {
	first, err := logs.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := logs.LastIndex()
	if err != nil {
		return 0, err
	}
	for i := last; i >= first && i > 0 && last-i < maxReplayScan; i-- {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue
			}
			return 0, err
		}
		if l.Type == raft.LogCommand {
			return i, nil
		}
	}
	return 0, nil
}

// replayLoop ends the replay hold of a restarted node whose log holds
// entries the cluster never committed (a new leader replaced them), so
// that applying can never reach the hold's index: once a leader is known,
// everything it committed is applied and nothing has been applied for a
// second, the node shows what it has.
func (n *Node) replayLoop(ctx context.Context, r *raft.Raft) {
	defer n.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	since := time.Now()
	for n.fsm.holding() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		applied := r.AppliedIndex()
		if applied != last {
			last, since = applied, time.Now()
			continue
		}
		if addr, _ := r.LeaderWithID(); addr != "" && applied >= r.CommitIndex() && time.Since(since) >= time.Second {
			n.fsm.endHold("caught up with the leader's commit index")
		}
	}
}

// Replaying reports whether the node, restarted, is still replaying its
// own log: until it has, State and Watch show the state it restored, not
// the intermediate states of the replay.
func (n *Node) Replaying() bool { return n.fsm.holding() }
