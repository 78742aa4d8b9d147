package cluster

import (
	"errors"
	"fmt"
)

// Errors returned by Node. Check them with errors.Is: the returned errors
// wrap them with context.
var (
	// ErrNotLeader means the write must be sent to the leader; the error
	// is a *NotLeaderError that says which node that is, when known.
	ErrNotLeader = errors.New("cluster: not leader")
	// ErrNoQuorum means the write was not committed within the
	// ApplyTimeout (or the context's deadline): no leader could be found,
	// the leader could not reach a majority, or it could not write the
	// entry to its own disk (then the error wraps ErrStorage too). The write is not applied
	// now; like any uncommitted Raft entry it may still be committed later
	// by a leader that holds it, so callers that retry must be idempotent.
	ErrNoQuorum = errors.New("cluster: no quorum")
	// ErrStorage means this node's Raft storage (the bbolt log and stable
	// store in the data dir) failed or did not answer within
	// Config.StoreTimeout: the disk is full, failing or stuck. A leader
	// that cannot write an entry steps down, and the write's error wraps
	// ErrStorage, the cause (syscall.ENOSPC for a full disk) and
	// ErrNoQuorum: the entry was not committed.
	ErrStorage = errors.New("cluster: raft storage failed")
	// ErrNodeIDTaken means a node with that ID is already a member at
	// another Raft address.
	ErrNodeIDTaken = errors.New("cluster: node id already taken")
	// ErrAddrTaken means another member already uses that Raft address.
	ErrAddrTaken = errors.New("cluster: raft address already taken")
	// ErrWrongCluster means a joining node or a data directory carries
	// another cluster's ID.
	ErrWrongCluster = errors.New("cluster: belongs to another cluster")
	// ErrWrongNode means the data dir was created by a node with another
	// ID.
	ErrWrongNode = errors.New("cluster: data dir belongs to another node")
	// ErrUnknownMember means no member has that ID.
	ErrUnknownMember = errors.New("cluster: no such member")
	// ErrClosed means the node is not running: it was not started, or it
	// was closed, or it was removed from the cluster.
	ErrClosed = errors.New("cluster: node closed")
)

// NotLeaderError is returned for writes sent to a node that is not the
// leader. LeaderID and LeaderAPIAddr name the current leader when this node
// knows it (LeaderAPIAddr comes from State.Members, so it is empty until
// the leader has announced itself). errors.Is(err, ErrNotLeader) holds.
type NotLeaderError struct {
	LeaderID      string
	LeaderAPIAddr string
}

// Error describes the leader, when known.
func (e *NotLeaderError) Error() string {
	switch {
	case e.LeaderID == "":
		return "cluster: not leader (leader unknown)"
	case e.LeaderAPIAddr == "":
		return fmt.Sprintf("cluster: not leader (leader is %s, API address unknown)", e.LeaderID)
	default:
		return fmt.Sprintf("cluster: not leader (leader is %s at %s)", e.LeaderID, e.LeaderAPIAddr)
	}
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
