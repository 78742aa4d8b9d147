package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
)

// snapshotStore wraps the file snapshot store so that the restore raft
// runs while it starts (inside raft.NewRaft) says clearly what it did and
// refuses what is unsafe:
//
//   - A snapshot that fails to open (its checksum does not match: flipped
//     bytes, a truncated state.bin) is skipped by raft for the next older
//     one; we log one Error line naming both, and refuse the older one when
//     the log no longer holds the entries after it (raft would panic
//     replaying them later).
//   - A snapshot that passes its checksum but that the FSM cannot restore
//     (a format version this binary does not know, or a damaged encoding
//     written so by a bug) stops the start: raft would otherwise fall back
//     to the older snapshot and replay a log that may be compacted or
//     hold commands this binary does not know.
//   - A snapshot directory whose meta.json is unreadable, which raft skips
//     with a warning, is named in an Error line.
//
// After start-up (beginStart/endStart) it passes everything through.
type snapshotStore struct {
	raft.SnapshotStore
	dir        string        // the snapshots directory
	logs       raft.LogStore // to check that a fallback can replay the log
	logger     *slog.Logger
	restoreErr func() error // the FSM's last restore error

	mu       sync.Mutex // guards the fields below
	starting bool
	listed   []*raft.SnapshotMeta // from List while starting, newest first
	opened   string               // a snapshot that passed its checksum while starting
	fatal    error                // why the start must fail, if it must
}

// removePartial removes the partial snapshots (<id>.tmp) that a failed
// snapshot left behind (raft's Create leaves one when it cannot write the
// metadata, on a full disk for instance). Raft only warns about them. No
// snapshot can be in progress: raft has not started, and the bbolt lock
// keeps a second process off the data dir.
func (s *snapshotStore) removePartial() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			s.logger.Warn("cannot remove a partial snapshot", "path", path, "error", err)
			continue
		}
		s.logger.Warn("removed a partial snapshot left by a failed snapshot", "path", path)
	}
}

// beginStart marks the start of raft's start-up restore.
func (s *snapshotStore) beginStart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = true
}

// endStart ends the start-up restore and returns why the start must fail,
// if it must; raftErr is what raft.NewRaft returned.
func (s *snapshotStore) endStart(raftErr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = false
	if s.fatal == nil && raftErr != nil && s.opened != "" {
		// The only snapshot opened but did not restore.
		s.fatal = fmt.Errorf("snapshot %s passed its checksum but cannot be restored (%w); it was written by a newer binary or is damaged, "+
			"and no older snapshot is left. Run the binary that wrote it, or remove this node's data dir and join it to the cluster again",
			s.opened, s.restoreErr())
		s.logger.Error("snapshot cannot be restored: not starting", "snapshot_id", s.opened, "error", s.restoreErr())
	}
	return s.fatal
}

// List returns the retained snapshots, newest first.
func (s *snapshotStore) List() ([]*raft.SnapshotMeta, error) {
	metas, err := s.SnapshotStore.List()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !s.starting {
		return metas, err
	}
	s.listed = metas
	if id, index, ok := s.newestUnreadable(metas); ok && (len(metas) == 0 || index > metas[0].Index) {
		// Raft restores the next one without a word: check that the
		// log can replay from it.
		var err error
		if len(metas) > 0 {
			err = s.checkReplay(metas[0], &raft.SnapshotMeta{ID: id, Index: index})
		} else if first, ferr := s.logs.FirstIndex(); ferr != nil || first > 1 {
			err = fmt.Errorf("snapshot %s is unreadable, no other snapshot is left and the log starts at index %d (%v): "+
				"remove this node's data dir and join it to the cluster again", id, first, ferr)
		}
		if err != nil {
			s.fatal = err
			return nil, err
		}
	}
	return metas, nil
}

// newestUnreadable logs the snapshot directories that raft skips because
// their metadata cannot be read, and returns the ID and index (from the
// directory's name, term-index-time) of the newest of them.
func (s *snapshotStore) newestUnreadable(metas []*raft.SnapshotMeta) (id string, index uint64, ok bool) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return "", 0, false // raft has reported it
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasSuffix(name, ".tmp") || slices.ContainsFunc(metas, func(m *raft.SnapshotMeta) bool { return m.ID == name }) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name, "meta.json"))
		if err == nil {
			var meta raft.SnapshotMeta
			if err = json.Unmarshal(b, &meta); err == nil {
				continue // readable: older than the retained ones
			}
		}
		s.logger.Error("snapshot metadata is unreadable: raft skips this snapshot", "snapshot_id", name, "error", err)
		var term, idx, msec uint64
		if _, serr := fmt.Sscanf(name, "%d-%d-%d", &term, &idx, &msec); serr == nil && (!ok || idx > index) {
			id, index, ok = name, idx, true
		}
	}
	return id, index, ok
}

// Open opens the snapshot id, checking its checksum.
func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.starting {
		return s.SnapshotStore.Open(id)
	}
	pos := slices.IndexFunc(s.listed, func(m *raft.SnapshotMeta) bool { return m.ID == id })
	if s.opened != "" {
		// Raft opens another snapshot only when the FSM failed to
		// restore the one it opened.
		err := fmt.Errorf("snapshot %s passed its checksum but cannot be restored (%w); it was written by a newer binary or is damaged. "+
			"Not falling back to the older snapshot %s: the log after it may be compacted or hold commands this binary does not know. "+
			"Run the binary that wrote it, or remove this node's data dir and join it to the cluster again",
			s.opened, s.restoreErr(), id)
		s.fatal = err
		s.logger.Error("snapshot cannot be restored: not starting", "snapshot_id", s.opened, "error", s.restoreErr())
		return nil, nil, err
	}
	if pos > 0 {
		if err := s.checkReplay(s.listed[pos], s.listed[0]); err != nil {
			s.fatal = err
			s.logger.Error("cannot fall back to the older snapshot: not starting", "snapshot_id", id, "error", err)
			return nil, nil, err
		}
	}
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil {
		err = fmt.Errorf("open snapshot %s: %w", id, err)
		if pos >= 0 && pos+1 < len(s.listed) {
			older := s.listed[pos+1]
			s.logger.Error("snapshot is corrupt: restoring the older snapshot and replaying the log after it",
				"snapshot_id", id, "error", err, "fallback_id", older.ID, "fallback_index", older.Index)
		} else {
			s.fatal = fmt.Errorf("%w; no older snapshot is left to fall back to: remove this node's data dir and join it to the cluster again", err)
			s.logger.Error("snapshot is corrupt and no older snapshot is left: not starting", "snapshot_id", id, "error", err)
		}
		return nil, nil, err
	}
	s.opened = id
	return meta, rc, nil
}

// checkReplay returns an error when restoring older cannot be followed by
// a replay of the log: the log starts after older's index, so the entries
// in between (up to newest) are gone.
func (s *snapshotStore) checkReplay(older, newest *raft.SnapshotMeta) error {
	first, err := s.logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("read the first log index: %w", err)
	}
	last, err := s.logs.LastIndex()
	if err != nil {
		return fmt.Errorf("read the last log index: %w", err)
	}
	if last > older.Index && first > older.Index+1 {
		return fmt.Errorf("snapshot %s is corrupt and the older snapshot %s (index %d) cannot stand in for it: the log starts at index %d, so the entries from %d to %d are gone. "+
			"Remove this node's data dir and join it to the cluster again", newest.ID, older.ID, older.Index, first, older.Index+1, first-1)
	}
	return nil
}

// errNoSnapshotRestore is what the FSM reports before any restore failed.
var errNoSnapshotRestore = errors.New("no restore error recorded")
