package cluster

import (
	"encoding/json"
	"fmt"
	"hash/crc64"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// soloConfig is the config of a single bootstrapped node on raft's
// in-memory transport (no sockets, so these tests run under -short),
// logging to rec.
func soloConfig(t *testing.T, rec *recordHandler) Config {
	cfg := nodeConfig(t, 0)
	cfg.Bootstrap = true
	cfg.RaftAddr = "inmem-0.example.test:8054"
	cfg.Logger = slog.New(rec)
	return cfg
}

// startSolo starts a node with cfg on a fresh in-memory transport and
// returns it with the error of Start. The node is closed when the test
// ends.
func startSolo(t *testing.T, cfg Config, prep ...func(*Node)) (*Node, error) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, tr := raft.NewInmemTransport(raft.ServerAddress(cfg.RaftAddr))
	n.newTransport = func() (raft.Transport, error) { return tr, nil }
	for _, p := range prep {
		p(n)
	}
	t.Cleanup(func() { n.Close() })
	return n, n.Start(t.Context())
}

// soloLeader waits until n leads and has announced itself.
func soloLeader(t *testing.T, n *Node) {
	t.Helper()
	testutil.WaitFor(t, testTimeout, func() bool {
		return n.IsLeader() && n.State().Members[n.ID()].APIAddr != ""
	}, "the node to lead")
}

// applyVersions applies specs from..to on n.
func applyVersions(t *testing.T, n *Node, from, to int) {
	t.Helper()
	for v := from; v <= to; v++ {
		if _, err := n.ApplySpec(t.Context(), testSpec(v, 1)); err != nil {
			t.Fatalf("apply spec %d: %v", v, err)
		}
	}
}

// listSnapshots returns the snapshots in dataDir, newest first.
func listSnapshots(t *testing.T, dataDir string) []*raft.SnapshotMeta {
	t.Helper()
	s, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 10, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	metas, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	return metas
}

// twoSnapshots runs a node that takes snapshot A after version 1 and B
// after version 3, then applies version 4 and closes. It returns A, B and
// the last state.
func twoSnapshots(t *testing.T, cfg Config) (a, b *raft.SnapshotMeta, last *policy.State) {
	t.Helper()
	n, err := startSolo(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	soloLeader(t, n)
	applyVersions(t, n, 1, 1)
	if err := n.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	applyVersions(t, n, 2, 3)
	if err := n.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	applyVersions(t, n, 4, 4)
	last = n.State()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	metas := listSnapshots(t, cfg.DataDir)
	if len(metas) != 2 {
		t.Fatalf("%d snapshots on disk, want 2", len(metas))
	}
	return metas[1], metas[0], last
}

// statePath returns the path of snapshot id's state file.
func statePath(dataDir, id string) string {
	return filepath.Join(dataDir, "snapshots", id, "state.bin")
}

func TestNode_CorruptNewestSnapshotFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"flipped byte", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x20
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := soloConfig(t, &recordHandler{})
			a, b, before := twoSnapshots(t, cfg)
			tc.corrupt(t, statePath(cfg.DataDir, b.ID))

			rec := &recordHandler{}
			cfg.Logger = slog.New(rec)
			n, err := startSolo(t, cfg)
			if err != nil {
				t.Fatalf("restart with a corrupt newest snapshot: %v", err)
			}
			lines := rec.find("ERROR", "snapshot is corrupt", "snapshot_id="+b.ID, "fallback_id="+a.ID)
			if len(lines) != 1 {
				t.Errorf("want one Error line naming the corrupt snapshot %s and the fallback %s; got %q", b.ID, a.ID, rec.find("snapshot"))
			} else {
				t.Logf("logged: %s", lines[0])
			}
			if got := rec.find("restored snapshot", fmt.Sprintf("index=%d", a.Index)); len(got) != 1 || n.fsm.restores.Load() != 1 {
				t.Errorf("restores %d, lines %q; want one restore of the older snapshot at index %d", n.fsm.restores.Load(), got, a.Index)
			}
			// The log after the older snapshot replays up to the last
			// state once the node leads again.
			soloLeader(t, n)
			testutil.WaitFor(t, testTimeout, func() bool { return n.State().Index >= before.Index }, "replay up to index %d", before.Index)
			if diff := cmp.Diff(before, n.State()); diff != "" {
				t.Errorf("state after the fallback and replay (-before +after):\n%s", diff)
			}
		})
	}
}

