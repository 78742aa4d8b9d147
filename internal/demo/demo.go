package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/daemon"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/route53/route53test"
)

// exampleSpec is a copy of policy/testdata/example.yaml (a test keeps the
// two equal).
//
//go:embed example.yaml
var exampleSpec []byte

// DefaultBackendPort is the port of the demo backends and of the example
// spec's checks.
const DefaultBackendPort = 18080

// DefaultControlAddr is where the demo's break/heal control endpoint
// listens unless Options.ControlAddr says otherwise.
const DefaultControlAddr = "127.0.0.1:18081"

// Route53Zone is the hosted zone the demo creates in the Route 53
// stand-in, and Route53Name the name it publishes the failover pool
// www.example.test. under.
const (
	Route53Zone = "example.com."
	Route53Name = "www.example.com."
)

// Options configure Run. The zero value runs the demo as the guide
// describes, printing nothing.
type Options struct {
	// Keep leaves the temporary data directory in place at the end (its
	// path is printed).
	Keep bool
	// Route53 also runs the Route 53 stand-in (route53test) on a free
	// port of 127.0.0.1 with the hosted zone Route53Zone, turns on Route
	// 53 mode on every node (the leader publishes) and publishes the
	// failover pool as Route53Name.
	Route53 bool
	// Out receives the guide and the event stream; nil discards them.
	Out io.Writer
	// BackendPort is the port of the three backends on 127.0.0.11-13;
	// 0 means DefaultBackendPort. The spec's check ports are rewritten to
	// it.
	BackendPort int
	// ControlAddr is the host:port of the break/heal endpoint; "" means
	// DefaultControlAddr. Port 0 picks a free port (see Info.ControlURL).
	ControlAddr string
	// RandomPorts puts the nodes' DNS, API and Raft listeners on free
	// ports (tests); otherwise node N (1-3) answers DNS on 127.0.0.1:530N
	// and its API on 127.0.0.1:80N3 (8053, 8063, 8073), Raft one port
	// above the API, so that the CLI's default --api reaches node1.
	RandomPorts bool
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
	// Ready, when set, is called once everything runs and the spec is
	// applied, before the guide is printed.
	Ready func(Info)
}

// Info describes a running demo.
type Info struct {
	// DataDir holds the nodes' data directories.
	DataDir string
	// Nodes are the three nodes, in region order.
	Nodes []NodeInfo
	// ControlURL is the base URL of the break/heal endpoint, to pass to
	// Break and Heal.
	ControlURL string
	// BackendPort is the port of the backends.
	BackendPort int
	// Route53URL is the Route 53 stand-in's base URL ("" without
	// Options.Route53), and Route53ZoneID the ID of its hosted zone.
	Route53URL, Route53ZoneID string
}

// NodeInfo describes one demo node.
type NodeInfo struct {
	ID, Region string
	// DNSAddr is the host:port answering DNS over UDP and TCP.
	DNSAddr string
	// APIURL is the node's admin API base URL.
	APIURL string
}

