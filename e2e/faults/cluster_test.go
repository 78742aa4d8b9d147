package faults

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/proctest"
	"github.com/detour-dns/detour/route53/route53test"
)

// Ports every node binds on its own address.
const (
	dnsPort  = 53
	apiPort  = 8053
	raftPort = 8054
	// backendPort is the port of the spec's checks.
	backendPort = 18080
)

// buildDetour builds the binary once for the suite, or returns
// $DETOUR_BIN when set (a binary built elsewhere, say from a clean
// checkout).
func buildDetour(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("DETOUR_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "detour")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/detour")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is one "detour server" in its namespace; its process may be
// killed, paused and started again on the same data dir and addresses.
type node struct {
	i    int    // 0-based
	id   string // node1..node3
	ns   string
	ip   string
	dir  string // data dir
	cfg  string // config file
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   <-chan struct{}     // closed when the current process has exited
	log    testutil.SyncBuffer // every process's stderr, in order
	starts int

	// serving is true while clients should get answers from this node:
	// from /readyz answering 200 after a start to the moment the test
	// kills or pauses it. The DNS loops count failures only then.
	serving atomic.Bool
}

func (n *node) apiURL() string  { return fmt.Sprintf("http://%s:%d", n.ip, apiPort) }
func (n *node) dnsAddr() string { return fmt.Sprintf("%s:%d", n.ip, dnsPort) }

// logs returns the node's stderr so far.
func (n *node) logs() string { return n.log.String() }

// start runs the process in its namespace and waits for its "node
// running" log record (not for readiness).
func (n *node) start(t testing.TB, bin string) {
	t.Helper()
	args := append([]string{"netns", "exec", n.ns, bin, "server", "--config", n.cfg}, n.args...)
	cmd := exec.Command("ip", args...)
	// ip netns exec execs the binary: the PID is detour's, signals go
	// straight to it. Pdeathsig kills it if the test process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The Route 53 stand-in checks no signature, but the SDK signs, so
	// it gets static keys and nothing from this machine's AWS setup.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=standin", "AWS_SECRET_ACCESS_KEY=standin",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_PROFILE=", "AWS_ENDPOINT_URL_ROUTE_53=")
	n.mu.Lock()
	n.starts++
	fmt.Fprintf(&n.log, "---- start %d of %s\n", n.starts, n.id)
	pr, err := proctest.Start(cmd, &n.log, "node running")
	if err == nil {
		n.cmd, n.done = cmd, pr.Done()
	}
	n.mu.Unlock()
	if err != nil {
		t.Fatalf("start %s: %v", n.id, err)
	}
	if _, err := pr.WaitRunning(30 * time.Second); err != nil {
		t.Fatalf("%s %v:\n%s", n.id, err, n.logs())
	}
}

// signal sends sig to the current process.
func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// stop sends sig and waits for the process to exit. A process that has
// not exited 10 s after SIGTERM gets SIGQUIT (the Go runtime writes every
// goroutine's stack to the log) and then SIGKILL; stop reports how long
// the exit took and whether it had to be forced.
func (n *node) stop(sig syscall.Signal) (took time.Duration, forced bool) {
	n.serving.Store(false)
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return 0, false
	}
	select {
	case <-done:
		return 0, false
	default:
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process must run to die of SIGTERM
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return time.Since(start), false
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return time.Since(start), true
}

// cluster is the running system under test: three nodes and three
// backends in the lab, and the client namespace's HTTP client.
type cluster struct {
	lab      *lab
	bin      string
	nodes    []*node
	backends []*backend
	hc       *http.Client // dials from the client namespace
	spec     []byte       // the fixture, with REGISTER in place
	r53      *route53test.Server
	r53Zone  string // the hosted zone ID of example.com. in the stand-in
}

// standinAddr is where the Route 53 stand-in listens, in the client
// namespace; every node publishes to it while it leads.
var standinAddr = clientIP + ":8060"

// startStandin serves the Route 53 stand-in (zone example.com.) from the
// client namespace until the test ends.
func (c *cluster) startStandin(t *testing.T) {
	t.Helper()
	std, err := route53test.New(route53test.Options{Zones: []string{"example.com."}})
	if err != nil {
		t.Fatalf("route 53 stand-in: %v", err)
	}
	ln, err := listen(c.lab.ns("cl"), standinAddr)
	if err != nil {
		t.Fatalf("route 53 stand-in listener: %v", err)
	}
	srv := &http.Server{Handler: std.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done; _ = std.Close() })
	c.r53, c.r53Zone = std, std.Zones()[0].ID
}

// published returns the addresses of www.example.com. A in the stand-in.
func (c *cluster) published() []string {
	rs, ok := c.r53.RecordSet(c.r53Zone, "www.example.com.", "A", "")
	if !ok {
		return nil
	}
	return rs.ResourceRecords
}

