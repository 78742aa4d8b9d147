package api

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Route53Record is the sync state of one name that the Route 53
// publisher keeps in step (its JSON matches route53.RecordStatus).
type Route53Record struct {
	// Pool is the pool that publishes the record sets.
	Pool string `json:"pool"`
	// ZoneID is the hosted zone's ID, once known.
	ZoneID string `json:"zone_id,omitempty"`
	// Name and Type identify the record sets.
	Name string `json:"name"`
	Type string `json:"type"`
	// State is unknown, in_sync, pending, error or refused.
	State string `json:"state"`
	// ChangeID is the last change submitted for the name; Since is when
	// the state was entered (for pending: when the change was submitted).
	ChangeID string    `json:"change_id,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	// Message says why the state is error or refused; Messages holds
	// Route 53's messages of a refused change batch.
	Message  string   `json:"message,omitempty"`
	Messages []string `json:"messages,omitempty"`
	// FailOpen reports that every endpoint is published as if healthy.
	FailOpen bool `json:"fail_open,omitempty"`
	// Changes counts the changes of the last batch sent for the name.
	Changes int `json:"changes,omitempty"`
}

// Route53Status is the answer of GET /v1/route53. Only the leader
// publishes, so a follower forwards the request to the leader and relays
// its answer: NodeID names the node that answered.
type Route53Status struct {
	// NodeID is the node whose publisher is described (the leader).
	NodeID string `json:"node_id"`
	// Enabled reports whether that node runs Route 53 mode (the
	// route53.enabled node setting).
	Enabled bool `json:"enabled"`
	// Records lists every published name, sorted by name and type; empty
	// when disabled or before the leader's first pass.
	Records []Route53Record `json:"records"`
}

// Route53Reader gives this node's Route 53 publisher status.
type Route53Reader interface {
	// Route53Records returns the sync state of every published name;
	// it is meaningful on the leader only.
	Route53Records() []Route53Record
}

// addRoute53Routes registers GET /v1/route53 (read role). It answers on
// every node: a follower forwards it to the leader.
func (s *Server) addRoute53Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/route53", s.handleRoute53)
}

// addMetricsRoute registers GET /metrics (read role) when Config.Metrics
// is set. The handler writes the Prometheus text format, not JSON.
func (s *Server) addMetricsRoute(mux *http.ServeMux) {
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
}

// handleRoute53 answers with the leader's publisher status, forwarding
// the request to the leader when this node is not the leader (bounded by
// Config.WriteTimeout while no leader is known).
func (s *Server) handleRoute53(w http.ResponseWriter, r *http.Request) {
	s.runWrite(w, r, nil, func(ctx context.Context) (int, any, error) {
		st := s.cluster.Status()
		if st.Role != "leader" {
			return 0, nil, &NotLeaderError{LeaderID: st.LeaderID, LeaderAPIAddr: st.LeaderAPIAddr}
		}
		out := Route53Status{NodeID: s.cfg.NodeID, Enabled: s.cfg.Route53 != nil, Records: []Route53Record{}}
		if s.cfg.Route53 != nil {
			if recs := s.cfg.Route53.Route53Records(); recs != nil {
				out.Records = recs
			}
		}
		return http.StatusOK, out, nil
	})
}

// Route53 returns GET /v1/route53: the leader's Route 53 publisher
// status, whichever node the client talks to.
func (c *Client) Route53(ctx context.Context) (Route53Status, error) {
	var st Route53Status
	err := c.do(ctx, http.MethodGet, "/v1/route53", nil, "", &st)
	if err != nil {
		return Route53Status{}, err
	}
	if st.NodeID == "" {
		return Route53Status{}, errors.New("GET /v1/route53: answer names no node")
	}
	return st, nil
}