// Run runs the demo until ctx ends: it starts the control endpoint, the
// three backends and the three nodes, applies the example spec, calls
// opts.Ready, prints the guide to opts.Out and streams the cluster's events
// there. When ctx ends it stops the nodes, the backends and the control
// endpoint, removes the data directory unless opts.Keep, and returns nil;
// so does a ctx that ends while the demo starts. An error means the demo
// could not start (for example, a port it needs is
// taken: the error then wraps the listen error, see errors.Is with
// syscall.EADDRINUSE); whatever had started is stopped and removed first.
//
// The CLI maps onto it as follows (the guide prints these commands):
//
//	detour demo [--keep] [--route53]      Run(ctx, Options{Keep, Route53, Out: stdout, Logger})
//	                                      with ctx cancelled by Ctrl-C (SIGINT/SIGTERM)
//	detour demo break REGION [--control URL]   Break(ctx, URL, REGION), printing its answer
//	detour demo heal REGION [--control URL]    Heal(ctx, URL, REGION)
//
// where --control defaults to "" (DefaultControlAddr) and Logger should
// discard or keep to warnings, so that the guide and the events stay
// readable.
func Run(ctx context.Context, opts Options) (err error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	port := opts.BackendPort
	if port == 0 {
		port = DefaultBackendPort
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("demo: backend port %d out of range", port)
	}
	controlAddr := opts.ControlAddr
	if controlAddr == "" {
		controlAddr = DefaultControlAddr
	}
	spec, err := specForPort(port, opts.Route53)
	if err != nil {
		return err
	}

	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			if ctx.Err() != nil {
				// Interrupted while starting: everything is stopped,
				// which is what was asked.
				err = nil
			}
		}
	}()

	// Backends and their control endpoint.
	var bs backends
	for i, r := range Regions {
		b := &backend{region: r, addr: net.JoinHostPort(backendHost(i), strconv.Itoa(port))}
		if err := b.start(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		cleanups = append(cleanups, b.stop)
		bs = append(bs, b)
	}
	cln, err := net.Listen("tcp", controlAddr)
	if err != nil {
		return fmt.Errorf("demo: listen for the control endpoint on %s: %w", controlAddr, err)
	}
	csrv := &http.Server{Handler: bs.control(), ReadHeaderTimeout: 5 * time.Second}
	cdone := make(chan struct{})
	go func() {
		defer close(cdone)
		_ = csrv.Serve(cln)
	}()
	cleanups = append(cleanups, func() { _ = csrv.Close(); <-cdone })

	// The Route 53 stand-in.
	var r53 *config.Route53
	var r53URL, r53Zone string
	if opts.Route53 {
		s, err := route53test.New(route53test.Options{Zones: []string{Route53Zone}, InsyncDelay: 2 * time.Second})
		if err != nil {
			return fmt.Errorf("demo: route53 stand-in: %w", err)
		}
		if err := s.Start(); err != nil {
			return fmt.Errorf("demo: start the route53 stand-in: %w", err)
		}
		cleanups = append(cleanups, func() { _ = s.Close() })
		r53URL, r53Zone = s.URL(), s.Zones()[0].ID
		r53 = &config.Route53{Enabled: true, Endpoint: r53URL, PollInterval: 500 * time.Millisecond}
	}

	// Nodes.
	dir, err := os.MkdirTemp("", "detour-demo-")
	if err != nil {
		return fmt.Errorf("demo: make a data directory: %w", err)
	}
	cleanups = append(cleanups, func() {
		if !opts.Keep {
			_ = os.RemoveAll(dir)
		}
	})
	c, err := startCluster(ctx, dir, opts.Logger, r53, opts.RandomPorts)
	cleanups = append(cleanups, c.stop)
	if err != nil {
		return err
	}
	if _, err := c.clients[0].ApplySpec(ctx, spec, false); err != nil {
		return fmt.Errorf("demo: apply the example spec: %w", err)
	}

	info := Info{DataDir: dir, ControlURL: "http://" + cln.Addr().String(), BackendPort: port,
		Route53URL: r53URL, Route53ZoneID: r53Zone}
	for i, d := range c.daemons {
		info.Nodes = append(info.Nodes, NodeInfo{
			ID: fmt.Sprintf("node%d", i+1), Region: Regions[i],
			DNSAddr: d.DNSAddr().String(), APIURL: d.APIURL(),
		})
	}
	if opts.Ready != nil {
		opts.Ready(info)
	}
	printGuide(out, info, opts.ControlAddr == "" || opts.ControlAddr == DefaultControlAddr)

	streamEvents(ctx, out, c.clients)

	fmt.Fprintln(out, "\nstopping the demo...")
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if opts.Keep {
		fmt.Fprintf(out, "data kept in %s\n", dir)
	} else {
		fmt.Fprintln(out, "stopped; temporary data removed")
	}
	return nil
}

// specForPort returns the embedded example spec with every check port
// set to port and, with route53, the failover pool published as
// Route53Name in Route53Zone.
func specForPort(port int, route53 bool) ([]byte, error) {
	s := strings.ReplaceAll(string(exampleSpec), "port: 18080", "port: "+strconv.Itoa(port))
	if route53 {
		const anchor = "    when_all_down: serve_all\n"
		if strings.Count(s, anchor) != 1 {
			return nil, errors.New("demo: the embedded example spec has no single failover pool to publish")
		}
		s = strings.Replace(s, anchor, anchor+"    route53:\n      zone_name: "+Route53Zone+"\n      record_name: "+Route53Name+"\n", 1)
	}
	if _, err := policy.LoadSpec([]byte(s)); err != nil {
		return nil, fmt.Errorf("demo: the embedded example spec: %w", err)
	}
	return []byte(s), nil
}

// cluster is the demo's three daemons.
type cluster struct {
	daemons []*daemon.Daemon
	cancels []context.CancelFunc
	clients []*api.Client
}

