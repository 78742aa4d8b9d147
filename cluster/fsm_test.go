package cluster

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// applyCmd applies one command to f as raft would, at index.
func applyCmd(t *testing.T, f *fsm, index uint64, typ msgType, payload any) any {
	t.Helper()
	data, err := encodeCommand(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
}

// mustPanic runs fn and returns the panic message, failing if it does not
// panic.
func mustPanic(t *testing.T, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("did not panic")
		}
		msg = r.(string)
	}()
	fn()
	return ""
}

func TestFSM_ApplyCommands(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	empty, changed := f.watch()
	if empty == nil || empty.SpecVersion != 0 || empty.Spec != nil {
		t.Fatalf("initial state = %+v, want empty", empty)
	}

	if resp := applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "c1"}); resp != nil {
		t.Fatalf("init cluster response = %v", resp)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Watch channel not closed after a publish")
	}
	if got := f.current(); got.ClusterID != "c1" || got.Index != 1 {
		t.Fatalf("after init: cluster %q index %d", got.ClusterID, got.Index)
	}

	resp := applyCmd(t, f, 2, applySpecType, applySpecCmd{Spec: testSpec(1, 2)})
	if resp != (specResult{Version: 1}) {
		t.Fatalf("apply spec response = %#v, want version 1", resp)
	}
	afterSpec := f.current()
	if afterSpec.SpecVersion != 1 || afterSpec.SpecIndex != 2 || afterSpec.Index != 2 {
		t.Fatalf("after spec: version %d spec index %d index %d", afterSpec.SpecVersion, afterSpec.SpecIndex, afterSpec.Index)
	}
	if diff := cmp.Diff(testSpec(1, 2), afterSpec.Spec); diff != "" {
		t.Fatalf("applied spec (-want +got):\n%s", diff)
	}
	if got := afterSpec.ZoneSerials["example.test."]; got != 2 {
		t.Fatalf("zone serial = %d, want the index 2", got)
	}

	m1 := policy.Member{ID: "n1", Region: "us-east-1", RaftAddr: "127.0.0.1:1", APIAddr: "http://127.0.0.1:2"}
	applyCmd(t, f, 3, upsertMemberType, upsertMemberCmd{Member: m1})
	m2 := policy.Member{ID: "n2", RaftAddr: "127.0.0.1:3"}
	applyCmd(t, f, 4, upsertMemberType, upsertMemberCmd{Member: m2})
	withTwo := f.current()
	applyCmd(t, f, 5, removeMemberType, removeMemberCmd{ID: "n2"})
	final := f.current()

	// Copy-on-write: published states never change.
	if len(withTwo.Members) != 2 || len(afterSpec.Members) != 0 {
		t.Errorf("an earlier state changed: %d and %d members", len(withTwo.Members), len(afterSpec.Members))
	}
	if diff := cmp.Diff(map[string]policy.Member{"n1": m1}, final.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if final.Index != 5 || final.SpecVersion != 1 || final.Spec != afterSpec.Spec {
		t.Errorf("final: index %d, spec version %d, spec replaced: %v", final.Index, final.SpecVersion, final.Spec != afterSpec.Spec)
	}
	if got := final.ZoneSerials["example.test."]; got != 2 {
		t.Errorf("zone serial changed to %d by a member change", got)
	}

	applyCmd(t, f, 6, applySpecType, applySpecCmd{Spec: testSpec(2, 2)})
	if got := f.current(); got.SpecVersion != 2 || got.ZoneSerials["example.test."] != 6 {
		t.Errorf("second spec: version %d serial %d, want 2 and 6", got.SpecVersion, got.ZoneSerials["example.test."])
	}
}

