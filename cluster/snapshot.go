package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/detour-dns/detour/policy"
)

// snapshotFormatVersion is the version of the snapshot encoding written by
// this binary. Bump it when the encoding changes incompatibly, keep
// decoding the old versions, and add a golden file for each in testdata.
//
// Version 2 adds node views, degraded nodes, effective health, events and
// Member.Voter to the state. Its layout is version 1's, but a binary that
// reads only version 1 would silently drop the health state and diverge,
// so it must refuse version 2. Version 1 snapshots still decode (no views,
// no voters: every endpoint healthy until the leader records the voters).
//
// Version 3 adds operators' overrides (State.PoolOverrides) and failback
// holds (State.Failbacks), again with the same layout: a binary that
// reads only version 2 would drop them and answer differently, so it must
// refuse version 3. Versions 1 and 2 still decode (no overrides).
const snapshotFormatVersion = 3

// minSnapshotFormatVersion is the oldest version this binary decodes.
const minSnapshotFormatVersion = 1

// snapshotHeader is the first JSON value of a snapshot; the encoded
// *policy.State follows it.
type snapshotHeader struct {
	FormatVersion int    `json:"format_version"`
	RaftIndex     uint64 `json:"raft_index"`
}

// fsmSnapshot is a captured, immutable state waiting to be persisted.
type fsmSnapshot struct {
	state *policy.State
}

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

// Persist writes the snapshot to sink and closes it, or cancels it on any
// error so that raft discards the partial file.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	bw := bufio.NewWriterSize(sink, 64<<10)
	err := encodeSnapshot(bw, s.state)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		return sink.Close()
	}
	// Raft keeps the previous snapshot and logs the failure.
	return errors.Join(fmt.Errorf("persist snapshot %s: %w", sink.ID(), err), sink.Cancel())
}

// Release does nothing: the captured state is garbage collected.
func (s *fsmSnapshot) Release() {}

// encodeSnapshot writes the header and st to w.
func encodeSnapshot(w io.Writer, st *policy.State) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(snapshotHeader{FormatVersion: snapshotFormatVersion, RaftIndex: st.Index}); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("write snapshot state: %w", err)
	}
	return nil
}

// decodeSnapshot reads a snapshot written by encodeSnapshot. It reads all
// of r and fails on anything unexpected, including trailing data.
func decodeSnapshot(r io.Reader) (*policy.State, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if h.FormatVersion < minSnapshotFormatVersion || h.FormatVersion > snapshotFormatVersion {
		return nil, fmt.Errorf("snapshot format version %d is not supported by this binary (it reads versions %d to %d)", h.FormatVersion, minSnapshotFormatVersion, snapshotFormatVersion)
	}
	st := new(policy.State)
	if err := dec.Decode(st); err != nil {
		return nil, fmt.Errorf("read snapshot state: %w", err)
	}
	if st.Index != h.RaftIndex {
		return nil, fmt.Errorf("snapshot header says raft index %d but the state is at %d", h.RaftIndex, st.Index)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the snapshot state")
	}
	return st, nil
}
