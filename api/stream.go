package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/detour-dns/detour/policy"
)

// StateWatcher lets the event stream wait for new states instead of
// polling. cluster.Node satisfies it. Watch returns the current state and
// a channel closed when a newer one is published.
type StateWatcher interface {
	Watch() (*policy.State, <-chan struct{})
}

// Server-Sent Event types of GET /v1/events/stream besides the default
// ("message", one policy.Event per message with the event's index as its
// id).
const (
	// StreamDropped says that events after the requested index were
	// already dropped; its data is {"after": N, "next": M}.
	StreamDropped = "dropped"
	// StreamShutdown is the last message before the node closes the
	// stream because it shuts down; reconnect to another node.
	StreamShutdown = "shutdown"
)

// streamBatch is how many events a stream sends per state it looks at.
const streamBatch = 500

// pollEvery is how often a stream looks at the state when the cluster
// cannot notify it.
const pollEvery = 250 * time.Millisecond

// handleEventStream serves GET /v1/events/stream: the events after
// ?after=N (or the Last-Event-ID header of a reconnecting client) as
// Server-Sent Events, then every new event as the node applies it, with a
// comment line as heartbeat when idle. It serves from the node's own
// state, so any node can serve it; it ends when the client goes away or
// the server shuts down.
func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	from := r.URL.Query().Get("after")
	field := "after"
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from, field = id, "Last-Event-ID"
	}
	after, err := parseUint(from, 0)
	if err != nil {
		writeError(w, badRequest("invalid query", []ErrorDetail{{Field: field, Message: err.Error()}}))
		return
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts: clear
	// the read deadline and push the write deadline on every write.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(f func(io.Writer) error) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := f(w); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(func(w io.Writer) error {
		_, err := fmt.Fprintf(w, ": detour events after %d from node %s\nretry: 1000\n\n", after, s.cfg.NodeID)
		return err
	}) {
		return
	}
	watcher, _ := s.cluster.(StateWatcher)
	beat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer beat.Stop()
	var poll <-chan time.Time
	if watcher == nil {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		poll = t.C
	}
	for {
		var st *policy.State
		var changed <-chan struct{}
		if watcher != nil {
			st, changed = watcher.Watch()
		} else {
			st = s.cluster.State()
		}
		for {
			evs := st.EventsAfter(after, streamBatch)
			if len(evs) == 0 {
				break
			}
			if evs[0].Index > after+1 {
				next := evs[0].Index
				if !send(func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "event: %s\ndata: {\"after\":%d,\"next\":%d}\n\n", StreamDropped, after, next)
					return err
				}) {
					return
				}
			}
			if !send(func(w io.Writer) error { return writeEvents(w, evs) }) {
				return
			}
			after = evs[len(evs)-1].Index
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			send(func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "event: %s\ndata: {\"node\":%q}\n\n", StreamShutdown, s.cfg.NodeID)
				return err
			})
			return
		case <-beat.C:
			if !send(func(w io.Writer) error { _, err := io.WriteString(w, ": heartbeat\n\n"); return err }) {
				return
			}
		case <-changed:
		case <-poll:
		}
	}
}

// writeEvents writes evs as SSE messages.
func writeEvents(w io.Writer, evs []policy.Event) error {
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", evs[i].Index, b); err != nil {
			return err
		}
	}
	return nil
}
