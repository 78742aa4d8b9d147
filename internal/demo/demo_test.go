package demo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/route53/route53test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEmbeddedSpecIsTheExample(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "policy", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(exampleSpec, want) {
		t.Error("internal/demo/example.yaml differs from policy/testdata/example.yaml: copy it again")
	}
}

func TestSpecForPort(t *testing.T) {
	for _, r53 := range []bool{false, true} {
		b, err := specForPort(28080, r53)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "18080") || strings.Count(string(b), "port: 28080") != 3 {
			t.Errorf("check ports not rewritten:\n%s", b)
		}
		spec, err := policy.LoadSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		pool := spec.Pool("www.example.test.")
		if got := pool.Route53 != nil; got != r53 {
			t.Fatalf("route53=%v: the failover pool has a route53 block: %v", r53, got)
		}
		if r53 && (pool.Route53.ZoneName != Route53Zone || pool.Route53.RecordName != Route53Name) {
			t.Errorf("route53 block %+v, want zone %s name %s", *pool.Route53, Route53Zone, Route53Name)
		}
	}
}

func TestBreak_UnknownRegion(t *testing.T) {
	_, err := Break(t.Context(), "http://127.0.0.1:1", "mars-1")
	if err == nil || !strings.Contains(err.Error(), `"mars-1"`) {
		t.Fatalf("Break(mars-1) = %v, want an unknown region error", err)
	}
}

// freePort returns a port that is free on 127.0.0.11 at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// answers returns the sorted A records that addr gives for name.
func answers(addr, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitAnswers waits until every node answers name with want.
func waitAnswers(t *testing.T, info Info, name string, want []string, timeout time.Duration) {
	t.Helper()
	var last string
	ok := testutil.Eventually(timeout, func() bool {
		for _, n := range info.Nodes {
			got, err := answers(n.DNSAddr, name)
			if err != nil || !slices.Equal(got, want) {
				last = n.ID + ": " + strings.Join(got, ",")
				if err != nil {
					last = n.ID + ": " + err.Error()
				}
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("timed out after %v waiting for every node to answer %s with %v (last: %s)", timeout, name, want, last)
	}
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	var (
		out    testutil.SyncBuffer
		info   Info
		ready  = make(chan struct{})
		ctx    context.Context
		cancel context.CancelFunc
		done   chan error
	)
	for attempt := 0; ; attempt++ {
		ctx, cancel = context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{
				Out: &out, BackendPort: freePort(t), ControlAddr: "127.0.0.1:0", Route53: true, RandomPorts: true,
				Logger: testutil.Logger(t, slog.LevelWarn),
				Ready:  func(i Info) { info = i; close(ready) },
			})
		}()
		var err error
		select {
		case <-ready:
		case err = <-done:
		case <-time.After(90 * time.Second):
			cancel()
			t.Fatal("the demo did not start within 90s")
		}
		if err == nil {
			break
		}
		cancel()
		if errors.Is(err, syscall.EADDRINUSE) && attempt < 3 {
			t.Logf("port taken, retrying: %v", err)
			continue
		}
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	if len(info.Nodes) != 3 {
		t.Fatalf("Info has %d nodes, want 3", len(info.Nodes))
	}
	if _, err := os.Stat(info.DataDir); err != nil {
		t.Fatalf("data dir: %v", err)
	}

	// Every node answers the failover pool with us-east-1, and the
	// multivalue pool with all three.
	waitAnswers(t, info, "www.example.test.", []string{"127.0.0.11"}, 30*time.Second)
	waitAnswers(t, info, "all.example.test.", []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}, 30*time.Second)
	guide := out.String()
	for _, want := range []string{"dig @127.0.0.1 -p ", "detour demo break us-east-1 --control " + info.ControlURL, "detour events --follow --api " + info.Nodes[0].APIURL, "detour failover www.example.test. --to eu-west-1"} {
		if !strings.Contains(guide, want) {
			t.Errorf("guide lacks %q:\n%s", want, guide)
		}
	}

	// Every node serves its metrics on its API address.
	for _, n := range info.Nodes {
		body := getMetrics(t, n.APIURL)
		for _, want := range []string{
			`detour_dns_queries_total{qtype="A",rcode="NOERROR",zone="example.test."} `,
			`detour_endpoint_healthy{endpoint="us-east-1",pool="www.example.test."} 1`,
			`detour_spec_version 1`,
			`detour_raft_role{role="leader"} `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s /metrics lacks %q", n.ID, want)
			}
		}
	}

	// The leader publishes the failover pool to the stand-in.
	waitPublished(t, info, "127.0.0.11")

	// Break us-east-1: the answers move to eu-west-1 everywhere.
	msg, err := Break(t.Context(), info.ControlURL, "us-east-1")
	if err != nil {
		t.Fatalf("Break: %v", err)
	}
	if !strings.Contains(msg, "us-east-1 is broken") {
		t.Errorf("Break said %q", msg)
	}
	waitAnswers(t, info, "www.example.test.", []string{"127.0.0.12"}, 30*time.Second)
	waitAnswers(t, info, "all.example.test.", []string{"127.0.0.12", "127.0.0.13"}, 30*time.Second)
	testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "us-east-1") && strings.Contains(out.String(), "#") },
		"an event about us-east-1 in the stream")
	waitPublished(t, info, "127.0.0.12")

	// Heal: the failover pool fails back (auto).
	if _, err := Heal(t.Context(), info.ControlURL, "us-east-1"); err != nil {
		t.Fatalf("Heal: %v", err)
	}
	waitAnswers(t, info, "www.example.test.", []string{"127.0.0.11"}, 30*time.Second)

	// Manual failover as the guide says: a pin moves the answers, its
	// release brings them back.
	cl, err := api.NewClient(info.Nodes[2].APIURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Failover(t.Context(), "www.example.test.", api.FailoverBody{To: "eu-west-1", Reason: "demo test"}); err != nil {
		t.Fatalf("failover: %v", err)
	}
	waitAnswers(t, info, "www.example.test.", []string{"127.0.0.12"}, 30*time.Second)
	if _, err := cl.ReleaseFailover(t.Context(), "www.example.test.", "demo test"); err != nil {
		t.Fatalf("release: %v", err)
	}
	waitAnswers(t, info, "www.example.test.", []string{"127.0.0.11"}, 30*time.Second)

	// Stop: Run returns nil, the data dir is gone, the ports are closed.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after ctx ended", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of ctx ending")
	}
	stopped = true
	if _, err := os.Stat(info.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s still there after the demo (stat: %v)", info.DataDir, err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(info.ControlURL, "http://"), time.Second); err == nil {
		c.Close()
		t.Error("the control endpoint still accepts connections")
	}
	if !strings.Contains(out.String(), "endpoint_up          www.example.test. us-east-1") {
		t.Errorf("the event stream lacks the recovery of www.example.test./us-east-1:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "temporary data removed") {
		t.Errorf("no goodbye in the output:\n%s", out.String())
	}
}

