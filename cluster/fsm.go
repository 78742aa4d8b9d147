package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

// fsm is the node's raft.FSM. It holds the current *policy.State behind an
// atomic pointer and replaces it, copy-on-write, after every applied
// command. Apply, Snapshot and Restore are called by raft from one
// goroutine; State and Watch may be called from any goroutine.
type fsm struct {
	logger   *slog.Logger
	handlers map[msgType]handler // built by newFSM, read-only afterwards

	state atomic.Pointer[policy.State] // the last applied state; never nil

	// holdUntil, when not 0, is the log index a restarted node must
	// apply before its states become visible: replaying its own log, it
	// would otherwise show every intermediate state (answers that were
	// true minutes ago) to DNS clients. See holdVisible.
	holdUntil atomic.Uint64

	mu      sync.Mutex                   // guards notify and visible's stores; Watch pairs them
	visible atomic.Pointer[policy.State] // what State and Watch hand out; never nil
	notify  chan struct{}                // closed and replaced whenever visible changes

	restores   atomic.Uint64         // snapshots restored since start
	restoreErr atomic.Pointer[error] // the last failed restore's error
}

// handler applies one command type. apply decodes payload (panicking when
// it does not decode) and changes next, a shallow copy of the current
// state whose maps and Spec it must not modify in place. It returns the
// response for the proposer; a returned error is a rejection that every
// node reaches the same way, and next is then discarded.
type handler struct {
	name  string
	apply func(next *policy.State, index uint64, payload []byte) any
}

var _ raft.FSM = (*fsm)(nil)

// newFSM returns an fsm holding an empty State.
func newFSM(logger *slog.Logger) *fsm {
	f := &fsm{logger: logger, notify: make(chan struct{})}
	f.state.Store(&policy.State{})
	f.visible.Store(f.state.Load())
	f.handlers = map[msgType]handler{
		initClusterType:   {"init cluster", applyInitCluster},
		applySpecType:     {"apply spec", applySpec},
		upsertMemberType:  {"upsert member", applyUpsertMember},
		removeMemberType:  {"remove member", applyRemoveMember},
		reportViewsType:   {"report views", applyReportViews},
		setOverrideType:   {"set override", applySetOverride},
		clearOverrideType: {"clear override", applyClearOverride},
		failbackType:      {"failback", applyFailback},
	}
	return f
}

// Apply applies one committed log entry. It panics when the entry cannot
// be applied the same way on every node: an unknown command type without
// the ignore flag, or a payload that does not decode. Stopping is better
// than silently diverging from the rest of the cluster.
func (f *fsm) Apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("cluster: log entry %d (term %d) is empty; stopping rather than diverging from the cluster", l.Index, l.Term))
	}
	t := msgType(l.Data[0])
	h, ok := f.handlers[t]
	if !ok {
		if t&ignoreUnknownFlag != 0 {
			f.logger.Warn("skipping unknown ignorable command", "type", uint8(t), "index", l.Index)
			return nil
		}
		panic(fmt.Sprintf("cluster: log entry %d has unknown command type %d; this binary is older than the cluster's log (upgrade it); stopping rather than diverging", l.Index, t))
	}
	prev := f.state.Load()
	next := *prev
	next.Index = l.Index
	resp := h.apply(&next, l.Index, l.Data[1:])
	if err, isErr := resp.(error); isErr {
		f.logger.Debug("command rejected", "command", h.name, "index", l.Index, "error", err)
		return err
	}
	policy.UpdateSerials(prev, &next, l.Index)
	f.publish(&next)
	f.logEvents(prev, &next)
	return resp
}

// maxLoggedEvents is how many of one command's events are logged one by
// one; a large outage flips thousands of endpoints in one command.
const maxLoggedEvents = 10

// logEvents logs the events that next recorded beyond prev.
func (f *fsm) logEvents(prev, next *policy.State) {
	added := next.NextEventIndex - prev.NextEventIndex
	if prev.NextEventIndex == 0 && next.NextEventIndex > 0 {
		added = next.NextEventIndex - 1
	}
	if added == 0 {
		return
	}
	evs := next.EventsAfter(next.NextEventIndex-1-added, maxLoggedEvents)
	for _, e := range evs {
		f.logger.Info("event", "event_index", e.Index, "kind", e.Kind, "pool", e.Pool, "endpoint", e.Endpoint,
			"member", e.Node, "reason", e.Reason, "index", next.Index)
	}
	if more := added - uint64(len(evs)); more > 0 {
		f.logger.Info("more events", "count", more, "index", next.Index)
	}
}

// decodePayload decodes a command payload into v, or panics naming the
// command and the log index: a payload that another node could decode and
// this one cannot would make the nodes diverge.
func decodePayload(name string, index uint64, payload []byte, v any) {
	if err := json.Unmarshal(payload, v); err != nil {
		panic(fmt.Sprintf("cluster: log entry %d (%s) does not decode: %v; stopping rather than diverging from the cluster", index, name, err))
	}
}

func applyInitCluster(next *policy.State, index uint64, payload []byte) any {
	var c initClusterCmd
	decodePayload("init cluster", index, payload, &c)
	if c.ClusterID == "" {
		return fmt.Errorf("init cluster: empty cluster id")
	}
	if next.ClusterID != "" && next.ClusterID != c.ClusterID {
		return fmt.Errorf("init cluster %s: %w (already %s)", c.ClusterID, ErrWrongCluster, next.ClusterID)
	}
	next.ClusterID = c.ClusterID
	return nil
}