func TestFSM_Rejections(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "c1"})
	before, changed := f.watch()
	for _, tc := range []struct {
		name    string
		typ     msgType
		payload any
		want    error
	}{
		{"init with another cluster id", initClusterType, initClusterCmd{ClusterID: "c2"}, ErrWrongCluster},
		{"init with an empty cluster id", initClusterType, initClusterCmd{}, nil},
		{"spec missing", applySpecType, applySpecCmd{}, nil},
		{"member without id", upsertMemberType, upsertMemberCmd{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := applyCmd(t, f, 2, tc.typ, tc.payload)
			err, ok := resp.(error)
			if !ok {
				t.Fatalf("response = %#v, want an error", resp)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	if f.current() != before {
		t.Error("a rejected command published a new state")
	}
	select {
	case <-changed:
		t.Error("a rejected command woke watchers")
	default:
	}
}

func TestFSM_UnknownCommands(t *testing.T) {
	t.Run("ignorable unknown type is skipped", func(t *testing.T) {
		f := newFSM(slog.New(slog.DiscardHandler))
		before := f.current()
		resp := f.Apply(&raft.Log{Index: 9, Data: []byte{byte(ignoreUnknownFlag | 0x11), '{', '}'}})
		if resp != nil || f.current() != before {
			t.Errorf("response %v, state replaced %v", resp, f.current() != before)
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"unknown type without the ignore flag", []byte{0x11, '{', '}'}, "unknown command type 17"},
		{"payload that does not decode", []byte{byte(applySpecType), '{', 'x'}, "(apply spec) does not decode"},
		{"payload of the wrong shape", append([]byte{byte(upsertMemberType)}, `{"member":"n1"}`...), "(upsert member) does not decode"},
		{"empty entry", nil, "is empty"},
	} {
		t.Run(tc.name+" panics", func(t *testing.T) {
			f := newFSM(slog.New(slog.DiscardHandler))
			msg := mustPanic(t, func() { f.Apply(&raft.Log{Index: 7, Data: tc.data}) })
			if !strings.Contains(msg, "log entry 7") || !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q, want it to name entry 7 and say %q", msg, tc.want)
			}
		})
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	failWrites        bool
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrites {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// populated returns an fsm after a few commands.
func populated(t *testing.T, pools int) *fsm {
	t.Helper()
	f := newFSM(slog.New(slog.DiscardHandler))
	applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "0123456789abcdef0123456789abcdef"})
	applyCmd(t, f, 2, upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: "n1", Region: "us-east-1", RaftAddr: "127.0.0.1:8054", APIAddr: "http://127.0.0.1:8053"}})
	applyCmd(t, f, 3, upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: "n2", Region: "eu-west-1", RaftAddr: "127.0.0.2:8054", APIAddr: "http://127.0.0.2:8053"}})
	applyCmd(t, f, 4, applySpecType, applySpecCmd{Spec: testSpec(1, pools)})
	applyCmd(t, f, 5, applySpecType, applySpecCmd{Spec: testSpec(2, pools)})
	return f
}

func TestSnapshot_RoundTrip(t *testing.T) {
	src := populated(t, 3)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	applyCmd(t, src, 6, removeMemberType, removeMemberCmd{ID: "n2"}) // after the capture: not in the snapshot
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v, want closed only", sink.closed, sink.cancelled)
	}

	dst := newFSM(slog.New(slog.DiscardHandler))
	_, changed := dst.watch()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := dst.current()
	if got.Index != 5 || len(got.Members) != 2 {
		t.Errorf("restored index %d with %d members, want the captured state (index 5, 2 members)", got.Index, len(got.Members))
	}
	// The source at index 5 is what was captured; rebuild it to compare.
	if diff := cmp.Diff(populated(t, 3).current(), got); diff != "" {
		t.Errorf("restored state (-want +got):\n%s", diff)
	}
	select {
	case <-changed:
	default:
		t.Error("Restore did not wake watchers")
	}
	if dst.restores.Load() != 1 {
		t.Errorf("restores = %d, want 1", dst.restores.Load())
	}
}

func TestSnapshot_PersistFailureCancels(t *testing.T) {
	snap, _ := populated(t, 1).Snapshot()
	sink := &memSink{failWrites: true}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist succeeded although writes fail")
	}
	if !sink.cancelled || sink.closed {
		t.Errorf("sink closed %v cancelled %v, want cancelled only", sink.closed, sink.cancelled)
	}
}