// TestDeploySpec validates the spec that deploy/docker-compose.yml
// applies.
func TestDeploySpec(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "spec.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := policy.LoadSpec(b)
	if err != nil {
		t.Fatalf("deploy/spec.yaml: %v", err)
	}
	if len(spec.Pools) == 0 {
		t.Error("deploy/spec.yaml has no pools")
	}
}

func TestFormatEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	cases := []struct {
		name string
		e    policy.Event
		want string
	}{
		{"pool event", policy.Event{Index: 5, Time: at, Kind: "endpoint_down", Pool: "www.example.test.", Endpoint: "us-east-1", Reason: "2 of 3 voters"},
			"03:04:05  #5    endpoint_down        www.example.test. us-east-1: 2 of 3 voters"},
		{"cluster event", policy.Event{Index: 4, Time: at, Kind: "spec_applied", Reason: "spec version 1 applied"},
			"03:04:05  #4    spec_applied: spec version 1 applied"},
		{"no time", policy.Event{Index: 1, Kind: "member_joined", Node: "node1", Reason: "joined"},
			"--:--:--  #1    member_joined        node=node1: joined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatEvent(tc.e); got != tc.want {
				t.Errorf("formatEvent = %q, want %q", got, tc.want)
			}
		})
	}
}

// waitPublished waits until the Route 53 stand-in holds Route53Name A with
// the one value want.
func waitPublished(t *testing.T, info Info, want string) {
	t.Helper()
	if info.Route53URL == "" {
		t.Fatal("the demo runs no Route 53 stand-in")
	}
	c := route53test.NewClient(info.Route53URL, route53test.ClientOptions{MaxAttempts: 1})
	var last []string
	ok := testutil.Eventually(30*time.Second, func() bool {
		out, err := c.ListResourceRecordSets(t.Context(), &awsr53.ListResourceRecordSetsInput{
			HostedZoneId: aws.String(info.Route53ZoneID), StartRecordName: aws.String(Route53Name), StartRecordType: "A",
		})
		if err != nil {
			last = []string{err.Error()}
			return false
		}
		last = nil
		for _, rs := range out.ResourceRecordSets {
			if aws.ToString(rs.Name) != Route53Name || rs.Type != "A" {
				continue
			}
			for _, r := range rs.ResourceRecords {
				last = append(last, aws.ToString(r.Value))
			}
		}
		return slices.Equal(last, []string{want})
	})
	if !ok {
		t.Fatalf("Route 53 stand-in: %s A is %v, want [%s]", Route53Name, last, want)
	}
}

// getMetrics returns the body of GET apiURL/metrics.
func getMetrics(t *testing.T, apiURL string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, apiURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", apiURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: status %d, %v: %s", apiURL, resp.StatusCode, err, b)
	}
	return string(b)
}

// TestRun_InterruptedWhileStarting ends ctx while the nodes start: Run
// returns nil and leaves no directory behind.
func TestRun_InterruptedWhileStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nodes")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := false
	stop := time.AfterFunc(300*time.Millisecond, cancel)
	defer stop.Stop()
	err := Run(ctx, Options{BackendPort: freePort(t), ControlAddr: "127.0.0.1:0", RandomPorts: true, Ready: func(Info) { ready = true }})
	if err != nil {
		t.Fatalf("Run interrupted = %v, want nil", err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("left behind in TMPDIR: %v (ready: %v)", left, ready)
	}
}

// TestGettingStartedSpecs validates the spec examples of
// docs/getting-started.md, the page that continues from the demo.
func TestGettingStartedSpecs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "getting-started.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/getting-started.md has no yaml example")
	}
	for i, m := range blocks {
		if _, err := policy.LoadSpec(m[1]); err != nil {
			t.Errorf("yaml example %d: %v\n%s", i+1, err, m[1])
		}
	}
}