func applySpec(next *policy.State, index uint64, payload []byte) any {
	var c applySpecCmd
	decodePayload("apply spec", index, payload, &c)
	if c.Spec == nil {
		return fmt.Errorf("apply spec: no spec")
	}
	next.ApplySpec(c.Spec, index, c.At)
	return specResult{Version: next.SpecVersion}
}

func applyUpsertMember(next *policy.State, index uint64, payload []byte) any {
	var c upsertMemberCmd
	decodePayload("upsert member", index, payload, &c)
	if c.Member.ID == "" {
		return fmt.Errorf("upsert member: empty id")
	}
	if _, ok := next.Members[c.Member.ID]; c.IfPresent && !ok {
		return nil
	}
	next.UpsertMember(c.Member, c.At)
	return nil
}

func applyRemoveMember(next *policy.State, index uint64, payload []byte) any {
	var c removeMemberCmd
	decodePayload("remove member", index, payload, &c)
	next.RemoveMember(c.ID, c.At)
	return nil
}

func applyReportViews(next *policy.State, index uint64, payload []byte) any {
	var c reportViewsCmd
	decodePayload("report views", index, payload, &c)
	if c.Node == "" {
		return fmt.Errorf("report views: empty node id")
	}
	if _, ok := next.Members[c.Node]; !ok {
		return fmt.Errorf("report views from %s: %w", c.Node, ErrUnknownMember)
	}
	if err := next.ApplyReport(c); err != nil {
		return err
	}
	return nil
}

// overrideResponse is the FSM's response to an override command: the
// result, or the refusal (a *policy.OverrideError) as an error.
func overrideResponse(res policy.OverrideResult, err error) any {
	if err != nil {
		return err
	}
	return res
}

func applySetOverride(next *policy.State, index uint64, payload []byte) any {
	var c setOverrideCmd
	decodePayload("set override", index, payload, &c)
	return overrideResponse(next.SetOverride(c, index))
}

func applyClearOverride(next *policy.State, index uint64, payload []byte) any {
	var c clearOverrideCmd
	decodePayload("clear override", index, payload, &c)
	return overrideResponse(next.ClearOverride(c, index))
}

func applyFailback(next *policy.State, index uint64, payload []byte) any {
	var c failbackCmd
	decodePayload("failback", index, payload, &c)
	return overrideResponse(next.Failback(c, index))
}

// publish makes s the applied state and, unless a replay hold keeps it
// back, the visible one, waking everyone waiting in Watch. s must not be
// modified afterwards.
func (f *fsm) publish(s *policy.State) {
	f.state.Store(s)
	if hold := f.holdUntil.Load(); hold != 0 {
		if s.Index < hold {
			return
		}
		f.endHold("replayed the log")
		return
	}
	f.show(s)
}

// show makes s visible and wakes the watchers.
func (f *fsm) show(s *policy.State) {
	f.mu.Lock()
	f.visible.Store(s)
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
}

// holdVisible keeps applied states from becoming visible until the state
// of index until has been applied (or endHold is called): a restarted node
// replays its own log in large batches, and a DNS client asking in the
// middle would get an answer the cluster gave long ago. The restored
// snapshot stays visible meanwhile.
func (f *fsm) holdVisible(until uint64) {
	if until > f.state.Load().Index {
		f.holdUntil.Store(until)
	}
}

// endHold makes the applied state visible and stops holding.
func (f *fsm) endHold(why string) {
	if f.holdUntil.Swap(0) == 0 {
		return
	}
	f.mu.Lock()
	s := f.state.Load()
	f.visible.Store(s)
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
	f.logger.Info("serving the replicated state", "index", s.Index, "reason", why)
}

// holding reports whether a replay hold is in force.
func (f *fsm) holding() bool { return f.holdUntil.Load() != 0 }

// applied returns the last applied state; never nil. The node's own
// decisions (leader tasks, joins) use it.
func (f *fsm) applied() *policy.State { return f.state.Load() }

// current returns the visible state; never nil.
func (f *fsm) current() *policy.State { return f.visible.Load() }

// watch returns the visible state and a channel closed when it changes.
func (f *fsm) watch() (*policy.State, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.visible.Load(), f.notify
}

// Snapshot captures the current state; the encoding happens in Persist,
// concurrently with later Applies, which never modify a published State.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{state: f.state.Load()}, nil
}

// lastRestoreError returns the error of the last Restore that failed.
func (f *fsm) lastRestoreError() error {
	if p := f.restoreErr.Load(); p != nil {
		return *p
	}
	return errNoSnapshotRestore
}

// Restore replaces the state with the snapshot read from rc. The snapshot
// is decoded completely before anything is swapped, so a bad snapshot
// leaves the current state in place.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := decodeSnapshot(rc)
	if err != nil {
		err = fmt.Errorf("restore snapshot: %w", err)
		f.restoreErr.Store(&err)
		return err
	}
	// A restored snapshot is a state the cluster committed as a whole:
	// show it even while a replay hold keeps the log's states back.
	f.state.Store(s)
	if hold := f.holdUntil.Load(); hold != 0 && s.Index >= hold {
		f.endHold("restored a snapshot past the replay")
	} else {
		f.show(s)
	}
	f.restores.Add(1)
	f.logger.Info("restored snapshot", "index", s.Index, "spec_version", s.SpecVersion)
	return nil
}