func TestNode_CorruptSnapshotAndCompactedLogFailsLoudly(t *testing.T) {
	cfg := soloConfig(t, &recordHandler{})
	cfg.TrailingLogs = 1 // the snapshot B compacts the log past A
	a, b, _ := twoSnapshots(t, cfg)
	path := statePath(cfg.DataDir, b.ID)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	rec := &recordHandler{}
	cfg.Logger = slog.New(rec)
	n, err := startSolo(t, cfg)
	if err == nil {
		t.Fatal("a node whose log cannot replay from the older snapshot started")
	}
	for _, want := range []string{b.ID, a.ID, "entries from", "are gone", "join it to the cluster again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q does not say %q", err, want)
		}
	}
	t.Logf("start error: %v", err)
	if n.fsm.restores.Load() != 0 {
		t.Errorf("the node restored %d snapshots", n.fsm.restores.Load())
	}
	if _, err := n.running(); err == nil {
		t.Error("raft runs after a failed start")
	}
}

// rewriteSnapshot replaces the state of snapshot id with data and updates
// its size and checksum, so that it passes raft's checks.
func rewriteSnapshot(t *testing.T, dataDir, id string, data []byte) {
	t.Helper()
	if err := os.WriteFile(statePath(dataDir, id), data, 0o600); err != nil {
		t.Fatal(err)
	}
	metaPath := filepath.Join(dataDir, "snapshots", id, "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(data)
	meta["CRC"] = h.Sum(nil)
	meta["Size"] = len(data)
	if b, err = json.Marshal(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNode_SnapshotThatDoesNotDecodeFailsLoudly(t *testing.T) {
	for _, tc := range []struct {
		name string
		data func(b *raft.SnapshotMeta) string
		want string
	}{
		{"newer format", func(b *raft.SnapshotMeta) string {
			return fmt.Sprintf(`{"format_version":99,"raft_index":%d}`+"\n{}\n", b.Index)
		}, "format version 99"},
		{"damaged state", func(b *raft.SnapshotMeta) string {
			return fmt.Sprintf(`{"format_version":3,"raft_index":%d}`+"\n{\"index\": tru\n", b.Index)
		}, "read snapshot state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := soloConfig(t, &recordHandler{})
			a, b, _ := twoSnapshots(t, cfg)
			rewriteSnapshot(t, cfg.DataDir, b.ID, []byte(tc.data(b)))

			rec := &recordHandler{}
			cfg.Logger = slog.New(rec)
			n, err := startSolo(t, cfg)
			if err == nil {
				t.Fatal("the node started from an older snapshot instead of failing")
			}
			for _, want := range []string{b.ID, "passed its checksum but cannot be restored", tc.want, "Not falling back to the older snapshot " + a.ID} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("start error %q does not say %q", err, want)
				}
			}
			t.Logf("start error: %v", err)
			if n.fsm.restores.Load() != 0 || len(rec.find("restored snapshot")) != 0 {
				t.Errorf("the node restored a snapshot: %q", rec.find("restored snapshot"))
			}
			if len(rec.find("ERROR", "snapshot cannot be restored", "snapshot_id="+b.ID)) != 1 {
				t.Errorf("no Error line naming %s; snapshot lines: %q", b.ID, rec.find("snapshot"))
			}
		})
	}
}

// oneSnapshot runs a node that takes one snapshot after version 1 and
// closes, and returns the snapshot.
func oneSnapshot(t *testing.T, cfg Config) *raft.SnapshotMeta {
	t.Helper()
	n, err := startSolo(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	soloLeader(t, n)
	applyVersions(t, n, 1, 1)
	if err := n.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	metas := listSnapshots(t, cfg.DataDir)
	if len(metas) != 1 {
		t.Fatalf("%d snapshots, want 1", len(metas))
	}
	return metas[0]
}

func TestNode_OnlySnapshotBad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spoil    func(t *testing.T, dataDir string, m *raft.SnapshotMeta)
		want     []string
		wantLine string
	}{
		{"does not decode", func(t *testing.T, dataDir string, m *raft.SnapshotMeta) {
			rewriteSnapshot(t, dataDir, m.ID, fmt.Appendf(nil, `{"format_version":99,"raft_index":%d}`+"\n{}\n", m.Index))
		}, []string{"passed its checksum but cannot be restored", "format version 99", "no older snapshot is left"}, "snapshot cannot be restored"},
		{"corrupt", func(t *testing.T, dataDir string, m *raft.SnapshotMeta) {
			if err := os.Truncate(statePath(dataDir, m.ID), 10); err != nil {
				t.Fatal(err)
			}
		}, []string{"CRC mismatch", "no older snapshot is left", "join it to the cluster again"}, "snapshot is corrupt and no older snapshot is left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := soloConfig(t, &recordHandler{})
			m := oneSnapshot(t, cfg)
			tc.spoil(t, cfg.DataDir, m)
			rec := &recordHandler{}
			cfg.Logger = slog.New(rec)
			_, err := startSolo(t, cfg)
			if err == nil {
				t.Fatal("the node started without its only snapshot")
			}
			for _, want := range append(tc.want, m.ID) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("start error %q does not say %q", err, want)
				}
			}
			t.Logf("start error: %v", err)
			if len(rec.find("ERROR", tc.wantLine, "snapshot_id="+m.ID)) != 1 {
				t.Errorf("no Error line %q naming %s; snapshot lines: %q", tc.wantLine, m.ID, rec.find("snapshot"))
			}
		})
	}
}