func TestSnapshot_BadInputLeavesStateAlone(t *testing.T) {
	var good bytes.Buffer
	if err := encodeSnapshot(&good, populated(t, 1).current()); err != nil {
		t.Fatal(err)
	}
	header, body, _ := strings.Cut(good.String(), "\n")
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "read snapshot header"},
		{"newer format", `{"format_version":99,"raft_index":5}` + "\n" + body, "format version 99 is not supported"},
		{"format zero", `{"format_version":0,"raft_index":5}` + "\n" + body, "format version 0 is not supported"},
		{"truncated state", header + "\n" + body[:len(body)/2], "read snapshot state"},
		{"index mismatch", `{"format_version":1,"raft_index":4}` + "\n" + body, "says raft index 4 but the state is at 5"},
		{"trailing data", good.String() + "{}", "unexpected data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := populated(t, 2)
			before := f.current()
			err := f.Restore(io.NopCloser(strings.NewReader(tc.data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore error %v, want one saying %q", err, tc.want)
			}
			if f.current() != before {
				t.Error("a failed Restore replaced the state")
			}
		})
	}
}

// TestSnapshot_GoldenV1 checks that a version 1 snapshot (written before
// node views and events existed) still decodes to the state it held.
func TestSnapshot_GoldenV1(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(bytes.NewReader(golden))
	if err != nil {
		t.Fatalf("decode version 1 golden snapshot: %v", err)
	}
	want := populated(t, 2).current()
	// Version 1 had no events; everything else is the same state.
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(policy.State{}, "Events", "NextEventIndex")); diff != "" {
		t.Errorf("version 1 golden snapshot decodes differently (-want +got):\n%s", diff)
	}
	if got.Events != nil || got.Views != nil || got.Down != nil {
		t.Errorf("version 1 snapshot decoded with health state: %d events, views %v, down %v", len(got.Events), got.Views, got.Down)
	}
}

// TestSnapshot_GoldenV2 checks that a version 2 snapshot (written before
// overrides existed) still decodes to the state it held.
func TestSnapshot_GoldenV2(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "snapshot-v2.golden"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(bytes.NewReader(golden))
	if err != nil {
		t.Fatalf("decode version 2 golden snapshot: %v", err)
	}
	if diff := cmp.Diff(withHealth(t).current(), got); diff != "" {
		t.Errorf("version 2 golden snapshot decodes differently (-want +got):\n%s", diff)
	}
}

// TestSnapshot_Golden pins the current (version 3) encoding, with node
// views, a degraded node, effective health, events, overrides and a
// failback hold: the golden file must still decode to the same state, and
// today's encoder must still write it byte for byte (or the format version
// must change).
func TestSnapshot_Golden(t *testing.T) {
	path := filepath.Join("testdata", fmt.Sprintf("snapshot-v%d.golden", snapshotFormatVersion))
	want := withOverrides(t).current()
	if len(want.Events) == 0 || want.Down == nil || want.Views == nil || want.Degraded == nil || want.PoolOverrides == nil || want.Failbacks == nil {
		t.Fatalf("the golden state lacks health or override data: %+v", want)
	}
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	got, err := decodeSnapshot(bytes.NewReader(golden))
	if err != nil {
		t.Fatalf("decode golden snapshot: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("golden snapshot decodes differently (-want +got):\n%s", diff)
	}
	if !bytes.Equal(buf.Bytes(), golden) {
		t.Errorf("the encoder no longer writes the version %d golden file; bump snapshotFormatVersion and keep reading the old versions", snapshotFormatVersion)
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	var buf bytes.Buffer
	s := newFSM(slog.New(slog.DiscardHandler))
	_ = encodeSnapshot(&buf, s.current())
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format_version":1,"raft_index":3}` + "\n" + `{"index":3,"members":{"a":{"id":"a"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeSnapshot(bytes.NewReader(data))
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := encodeSnapshot(&again, st); err != nil {
			t.Fatalf("re-encode a decoded snapshot: %v", err)
		}
		st2, err := decodeSnapshot(&again)
		if err != nil {
			t.Fatalf("decode a re-encoded snapshot: %v", err)
		}
		// Empty and nil maps encode alike (omitempty).
		if diff := cmp.Diff(st, st2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the state:\n%s", diff)
		}
	})
}