// client returns an API client of node n that connects from the client
// namespace.
func (c *cluster) client(t testing.TB, n *node) *api.Client {
	t.Helper()
	cl, err := api.NewClient(n.apiURL(), c.hc)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// status asks node n for its status with a short bound.
func (c *cluster) status(t testing.TB, n *node) (api.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	return c.client(t, n).Status(ctx)
}

// ready reports whether n answers /readyz with 200.
func (c *cluster) ready(t testing.TB, n *node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	return c.client(t, n).Ready(ctx) == nil
}

// waitReady waits until n is ready and marks it serving.
func (c *cluster) waitReady(t testing.TB, n *node, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, func() bool { return c.ready(t, n) }, "%s ready", n.id)
	n.serving.Store(true)
}

// startCluster builds the binary, starts the backends and the three
// nodes (node1 bootstraps, the others join it), and applies the spec
// fixture with the register set to "init".
func startCluster(t *testing.T, l *lab) *cluster {
	t.Helper()
	spec, err := os.ReadFile(filepath.Join("testdata", "spec.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{lab: l, bin: buildDetour(t), spec: spec}
	// The API listens on the lab address, beyond loopback: a binary that
	// requires auth tokens there is told that this lab has none.
	var extra []string
	if help, _ := exec.Command(c.bin, "server", "--help").CombinedOutput(); bytes.Contains(help, []byte("--insecure-no-auth")) {
		extra = []string{"--insecure-no-auth"}
	}
	tr := &http.Transport{DialContext: dialer(l.ns("cl")), MaxIdleConnsPerHost: 8, IdleConnTimeout: 5 * time.Second}
	c.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	c.startStandin(t)
	for i := range 3 {
		b, err := startBackend(l.backendNS(i), fmt.Sprintf("%s:%d", backendIP(i), backendPort))
		if err != nil {
			t.Fatalf("backend %d: %v", i+1, err)
		}
		t.Cleanup(b.close)
		c.backends = append(c.backends, b)
	}
	dir := t.TempDir()
	for i := range 3 {
		n := &node{i: i, id: fmt.Sprintf("node%d", i+1), ns: l.nodeNS(i), ip: nodeIP(i),
			dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1)), cfg: filepath.Join(dir, fmt.Sprintf("node%d.yaml", i+1))}
		// Raft timing as the other multi-process tests use on one
		// host; probes leave from the node's own address.
		cfg := fmt.Sprintf(`node_id: %s
region: region-%d
data_dir: %s
dns_addr: "%s:%d"
api_addr: "%s:%d"
raft_addr: "%s:%d"
log:
  level: info
  format: json
raft:
  heartbeat_timeout: 500ms
  election_timeout: 500ms
  leader_lease_timeout: 250ms
  apply_timeout: 3s
probe:
  source_address: %s
dns:
  # The suite's client asks each node for the same name well over 200
  # times a second while it times a failover; response rate limiting
  # (on for non-loopback clients) would drop or truncate some replies.
  rate_limit:
    exempt: [198.18.0.0/24]
route53:
  enabled: true
  endpoint: http://%s
  rate: 50
  burst: 5
  resync_interval: 5s
  poll_interval: 100ms
`, n.id, i+1, n.dir, n.ip, dnsPort, n.ip, apiPort, n.ip, raftPort, n.ip, standinAddr)
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			n.args = append([]string{"--bootstrap"}, extra...)
		} else {
			n.args = append([]string{"--join", c.nodes[0].apiURL()}, extra...)
		}
		t.Cleanup(func() {
			n.stop(syscall.SIGKILL)
			if t.Failed() {
				t.Logf("last lines of %s's log:\n%s", n.id, tail(n.logs(), 40))
				if dir, err := os.MkdirTemp("", "detour-faults-logs-"); err == nil {
					path := filepath.Join(dir, n.id+".log")
					if os.WriteFile(path, []byte(n.logs()), 0o600) == nil {
						t.Logf("the whole log of %s (every start): %s", n.id, path)
					}
				}
			}
		})
		n.start(t, c.bin)
		if i == 0 {
			c.waitReady(t, n, 20*time.Second)
		}
		c.nodes = append(c.nodes, n)
	}
	testutil.WaitFor(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ms, err := c.client(t, c.nodes[2]).Members(ctx)
		return err == nil && len(ms) == 3
	}, "three members")
	if _, err := c.client(t, c.nodes[1]).ApplySpec(t.Context(), c.specWith("init"), false); err != nil {
		t.Fatalf("apply the spec fixture: %v", err)
	}
	for _, n := range c.nodes {
		c.waitReady(t, n, 20*time.Second)
	}
	return c
}

// specWith returns the fixture with the register set to v.
func (c *cluster) specWith(v string) []byte {
	return bytes.Replace(c.spec, []byte(`"REGISTER"`), []byte(`"`+v+`"`), 1)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// backend is an HTTP server in a backend namespace on port 18080 that
// answers 200, or 503 while failing is set.
type backend struct {
	srv     *http.Server
	done    chan struct{}
	failing atomic.Bool
	hits    atomic.Int64
}

func startBackend(ns, addr string) (*backend, error) {
	ln, err := listen(ns, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, ns, err)
	}
	b := &backend{done: make(chan struct{})}
	b.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b.hits.Add(1)
		if b.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ln)
	}()
	return b, nil
}

func (b *backend) close() {
	_ = b.srv.Close()
	<-b.done
}
