package metrics_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/detour-dns/detour/internal/metrics"
)

// The daemon adapts each component to a source with a closure, hands the
// Metrics value to the DNS server as its hook, and mounts Handler at
// /metrics.
func Example() {
	m, err := metrics.New(metrics.Config{
		NodeID: "node1",
		// In the daemon: metrics.RaftFunc(func() metrics.RaftStatus { st := node.Status(); return ... }).
		Raft: metrics.RaftFunc(func() metrics.RaftStatus {
			return metrics.RaftStatus{Role: "leader", Term: 2, CommitIndex: 17, AppliedIndex: 17}
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// dnsserver.Config{Metrics: m} calls this once per reply.
	m.ObserveQuery("example.test.", "A", "NOERROR", 40*time.Microsecond)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "detour_dns_queries_total") || (strings.HasPrefix(line, "detour_raft_") && !strings.HasPrefix(line, "detour_raft_apply_seconds")) {
			fmt.Println(line)
		}
	}
	// Output:
	// detour_dns_queries_total{qtype="A",rcode="NOERROR",zone="example.test."} 1
	// detour_raft_applied_index 17
	// detour_raft_commit_index 17
	// detour_raft_last_contact_seconds 0
	// detour_raft_last_log_index 0
	// detour_raft_role{role="candidate"} 0
	// detour_raft_role{role="follower"} 0
	// detour_raft_role{role="leader"} 1
	// detour_raft_role{role="shutdown"} 0
	// detour_raft_term 2
}