// FuzzApply feeds arbitrary log entries to the FSM: each one must either
// apply (publishing a state at its index, or rejecting with an error and
// publishing nothing) or stop the node with a message naming the entry;
// earlier states never change.
func FuzzApply(f *testing.F) {
	for _, c := range []struct {
		t msgType
		p any
	}{
		{initClusterType, initClusterCmd{ClusterID: "c1"}},
		{applySpecType, applySpecCmd{Spec: testSpec(1, 1)}},
		{upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: "n1"}}},
		{removeMemberType, removeMemberCmd{ID: "n1"}},
		{reportViewsType, reportViewsCmd{Node: "n1", Views: []policy.ViewUpdate{{Pool: "pool0.example.test.", Endpoint: "us-east-1"}}}},
		{setOverrideType, setCmd(policy.OverrideDrain, "pool0.example.test.", "us-east-1", "", t0, false)},
		{setOverrideType, setCmd(policy.OverrideForce, "pool0.example.test.", "eu-west-1", policy.ForceDown, t0, true)},
		{clearOverrideType, clearOverrideCmd{Kind: policy.OverridePin, Pool: "pool0.example.test.", Actor: "a"}},
		{failbackType, failbackCmd{Pool: "pool0.example.test.", Actor: "a"}},
	} {
		data, _ := encodeCommand(c.t, c.p)
		f.Add(data)
	}
	f.Add([]byte{0x91, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := populated(t, 1)
		before := fs.current()
		beforeMembers := len(before.Members)
		var resp any
		msg, panicked := func() (msg string, panicked bool) {
			defer func() {
				if r := recover(); r != nil {
					msg, panicked = r.(string), true
				}
			}()
			resp = fs.Apply(&raft.Log{Index: 100, Data: data})
			return "", false
		}()
		switch {
		case panicked:
			if !strings.HasPrefix(msg, "cluster: log entry 100") {
				t.Fatalf("panic %q does not name the entry", msg)
			}
			if fs.current() != before {
				t.Fatal("a panicking Apply published a state")
			}
		case isError(resp) || fs.current() == before:
			if fs.current() != before {
				t.Fatal("a rejected command published a state")
			}
		default:
			if fs.current().Index != 100 {
				t.Fatalf("published state at index %d, want 100", fs.current().Index)
			}
		}
		if len(before.Members) != beforeMembers || before.PoolOverrides != nil || before.Failbacks != nil {
			t.Fatal("Apply modified a published state")
		}
	})
}

func isError(v any) bool {
	_, ok := v.(error)
	return ok
}

func TestFSM_WatchSeesEveryPublishInOrder(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	const last = 200
	done := make(chan []uint64)
	go func() {
		st, ch := f.watch()
		seen := []uint64{st.Index}
		for st.Index < last {
			<-ch
			st, ch = f.watch()
			seen = append(seen, st.Index)
		}
		done <- seen
	}()
	for i := uint64(1); i <= last; i++ {
		applyCmd(t, f, i, upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: "n1", RaftAddr: fmt.Sprint(i)}})
	}
	seen := <-done
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("watcher saw index %d after %d", seen[i], seen[i-1])
		}
	}
	if seen[len(seen)-1] != last || f.current().Members["n1"].RaftAddr != fmt.Sprint(last) {
		t.Errorf("watcher ended at %d, want %d", seen[len(seen)-1], last)
	}
}

