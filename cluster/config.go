package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Default timing. Nodes run one per region, 50-150 ms apart. Raft sends a
// heartbeat every HeartbeatTimeout/10 and a follower calls an election
// after HeartbeatTimeout to 2×HeartbeatTimeout without one. At 800 ms the
// heartbeat goes every 80 ms (about half a round trip at the far end), and
// a follower waits for at least five worst-case round trips, so one lost
// packet, a TCP retransmission (200 ms minimum timeout on Linux) or a short
// GC pause does not start an election. A dead leader is noticed after
// 0.8-2.4 s (raft re-arms a random 0.8-1.6 s timer when the first one fires
// too soon after the last contact), about 1.6 s on average, plus a
// pre-vote and a vote round trip: under 3 s across regions. The leader steps down after
// DefaultLeaderLeaseTimeout without a majority, before followers elect
// another, which keeps two nodes from acting as leader for long.
// CommitTimeout is raft's own default; applies are sent at once anyway.
//
// DefaultStoreTimeout bounds each operation on the Raft log and stable
// store (bbolt in the data dir). A healthy disk answers in milliseconds
// (a write of a few megabytes with its fsync in tens of them); 3 s rides
// out a slow disk under load, yet a leader whose disk hangs steps down
// within about 3 s, and the others elect a new leader about one election
// timeout later.
const (
	DefaultHeartbeatTimeout   = 800 * time.Millisecond
	DefaultElectionTimeout    = 800 * time.Millisecond
	DefaultLeaderLeaseTimeout = 600 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultApplyTimeout       = 5 * time.Second
	DefaultStoreTimeout       = 3 * time.Second
	DefaultSnapshotThreshold  = 8192
	DefaultSnapshotInterval   = 2 * time.Minute
	DefaultSnapshotRetain     = 2
	DefaultTrailingLogs       = 10240
)

// Config configures a Node. The zero value of every optional field selects
// the default named after it.
type Config struct {
	// NodeID identifies the node for ever; required. It is recorded in the
	// data dir, which then refuses to start under another ID.
	NodeID string
	// Region is recorded in State.Members (informational).
	Region string
	// DataDir holds the Raft log (raft.db), snapshots and the node's
	// identity file; required. It is created if missing.
	DataDir string
	// RaftAddr is the host:port the Raft transport binds; required. Port 0
	// picks a free port (tests); RaftAddr then reports the real one.
	RaftAddr string
	// RaftAdvertise is the host:port other nodes dial; optional, defaulting
	// to the bound address. It must not be an unspecified IP (0.0.0.0,
	// ::), and binding one needs an advertise address. A missing or zero
	// port means the bound port.
	RaftAdvertise string
	// APIAddr is this node's API base URL (http://127.0.0.1:8053),
	// recorded in State.Members so that followers can forward writes.
	APIAddr string
	// Bootstrap forms a new single-node cluster when the data dir has no
	// Raft state yet; with existing state it changes nothing.
	Bootstrap bool

	// Raft timing; see the Default constants for the reasoning.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	// ApplyTimeout bounds every write; 0 means DefaultApplyTimeout.
	ApplyTimeout time.Duration
	// StoreTimeout bounds every operation on the Raft log and stable
	// store; 0 means DefaultStoreTimeout. An operation that does not
	// return in time fails with an error wrapping ErrStorage (a leader
	// then steps down), and the store refuses further operations until it
	// returns. Recording the current term is the exception: it is retried
	// until the disk answers, and the node takes no part in Raft until
	// then (raft cannot survive failing it).
	StoreTimeout time.Duration

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one, checked every SnapshotInterval. SnapshotRetain is
	// how many snapshots stay on disk. TrailingLogs is how many entries
	// stay in the log after a snapshot (followers further behind get the
	// snapshot instead).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	SnapshotRetain    int
	TrailingLogs      uint64

	// TLS, when set, runs Raft over mutual TLS that admits only cluster
	// members (see RaftTLS); nil means plain TCP.
	TLS *RaftTLS

	// Logger receives the node's logs and raft's; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with every zero optional field set.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&c.ElectionTimeout, DefaultElectionTimeout)
	def(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.ApplyTimeout, DefaultApplyTimeout)
	def(&c.StoreTimeout, DefaultStoreTimeout)
	def(&c.SnapshotInterval, DefaultSnapshotInterval)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = DefaultSnapshotRetain
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem of c (after withDefaults) at once.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NodeID == "" {
		bad("node id: required")
	}
	if c.DataDir == "" {
		bad("data dir: required")
	}
	bindHost, bindPort, err := splitHostPort(c.RaftAddr)
	switch {
	case c.RaftAddr == "":
		bad("raft addr: required")
	case err != nil:
		bad("raft addr %q: %v", c.RaftAddr, err)
	}
	if c.RaftAdvertise != "" {
		host, port, err := splitHostPort(c.RaftAdvertise)
		switch {
		case err != nil:
			bad("raft advertise %q: %v", c.RaftAdvertise, err)
		case unspecified(host):
			bad("raft advertise %q: an unspecified address cannot be dialled by other nodes", c.RaftAdvertise)
		case port == 0 && bindPort == 0 && err == nil:
			bad("raft advertise %q: needs a port when raft addr %q uses port 0", c.RaftAdvertise, c.RaftAddr)
		}
	} else if c.RaftAddr != "" && err == nil && unspecified(bindHost) {
		bad("raft addr %q binds every interface: set raft advertise to the address other nodes dial", c.RaftAddr)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{
		{"heartbeat timeout", c.HeartbeatTimeout, 5 * time.Millisecond},
		{"election timeout", c.ElectionTimeout, 5 * time.Millisecond},
		{"leader lease timeout", c.LeaderLeaseTimeout, 5 * time.Millisecond},
		{"commit timeout", c.CommitTimeout, time.Millisecond},
		{"apply timeout", c.ApplyTimeout, time.Millisecond},
		{"store timeout", c.StoreTimeout, time.Millisecond},
		{"snapshot interval", c.SnapshotInterval, 5 * time.Millisecond},
	} {
		if d.v < d.min {
			bad("%s %v: must be at least %v", d.name, d.v, d.min)
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("leader lease timeout %v: must not exceed the heartbeat timeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.SnapshotRetain < 1 {
		bad("snapshot retain %d: must be at least 1", c.SnapshotRetain)
	}
	return errors.Join(errs...)
}

// splitHostPort splits a host:port with a numeric port (0 allowed).
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, int(port), nil
}

// unspecified reports whether host is empty or an unspecified IP.
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
