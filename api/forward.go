package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// errDeadline reports a write that did not finish within
// Config.WriteTimeout.
var errDeadline = errors.New("api: write did not complete in time (is a majority of the cluster up?)")

// writeOp performs one write on this node and returns the status and body
// to answer with.
type writeOp func(ctx context.Context) (int, any, error)

// runWrite performs op, bounded by Config.WriteTimeout. When this node is
// not the leader, the original request (body included) is forwarded to the
// leader's API and its answer is relayed; while no leader is known, or the
// leader cannot be reached, it waits with backoff and retries. A request
// that was already forwarded is never forwarded again.
func (s *Server) runWrite(w http.ResponseWriter, r *http.Request, body []byte, op writeOp) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	forwarded := r.Header.Get(HeaderForwarded)
	backoff := 20 * time.Millisecond
	var last error
	for {
		code, v, err := op(ctx)
		if err == nil {
			writeJSON(w, code, v)
			return
		}
		nl, isNL := errors.AsType[*NotLeaderError](err)
		if !isNL && !errors.Is(err, ErrNotLeader) {
			if ctx.Err() != nil && !errors.Is(err, ErrNoQuorum) && r.Context().Err() == nil {
				err = fmt.Errorf("%w: %w", errDeadline, err)
			}
			s.writeErr(w, err)
			return
		}
		if forwarded != "" {
			e := &Error{StatusCode: http.StatusServiceUnavailable, Code: CodeNotLeader,
				Message: fmt.Sprintf("node %s is not the leader (request forwarded by %s)", s.cfg.NodeID, forwarded)}
			if nl != nil && nl.LeaderAPIAddr != "" {
				e.Details = []ErrorDetail{{Field: "leader_api_addr", Message: nl.LeaderAPIAddr}}
			}
			writeError(w, e)
			return
		}
		last = err
		if nl != nil && nl.LeaderAPIAddr != "" && nl.LeaderID != s.cfg.NodeID {
			done, ferr := s.forward(ctx, w, r, body, nl)
			if done {
				return
			}
			last = ferr
			s.log.Warn("forward to leader failed; retrying", "leader", nl.LeaderID, "error", ferr)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			writeError(w, &Error{StatusCode: http.StatusServiceUnavailable, Code: CodeNoLeader,
				Message: fmt.Sprintf("no reachable leader within %s: %v", s.cfg.WriteTimeout, last)})
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// forward sends the request to the leader named by nl and relays the
// answer. It returns done=false, with the reason, when the caller should
// retry: the leader could not be reached, or it answered that it is no
// longer the leader.
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, nl *NotLeaderError) (bool, error) {
	target := strings.TrimSuffix(nl.LeaderAPIAddr, "/") + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build forwarded request to %s: %w", target, err)
	}
	// The leader checks the caller's token again and records its name
	// as the actor: every node holds the same tokens.
	for _, h := range []string{"Content-Type", "Accept", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(HeaderForwarded, s.cfg.NodeID)
	resp, err := s.fwd.Do(req)
	if err != nil {
		return false, fmt.Errorf("forward to leader %s at %s: %w", nl.LeaderID, nl.LeaderAPIAddr, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxSpecBytes+1<<20))
	if err != nil {
		return false, fmt.Errorf("read answer of leader %s: %w", nl.LeaderID, err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		var eb errorBody
		if json.Unmarshal(out, &eb) == nil && eb.Error != nil && eb.Error.Code == CodeNotLeader {
			return false, fmt.Errorf("%s is no longer the leader", nl.LeaderID)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("X-Detour-Served-By", nl.LeaderID)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	s.log.Debug("forwarded write to leader", "leader", nl.LeaderID, "path", r.URL.Path, "status", resp.StatusCode)
	return true, nil
}