// startCluster starts node1 (bootstrapping), then node2 and node3 joining
// through it, and waits until every node sees three members and a leader.
// With r53, every node runs Route 53 mode with those settings. The
// returned cluster is never nil: stop it even after an error.
func startCluster(ctx context.Context, dir string, logger *slog.Logger, r53 *config.Route53, randomPorts bool) (*cluster, error) {
	c := &cluster{}
	for i, region := range Regions {
		id := fmt.Sprintf("node%d", i+1)
		dnsAddr, apiAddr, raftAddr := "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		if !randomPorts {
			dnsAddr = fmt.Sprintf("127.0.0.1:%d", 5301+i)
			apiAddr = fmt.Sprintf("127.0.0.1:%d", 8053+10*i)
			raftAddr = fmt.Sprintf("127.0.0.1:%d", 8054+10*i)
		}
		rt := config.Runtime{
			NodeID: id, Region: region, DataDir: filepath.Join(dir, id),
			DNSAddr: dnsAddr, APIAddr: apiAddr, RaftAddr: raftAddr,
			LogLevel: slog.LevelInfo, LogFormat: "text",
		}
		if i == 0 {
			rt.Bootstrap = true
		} else {
			rt.Join = []string{c.daemons[0].APIURL()}
		}
		dopts := daemon.Options{Logger: logger, Version: "demo"}
		if r53 != nil {
			rt.Route53 = *r53
			// The stand-in checks no signature, but the SDK signs every
			// request: give it credentials that are obviously not real.
			dopts.Route53.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "demo", SecretAccessKey: "demo", Source: "detour demo"}, nil
			})
		}
		d, err := daemon.New(rt, dopts)
		if err != nil {
			return c, fmt.Errorf("demo: %s: %w", id, err)
		}
		// The daemon's background work lives until stop, not until ctx:
		// stop shuts it down in order.
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if err := d.Start(dctx); err != nil {
			cancel()
			return c, fmt.Errorf("demo: start %s: %w", id, err)
		}
		cl, err := api.NewClient(d.APIURL(), nil)
		if err != nil {
			cancel()
			_ = d.Shutdown(context.Background())
			return c, fmt.Errorf("demo: %s: %w", id, err)
		}
		c.daemons, c.cancels, c.clients = append(c.daemons, d), append(c.cancels, cancel), append(c.clients, cl)
		if i == 0 {
			if err := waitFor(ctx, 30*time.Second, func() bool { return cl.Ready(ctx) == nil }); err != nil {
				return c, fmt.Errorf("demo: node1 did not become ready: %w", err)
			}
		}
	}
	err := waitFor(ctx, 60*time.Second, func() bool {
		for _, cl := range c.clients {
			ms, err := cl.Members(ctx)
			if err != nil || len(ms) != len(Regions) {
				return false
			}
			st, err := cl.Status(ctx)
			if err != nil || st.LeaderAPIAddr == "" {
				return false
			}
		}
		return true
	})
	if err != nil {
		return c, fmt.Errorf("demo: the three nodes did not form a cluster: %w", err)
	}
	return c, nil
}

// stop shuts every daemon down, last first, each bounded by 15 s.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for i := len(c.daemons) - 1; i >= 0; i-- {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = c.daemons[i].Shutdown(ctx)
			c.cancels[i]()
		})
	}
	wg.Wait()
	c.daemons, c.cancels, c.clients = nil, nil, nil
}

// waitFor calls cond every 100 ms until it is true, ctx ends or timeout
// passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// streamEvents prints the cluster's events as they come until ctx ends,
// asking the first node that answers, then prints the events that came
// since its last poll (bounded by 2 s).
func streamEvents(ctx context.Context, out io.Writer, clients []*api.Client) {
	var after uint64
	poll := func(ctx context.Context) {
		for _, cl := range clients {
			l, err := cl.Events(ctx, after, 100)
			if err != nil {
				continue
			}
			for _, e := range l.Events {
				fmt.Fprintln(out, formatEvent(e))
			}
			after = l.Last
			return
		}
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		poll(ctx)
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			poll(last)
			return
		case <-t.C:
		}
	}
}

// formatEvent prints one event on one line.
func formatEvent(e policy.Event) string {
	var b strings.Builder
	ts := "--:--:--"
	if !e.Time.IsZero() {
		ts = e.Time.Local().Format("15:04:05")
	}
	fmt.Fprintf(&b, "%s  #%-4d %-20s", ts, e.Index, e.Kind)
	if e.Pool != "" {
		b.WriteString(" " + e.Pool)
		if e.Endpoint != "" {
			b.WriteString(" " + e.Endpoint)
		}
	}
	if e.Node != "" {
		b.WriteString(" node=" + e.Node)
	}
	line := strings.TrimRight(b.String(), " ")
	if e.Reason != "" {
		line += ": " + e.Reason
	}
	return line
}