func TestNode_StateBeforeStart(t *testing.T) {
	n, err := New(Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	st, ch := n.Watch()
	if st == nil || n.State() != st || st.SpecVersion != 0 {
		t.Fatalf("State before Start = %+v", st)
	}
	select {
	case <-ch:
		t.Fatal("Watch channel closed with nothing published")
	default:
	}
	if s := n.Status(); s.Role != "shutdown" || s.NodeID != "n1" {
		t.Errorf("Status before Start = %+v", s)
	}
	if err := n.WaitForLeader(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitForLeader before Start = %v, want ErrClosed", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close before Start = %v", err)
	}
	if err := n.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// A restarted node replaying its own log shows no state between the one it
// restored and the end of the replay: a DNS client asking mid-replay would
// otherwise get an answer the cluster gave long ago.
func TestFSM_ReplayHoldShowsNoIntermediateState(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	f.holdVisible(3)
	if !f.holding() {
		t.Fatal("holdVisible(3) on an empty state does not hold")
	}
	shown, changed := f.watch()

	applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "c1"})
	applyCmd(t, f, 2, applySpecType, applySpecCmd{Spec: testSpec(1, 2)})
	if got := f.applied().Index; got != 2 {
		t.Fatalf("applied index = %d, want 2", got)
	}
	if got := f.current(); got != shown {
		t.Fatalf("visible state moved to index %d during the replay", got.Index)
	}
	select {
	case <-changed:
		t.Fatal("watchers woken during the replay")
	default:
	}

	applyCmd(t, f, 3, applySpecType, applySpecCmd{Spec: testSpec(2, 2)})
	select {
	case <-changed:
	default:
		t.Fatal("watchers not woken at the end of the replay")
	}
	if got := f.current(); got.Index != 3 || got.SpecVersion != 2 {
		t.Fatalf("visible after the replay: index %d spec version %d, want 3 and 2", got.Index, got.SpecVersion)
	}
	if f.holding() {
		t.Fatal("still holding after applying the hold's index")
	}

	// Later states are shown one by one again.
	_, changed = f.watch()
	applyCmd(t, f, 4, applySpecType, applySpecCmd{Spec: testSpec(3, 2)})
	select {
	case <-changed:
	default:
		t.Fatal("watchers not woken after the replay ended")
	}
}

// endHold shows the applied state at once: the replay loop calls it when
// the log's tail was never committed and applying cannot reach the hold.
func TestFSM_EndHoldShowsAppliedState(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	f.holdVisible(10)
	applyCmd(t, f, 1, initClusterType, initClusterCmd{ClusterID: "c1"})
	if f.current().Index != 0 {
		t.Fatal("state shown during the hold")
	}
	f.endHold("test")
	if got := f.current().Index; got != 1 || f.holding() {
		t.Fatalf("after endHold: visible index %d, holding %v; want 1, false", got, f.holding())
	}
}

// A vote sync (IfPresent) that lands after a removal forgot the member does
// not bring it back; a plain upsert (a join) does add it.
func TestFSM_UpsertMemberIfPresent(t *testing.T) {
	f := newFSM(slog.New(slog.DiscardHandler))
	m := policy.Member{ID: "n4", RaftAddr: "127.0.0.1:1", Voter: true}
	applyCmd(t, f, 1, upsertMemberType, upsertMemberCmd{Member: m})
	applyCmd(t, f, 2, removeMemberType, removeMemberCmd{ID: "n4"})
	m.Voter = false
	if resp := applyCmd(t, f, 3, upsertMemberType, upsertMemberCmd{Member: m, IfPresent: true}); resp != nil {
		t.Fatalf("response = %v, want nil", resp)
	}
	if _, ok := f.applied().Members["n4"]; ok {
		t.Fatal("a vote sync brought back a removed member")
	}
	applyCmd(t, f, 4, upsertMemberType, upsertMemberCmd{Member: m})
	if got, ok := f.applied().Members["n4"]; !ok || got.Voter {
		t.Fatalf("plain upsert: member %+v present %v, want present non-voter", got, ok)
	}
	applyCmd(t, f, 5, upsertMemberType, upsertMemberCmd{Member: policy.Member{ID: "n4", RaftAddr: "127.0.0.1:1", Voter: true}, IfPresent: true})
	if got := f.applied().Members["n4"]; !got.Voter {
		t.Fatal("IfPresent upsert of a present member did not update it")
	}
}
