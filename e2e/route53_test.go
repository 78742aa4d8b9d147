package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/route53/route53test"
)

// route53Env gives the server processes (which inherit the environment)
// static AWS credentials and keeps the SDK away from every other source
// (shared files, instance metadata), so that nothing leaves loopback.
func route53Env(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_ROUTE_53": "", "AWS_MAX_ATTEMPTS": "",
	} {
		t.Setenv(k, v)
	}
}

// valuesOf returns the sorted values of a record set, with its weight
// for a weighted one ("127.0.0.11 w70").
func valuesOf(rs route53test.RecordSet) string {
	v := slices.Clone(rs.ResourceRecords)
	slices.Sort(v)
	s := strings.Join(v, ",")
	if rs.Weight != nil {
		s += fmt.Sprintf(" w%d", *rs.Weight)
	}
	return s
}

// published returns the stand-in's record sets of the names detour
// publishes and of the bystander, "name type setid" -> values.
func published(t *testing.T, std *route53test.Server, zoneID string) map[string]string {
	t.Helper()
	sets, err := std.RecordSets(zoneID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rs := range sets {
		if rs.Type == "SOA" || rs.Type == "NS" {
			continue
		}
		k := strings.TrimSpace(rs.Name + " " + rs.Type + " " + rs.SetIdentifier)
		if _, dup := out[k]; dup {
			t.Errorf("record set %s listed twice", k)
		}
		out[k] = valuesOf(rs)
	}
	return out
}

// TestProcesses_Route53 runs three "detour server" processes in Route 53
// mode against the stand-in (in this process): the leader creates the
// records, a health-driven failover is exactly one change batch, and a
// leader killed with a batch in flight is replaced by one that converges,
// with no duplicate or lost record set and the bystander untouched.
func TestProcesses_Route53(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes; skipped with -short")
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
	ttl := int64(300)
	if _, err := std.Upsert(zone.ID, route53test.RecordSet{Name: "other.example.com.", Type: "A", TTL: &ttl,
		ResourceRecords: []string{"198.51.100.7"}}); err != nil {
		t.Fatal(err)
	}

	bs, err := startBackends(t)
	if err != nil {
		t.Skipf("the example spec probes port %d on 127.0.0.11-13: %v", backendPort, err)
	}
	us := bs[0]
	bin := buildDetour(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `route53:
  enabled: true
  endpoint: %s
  rate: 20
  burst: 5
  poll_interval: 200ms
  resync_interval: 30s
`, std.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, leader := startNodes(t, bin, dir, []string{cfg, cfg, cfg}, "")

	spec := exampleYAML(t)
	for _, ins := range []struct{ after, block string }{
		{"  - name: www.example.test.\n    policy: failover\n",
			"    route53:\n      zone_name: example.com.\n      record_name: www.example.com.\n"},
		{"  - name: api.example.test.\n    policy: weighted\n",
			"    route53:\n      hosted_zone_id: " + zone.ID + "\n      record_name: api.example.com.\n"},
	} {
		if bytes.Count(spec, []byte(ins.after)) != 1 {
			t.Fatalf("example spec: %q not found once", ins.after)
		}
		spec = bytes.Replace(spec, []byte(ins.after), []byte(ins.after+ins.block), 1)
	}
	if _, err := ps[1].client(t).ApplySpec(t.Context(), spec, false); err != nil {
		t.Fatalf("apply: %v", err)
	}

	want := map[string]string{
		"www.example.com. A":           "127.0.0.11",
		"api.example.com. A us-east-1": "127.0.0.11 w70",
		"api.example.com. A eu-west-1": "127.0.0.12 w30",
		"other.example.com. A":         "198.51.100.7",
	}
	converged := func(what string, want map[string]string) {
		t.Helper()
		var got map[string]string
		testutil.WaitFor(t, 20*time.Second, func() bool {
			got = published(t, std, zone.ID)
			return fmt.Sprint(got) == fmt.Sprint(want)
		}, "%s: the stand-in to hold %v (last seen %v)", what, want, &got)
	}
	converged("first sync", want)

	// Any node answers the status, through the leader; the CLI prints it.
	var follower *proc
	for _, p := range ps {
		if p != leader {
			follower = p
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		code, out, _ := cli(t, bin, "route53", "status", "-o", "json", "--api", follower.apiAddr)
		var st api.Route53Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.NodeID != leader.id || len(st.Records) != 2 {
			return false
		}
		for _, r := range st.Records {
			if r.State != "in_sync" {
				return false
			}
		}
		return true
	}, "detour route53 status on a follower: both names in sync, published by %s", leader.id)
	code, out, errOut := cli(t, bin, "route53", "status", "--api", follower.apiAddr)
	t.Logf("detour route53 status:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "www.example.com.") || !strings.Contains(out, "in_sync") {
		t.Errorf("route53 status table (exit %d) lacks the names or their state", code)
	}

	// The leader's /metrics counts its Route 53 calls and names its role.
	resp, err := http.Get(leader.apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{
		`detour_route53_requests_total{operation="ChangeResourceRecordSets",outcome="ok"} `,
		`detour_route53_records{state="in_sync"} 2`,
		`detour_raft_role{role="leader"} 1`,
	} {
		if resp.StatusCode != 200 || !strings.Contains(string(mb), w) {
			t.Errorf("the leader's /metrics (status %d) lacks %q", resp.StatusCode, w)
		}
	}

	// Health-driven failover: one batch, one UPSERT.
	std.ResetCalls()
	us.setMode(mode503)
	want["www.example.com. A"] = "127.0.0.12"
	converged("failover to eu-west-1", want)
	calls := std.CallsTo("ChangeResourceRecordSets")
	if len(calls) != 1 || calls[0].Batch == nil || len(calls[0].Batch.Changes) != 1 ||
		calls[0].Batch.Changes[0].Action != "UPSERT" || calls[0].Batch.Changes[0].RecordSet.Name != "www.example.com." {
		var desc []string
		for _, c := range calls {
			desc = append(desc, fmt.Sprintf("%+v", c.Batch))
		}
		t.Errorf("failover made %d ChangeResourceRecordSets calls, want one UPSERT of www.example.com.: %v", len(calls), desc)
	}

	// Failback with the leader's batch held in flight; the leader dies;
	// the new leader's own batch is held too; then both land.
	release := std.HoldChanges()
	defer release()
	us.setMode(modeOK)
	testutil.WaitFor(t, 15*time.Second, func() bool { return std.HeldChanges() == 1 }, "the leader's failback batch in flight")
	start := time.Now()
	leader.kill(syscall.SIGKILL)
	survivors := others(ps, leader)
	newLeader := waitLeader(t, survivors)
	testutil.WaitFor(t, 15*time.Second, func() bool { return std.HeldChanges() == 2 }, "the new leader's batch in flight beside the old one")
	t.Logf("leader %s killed with a batch in flight; %s leads and sent its own batch after %s", leader.id, newLeader.id, time.Since(start))
	release()
	want["www.example.com. A"] = "127.0.0.11"
	converged("new leader", want)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		st, err := newLeader.client(t).Route53(t.Context())
		if err != nil || st.NodeID != newLeader.id || len(st.Records) != 2 {
			return false
		}
		for _, r := range st.Records {
			if r.State != "in_sync" {
				return false
			}
		}
		return true
	}, "the new leader's status: both names in sync")
	t.Logf("new leader converged %s after the kill; calls since the failover: %d", time.Since(start), len(std.Calls()))
}
