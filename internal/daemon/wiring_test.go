package daemon_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
	"github.com/detour-dns/detour/route53"
	"github.com/detour-dns/detour/route53/route53test"
)

// route53Env points the AWS SDK's default chain at static test
// credentials and away from every other source (shared files, instance
// metadata), so that nothing leaves the loopback interface.
func route53Env(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
}

// route53Spec adds a route53 block to the example spec's failover pool:
// www.example.test. publishes www.example.com. in the zone example.com.
func route53Spec(t *testing.T) []byte {
	t.Helper()
	b := exampleSpec(t)
	old := []byte("  - name: www.example.test.\n    policy: failover\n")
	if bytes.Count(b, old) != 1 {
		t.Fatal("example spec: failover pool not found")
	}
	return bytes.Replace(b, old, append(old, []byte("    route53:\n      zone_name: example.com.\n      record_name: www.example.com.\n")...), 1)
}

// metricValue returns the value of the series whose line starts with
// prefix (name and labels as exposed), or -1 when there is none.
func metricValue(body, prefix string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(l[len(prefix):]), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestDaemon_Route53AndMetrics runs one node with Route 53 mode on,
// pointed at the stand-in: the leader publishes the pool's answer,
// GET /v1/route53 shows it in sync, and /metrics on the API listener shows
// DNS queries, Raft, probes and Route 53.
func TestDaemon_Route53AndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon; skipped with -short")
	}
	route53Env(t)
	std, err := route53test.New(route53test.Options{Zones: []string{"example.com."}})
	if err != nil {
		t.Fatal(err)
	}
	if err := std.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { std.Close() })
	zone := std.Zones()[0]

	c := daemontest.StartWith(t, 1, testutil.Logger(t, slog.LevelWarn), func(rt *config.Runtime) {
		rt.Route53 = config.Route53{Enabled: true, Endpoint: std.URL(), Region: "us-east-1", Rate: 50, Burst: 5,
			MaxAttempts: 3, ResyncInterval: time.Minute, PollInterval: 100 * time.Millisecond}
	})
	n := c.Nodes[0]
	ctx := t.Context()
	if _, err := n.Client.ApplySpec(ctx, route53Spec(t), false); err != nil {
		t.Fatal(err)
	}

	testutil.WaitFor(t, 15*time.Second, func() bool {
		rs, ok := std.RecordSet(zone.ID, "www.example.com.", "A", "")
		return ok && len(rs.ResourceRecords) == 1 && rs.ResourceRecords[0] == "127.0.0.11"
	}, "www.example.com. A 127.0.0.11 in the stand-in")
	testutil.WaitFor(t, 10*time.Second, func() bool {
		st, err := n.Client.Route53(ctx)
		return err == nil && st.Enabled && st.NodeID == "node1" && len(st.Records) == 1 &&
			st.Records[0].State == route53.StateInSync && st.Records[0].ZoneID == zone.ID
	}, "GET /v1/route53 to say in sync")
	if got := n.D.Route53Records(); len(got) != 1 || got[0].Name != "www.example.com." {
		t.Errorf("Daemon.Route53Records = %+v", got)
	}

	// A DNS query, then the metrics.
	if got := queryA(t, n, "www.example.test."); len(got) != 1 {
		t.Fatalf("www.example.test. A = %v", got)
	}
	var body string
	testutil.WaitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(n.D.APIURL() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200 && metricValue(body, `detour_probe_last_success{endpoint="us-east-1",node="node1",pool="www.example.test."}`) == 1 &&
			metricValue(body, `detour_endpoint_local_healthy{endpoint="us-east-1",node="node1",pool="www.example.test."}`) == 1
	}, "a probe result and a healthy local verdict in /metrics")
	for _, w := range []struct {
		series string
		min    float64
	}{
		{`detour_dns_queries_total{qtype="A",rcode="NOERROR",zone="example.test."}`, 1},
		{`detour_raft_role{role="leader"}`, 1},
		{`detour_raft_term`, 1},
		{`detour_probes_total`, 1},
		{`detour_probe_results_total{endpoint="us-east-1",node="node1",pool="www.example.test.",result="ok"}`, 1},
		{`detour_probe_duration_seconds_count{endpoint="us-east-1",node="node1",pool="www.example.test."}`, 1},
		{`detour_route53_records{state="in_sync"}`, 1},
		{`detour_route53_requests_total{operation="ChangeResourceRecordSets",outcome="ok"}`, 1},
		{`detour_spec_version`, 1},
		{`detour_raft_apply_seconds_count`, 1},
	} {
		if v := metricValue(body, w.series); v < w.min {
			t.Errorf("%s = %v, want at least %v", w.series, v, w.min)
		}
	}
	if regexp.MustCompile(`(?m)^detour_raft_role\{role="follower"\} 1$`).MatchString(body) {
		t.Error("the single node reports itself as a follower")
	}
}