// faultSnapshots is a snapshot store whose snapshot writes fail with
// ENOSPC while full is set.
type faultSnapshots struct {
	raft.SnapshotStore
	full atomic.Bool
}

func (f *faultSnapshots) Create(v raft.SnapshotVersion, index, term uint64, c raft.Configuration, ci uint64, tr raft.Transport) (raft.SnapshotSink, error) {
	sink, err := f.SnapshotStore.Create(v, index, term, c, ci, tr)
	if err != nil {
		return nil, err
	}
	return &faultSink{SnapshotSink: sink, f: f}, nil
}

type faultSink struct {
	raft.SnapshotSink
	f *faultSnapshots
}

func (s *faultSink) Write(p []byte) (int, error) {
	if s.f.full.Load() {
		return 0, &os.PathError{Op: "write", Path: "state.bin", Err: syscall.ENOSPC}
	}
	return s.SnapshotSink.Write(p)
}

func TestNode_SnapshotOnFullDiskKeepsTheOldOne(t *testing.T) {
	rec := &recordHandler{}
	cfg := soloConfig(t, rec)
	cfg.SnapshotThreshold, cfg.SnapshotInterval = 2, 20*time.Millisecond
	var snaps *faultSnapshots
	n, err := startSolo(t, cfg, func(n *Node) {
		n.wrapSnapshots = func(s raft.SnapshotStore) raft.SnapshotStore {
			snaps = &faultSnapshots{SnapshotStore: s}
			return snaps
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	soloLeader(t, n)
	applyVersions(t, n, 1, 1)
	if err := n.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}

	snaps.full.Store(true)
	applyVersions(t, n, 2, 4) // enough entries for raft's own snapshots, which now fail
	testutil.WaitFor(t, testTimeout, func() bool {
		return len(rec.find("ERROR", "failed to take snapshot", "no space left on device")) > 0
	}, "raft to log its failed snapshot at Error")
	kept := listSnapshots(t, cfg.DataDir)
	err = n.Snapshot(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("snapshot on a full disk = %v, want the ENOSPC error", err)
	}
	t.Logf("snapshot error: %v", err)
	if got := listSnapshots(t, cfg.DataDir); len(kept) == 0 || !slices.EqualFunc(got, kept, func(a, b *raft.SnapshotMeta) bool { return a.ID == b.ID }) {
		t.Errorf("snapshots after the failures %v, want the old ones %v", got, kept)
	}
	entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("a partial snapshot was left behind: %s", e.Name())
		}
	}
	// The old snapshot is usable: it opens, passes its checksum and
	// decodes.
	_, rc, err := snaps.Open(kept[0].ID)
	if err != nil {
		t.Fatalf("open the kept snapshot: %v", err)
	}
	st, err := decodeSnapshot(rc)
	rc.Close()
	if err != nil || st.Index != kept[0].Index {
		t.Fatalf("decode the kept snapshot: index %v, %v", st, err)
	}

	before := n.State()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = startSolo(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	soloLeader(t, n)
	testutil.WaitFor(t, testTimeout, func() bool { return n.State().Index >= before.Index }, "replay up to index %d", before.Index)
	if diff := cmp.Diff(before, n.State()); diff != "" {
		t.Errorf("state after a restart from the kept snapshot (-before +after):\n%s", diff)
	}
}

func TestNode_UnreadableSnapshotMetadata(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trailing  uint64
		wantStart bool
	}{
		{"log replays from the older snapshot", 0, true},
		{"log compacted past the older snapshot", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := soloConfig(t, &recordHandler{})
			cfg.TrailingLogs = tc.trailing
			a, b, before := twoSnapshots(t, cfg)
			if err := os.WriteFile(filepath.Join(cfg.DataDir, "snapshots", b.ID, "meta.json"), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			rec := &recordHandler{}
			cfg.Logger = slog.New(rec)
			n, err := startSolo(t, cfg)
			if len(rec.find("ERROR", "snapshot metadata is unreadable", "snapshot_id="+b.ID)) != 1 {
				t.Errorf("no Error line naming %s; snapshot lines: %q", b.ID, rec.find("snapshot"))
			}
			if !tc.wantStart {
				if err == nil || !strings.Contains(err.Error(), a.ID) || !strings.Contains(err.Error(), "are gone") {
					t.Fatalf("start = %v, want a refusal naming %s and the missing entries", err, a.ID)
				}
				t.Logf("start error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			soloLeader(t, n)
			testutil.WaitFor(t, testTimeout, func() bool { return n.State().Index >= before.Index }, "replay up to index %d", before.Index)
			if diff := cmp.Diff(before, n.State()); diff != "" {
				t.Errorf("state after restoring %s and replaying (-before +after):\n%s", a.ID, diff)
			}
		})
	}
}
