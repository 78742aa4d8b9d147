package route53_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/route53"
	"github.com/detour-dns/detour/route53/route53test"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Run must have returned and every stand-in closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// source is a route53.StateSource whose states the test publishes.
type source struct {
	mu sync.Mutex
	st *policy.State
	ch chan struct{}
}

func newSource(st *policy.State) *source { return &source{st: st, ch: make(chan struct{})} }

func (s *source) Watch() (*policy.State, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, s.ch
}

func (s *source) Publish(st *policy.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	close(s.ch)
	s.ch = make(chan struct{})
}

// startStandIn starts a stand-in with the zone example.com. and returns
// it with the zone's ID.
func startStandIn(t *testing.T, opts route53test.Options) (*route53test.Server, string) {
	t.Helper()
	opts.Zones = append([]string{"example.com."}, opts.Zones...)
	srv, err := route53test.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, z := range srv.Zones() {
		if z.Name == "example.com." {
			return srv, z.ID
		}
	}
	t.Fatal("stand-in has no zone example.com.")
	return nil, ""
}

// sdkClient returns a client made by route53.NewSDKClient for the stand-in, with
// static credentials, a fast rate unless o sets one, and short backoff.
func sdkClient(t *testing.T, srv *route53test.Server, o route53.Options) *awsr53.Client {
	t.Helper()
	o.Endpoint = srv.URL()
	o.Credentials = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	if o.Rate == 0 {
		o.Rate, o.Burst = 1000, 50
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Millisecond
	}
	c, err := route53.NewSDKClient(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testZone = `
zones:
  - name: example.test.
    nameservers:
      - name: ns1.example.test.
        addresses: [127.0.0.1]
pools:
`

// wwwAndAPI is a failover pool published simple and a weighted pool of
// two load balancers published weighted.
const wwwAndAPI = `
  - name: www.example.test.
    policy: failover
    ttl: 20
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: www.example.com}
    endpoints:
      - {name: use1, priority: 1, addresses: [198.51.100.1, 198.51.100.2]}
      - {name: euw1, priority: 2, addresses: [203.0.113.1]}
  - name: api.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: api.example.com, evaluate_target_health: true}
    endpoints:
      - {name: use1, weight: 70, target: my-alb-1.us-east-1.elb.amazonaws.com}
      - {name: euw1, weight: 30, target: my-alb-2.eu-west-1.elb.amazonaws.com}
`

func loadSpec(t testing.TB, pools string) *policy.Spec {
	t.Helper()
	s, err := policy.LoadSpec([]byte(testZone + pools))
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	return s
}

// stateWith returns a State of spec in which the endpoints named
// "pool/endpoint" in down are unhealthy.
func stateWith(spec *policy.Spec, down ...string) *policy.State {
	st := &policy.State{Spec: spec}
	for _, d := range down {
		pool, ep, _ := strings.Cut(d, "/")
		if st.Down == nil {
			st.Down = map[string]map[string]bool{}
		}
		if st.Down[pool] == nil {
			st.Down[pool] = map[string]bool{}
		}
		st.Down[pool][ep] = true
	}
	return st
}

// startReconciler runs a reconciler until the returned stop is called (or
// the test ends).
func startReconciler(t *testing.T, cfg route53.Config, c route53.Client, src route53.StateSource) (*route53.Reconciler, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	}
	r, err := route53.New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, src) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// waitInSync waits until r reports n names, all in sync.
func waitInSync(t *testing.T, r *route53.Reconciler, n int, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, func() bool {
		st := r.Status()
		if len(st) != n {
			return false
		}
		for _, s := range st {
			if s.State != route53.StateInSync {
				return false
			}
		}
		return true
	}, "%d names in sync (status %s)", n, statusString(r))
}

func statusString(r *route53.Reconciler) string {
	var b strings.Builder
	for _, s := range r.Status() {
		fmt.Fprintf(&b, "[%s %s %s %s %q]", s.Name, s.Type, s.State, s.ChangeID, s.Message)
	}
	return b.String()
}

// values returns the values of a plain record set in the stand-in, or
// "absent".
func values(srv *route53test.Server, zoneID, name, typ, setID string) string {
	rs, ok := srv.RecordSet(zoneID, name, typ, setID)
	if !ok {
		return "absent"
	}
	if rs.AliasTarget != nil {
		return "alias " + rs.AliasTarget.DNSName + "@" + rs.AliasTarget.HostedZoneID
	}
	return strings.Join(rs.ResourceRecords, ",")
}

func weight(srv *route53test.Server, zoneID, name, setID string) int64 {
	rs, ok := srv.RecordSet(zoneID, name, "A", setID)
	if !ok || rs.Weight == nil {
		return -1
	}
	return *rs.Weight
}
