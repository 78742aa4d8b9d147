package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// Addresses of the example spec's endpoints (policy/testdata/example.yaml).
const (
	usEast  = "127.0.0.11"
	euWest  = "127.0.0.12"
	apSouth = "127.0.0.13"
)

// failoverCluster is three "detour server" processes running the example
// spec, probing the local backends, each node from its own source address
// (127.0.0.21, .22, .23).
type failoverCluster struct {
	bin      string
	procs    []*proc
	backends []*backend // us-east-1, eu-west-1, ap-south-1
	sources  []netip.Addr
	cfgs     []string // each node's config file, by index of procs
}

// clusterOptions says how startCluster sets the nodes up.
type clusterOptions struct {
	// spec is applied once the cluster has a leader; nil applies the
	// example spec.
	spec []byte
	// auth writes the read, operate and admin tokens into every node's
	// config; clients of the procs then use the admin token.
	auth bool
}

// startCluster starts the backends (skipping the test when port 18080 is
// taken on one of their addresses), the three nodes, and applies the spec
// of opts.
func startCluster(tb testing.TB, opts clusterOptions) *failoverCluster {
	tb.Helper()
	bs, err := startBackends(tb)
	if errors.Is(err, errPortTaken) {
		tb.Skipf("the example spec probes port %d on 127.0.0.11-13, which is in use here (%v): skipping", backendPort, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	fc := &failoverCluster{bin: buildDetour(tb), backends: bs}
	dir := tb.TempDir()
	auth, token := "", ""
	if opts.auth {
		auth, token = authConfig(tb, dir), adminToken
	}
	for i := range 3 {
		id := fmt.Sprintf("node%d", i+1)
		src := netip.AddrFrom4([4]byte{127, 0, 0, byte(21 + i)})
		fc.sources = append(fc.sources, src)
		cfg := filepath.Join(dir, id+".yaml")
		body := fmt.Sprintf("probe:\n  source_address: %s\n%s", src, auth)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		fc.cfgs = append(fc.cfgs, cfg)
	}
	fc.procs, _ = startNodes(tb, fc.bin, dir, fc.cfgs, token)
	spec, what := opts.spec, "spec"
	if spec == nil {
		spec, what = exampleYAML(tb), "example spec"
	}
	if _, err := fc.procs[1].client(tb).ApplySpec(tb.Context(), spec, false); err != nil {
		tb.Fatalf("apply the %s: %v", what, err)
	}
	waitSpecVersion(tb, fc.procs, 1)
	return fc
}

// authConfig writes the token files of the operator test into dir and
// returns the node-config "auth" block naming them.
func authConfig(tb testing.TB, dir string) string {
	tb.Helper()
	secrets := map[string]string{"viewer": readToken, "oncall": operateToken, "cluster": adminToken}
	roles := map[string]string{"viewer": "read", "oncall": "operate", "cluster": "admin"}
	var auth strings.Builder
	auth.WriteString("auth:\n  node_token: cluster\n  tokens:\n")
	for _, name := range []string{"viewer", "oncall", "cluster"} {
		f := filepath.Join(dir, name+".token")
		if err := os.WriteFile(f, []byte(secrets[name]+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&auth, "    - {name: %s, role: %s, secret_file: %s}\n", name, roles[name], f)
	}
	return auth.String()
}

func exampleYAML(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "example.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// queryAll returns the sorted A records a node answers for name (nil on
// an error).
func queryAll(addr, name string) []string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// answering reports whether every node answers name with exactly want.
func (fc *failoverCluster) answering(name string, want ...string) bool {
	slices.Sort(want)
	for _, p := range fc.procs {
		if !slices.Equal(queryAll(p.dnsAddr, name), want) {
			return false
		}
	}
	return true
}

// converge waits until every node answers name with want and returns how
// long that took from start; it fails the test after timeout.
func (fc *failoverCluster) converge(tb testing.TB, start time.Time, timeout time.Duration, name string, want ...string) time.Duration {
	tb.Helper()
	deadline := start.Add(timeout)
	for !fc.answering(name, want...) {
		if time.Now().After(deadline) {
			var got []string
			for _, p := range fc.procs {
				got = append(got, fmt.Sprintf("%s: %v", p.id, queryAll(p.dnsAddr, name)))
			}
			tb.Fatalf("after %s the nodes answer %s with %s, want %v", timeout, name, strings.Join(got, "; "), want)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a measurement, not synchronisation
	}
	return time.Since(start)
}

// pool returns the pool page of name as node p sees it.
func pool(tb testing.TB, p *proc, name string) api.PoolStatus {
	tb.Helper()
	ps, err := p.client(tb).Pool(tb.Context(), name)
	if err != nil {
		tb.Fatalf("pool %s on %s: %v", name, p.id, err)
	}
	return ps
}

// view returns node's committed view of endpoint ep in ps (ok false when
// the node has none).
func view(ps api.PoolStatus, ep, node string) (policy.NodeViewOf, bool) {
	for _, e := range ps.Endpoints {
		if e.Name != ep {
			continue
		}
		for _, v := range e.Views {
			if v.Node == node {
				return v, true
			}
		}
	}
	return policy.NodeViewOf{}, false
}

// endpoint returns endpoint ep of ps.
func endpoint(ps api.PoolStatus, ep string) api.EndpointStatus {
	for _, e := range ps.Endpoints {
		if e.Name == ep {
			return e
		}
	}
	return api.EndpointStatus{}
}

// allViews reports whether every node's committed view of every endpoint
// of pool name says healthy, as node p sees it.
func (fc *failoverCluster) allViews(tb testing.TB, p *proc, name string, healthy bool) bool {
	ps := pool(tb, p, name)
	for _, e := range ps.Endpoints {
		for _, q := range fc.procs {
			if v, ok := view(ps, e.Name, q.id); !ok || v.Healthy != healthy {
				return false
			}
		}
	}
	return true
}

// TestProcesses_Failover runs the example spec on three processes against
// local backends: failover and failback of the failover pool, a node that
// alone cannot reach us-east-1, the weighted split, and the multivalue
// pool with one and with every endpoint down.
func TestProcesses_Failover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes; skipped with -short")
	}
	fc := startCluster(t, clusterOptions{})
	us, eu, ap := fc.backends[0], fc.backends[1], fc.backends[2]
	www, apiPool, all := "www.example.test.", "api.example.test.", "all.example.test."
	// The failover pool: interval 500ms, fall 3, rise 2.
	const interval, fall = 500 * time.Millisecond, 3
	bound := interval*fall + time.Second

	testutil.WaitFor(t, 20*time.Second, func() bool {
		for _, p := range fc.procs {
			if !fc.allViews(t, p, www, true) || !fc.allViews(t, p, apiPool, true) {
				return false
			}
		}
		return true
	}, "every node's healthy views of www and api on every node")
	if !fc.answering(www, usEast) {
		t.Fatalf("www does not answer us-east-1 with everything healthy")
	}

	t.Run("weighted pool answers 70/30 over 10,000 queries", func(t *testing.T) {
		counts := map[string]int{}
		co, err := dns.Dial("udp", fc.procs[0].dnsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer co.Close()
		const n = 10000
		for i := range n {
			m := new(dns.Msg)
			m.SetQuestion(apiPool, dns.TypeA)
			m.Id = uint16(rand.N(1 << 16))
			_ = co.SetDeadline(time.Now().Add(2 * time.Second))
			if err := co.WriteMsg(m); err != nil {
				t.Fatalf("query %d: %v", i, err)
			}
			r, err := co.ReadMsg()
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("query %d: %v %v", i, err, r)
			}
			counts[r.Answer[0].(*dns.A).A.String()]++
		}
		share := 100 * float64(counts[usEast]) / n
		t.Logf("weighted split over %d queries: us-east-1 %.1f%%, eu-west-1 %.1f%%", n, share, 100*float64(counts[euWest])/n)
		if share < 67 || share > 73 || counts[usEast]+counts[euWest] != n {
			t.Errorf("split = %v, want 70/30 within 3 points", counts)
		}
	})

	// ap-south-1 stops now: the multivalue pool (5 s interval by default)
	// needs a while to see it, checked after the failover cases.
	ap.stop()
	apStopped := time.Now()

	for _, failure := range []string{mode503, modeHang} {
		t.Run("failover pool moves to eu-west-1 when us-east-1 answers "+failure+", and back", func(t *testing.T) {
			us.setMode(failure)
			took := fc.converge(t, time.Now(), 15*time.Second, www, euWest)
			t.Logf("us-east-1 %s: all three nodes answer eu-west-1 after %s (issue bound interval x fall + 1s = %s)", failure, took, bound)
			if took > bound+2*time.Second {
				t.Errorf("failover took %s, more than the bound %s plus 2 s of slack", took, bound)
			}
			us.setMode(modeOK)
			back := fc.converge(t, time.Now(), 15*time.Second, www, usEast)
			t.Logf("us-east-1 healthy again: all three nodes answer it after %s (rise 2)", back)
		})
	}

	t.Run("events carry the evidence of the failover", func(t *testing.T) {
		l, err := fc.procs[2].client(t).Events(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var classes []string
		for _, e := range l.Events {
			if e.Kind != policy.EventEndpointDown || e.Pool != www || e.Endpoint != "us-east-1" || e.Details == nil {
				continue
			}
			for _, v := range e.Details.Views {
				if !v.Healthy && len(v.Evidence) > 0 {
					classes = append(classes, v.Evidence[len(v.Evidence)-1].Class)
				}
			}
		}
		if !slices.Contains(classes, "status") || !slices.Contains(classes, "timeout") {
			t.Errorf("endpoint_down evidence classes = %v, want status (503) and timeout (hang)", classes)
		}
	})

	t.Run("one node that cannot reach us-east-1 changes nothing", func(t *testing.T) {
		node3 := fc.procs[2]
		us.block(fc.sources[2], true)
		defer us.block(fc.sources[2], false)
		start := time.Now()
		testutil.WaitFor(t, 15*time.Second, func() bool {
			if !fc.answering(www, usEast) {
				t.Fatalf("the answer changed %s after node3 lost us-east-1", time.Since(start))
			}
			v, ok := view(pool(t, node3, www), "us-east-1", node3.id)
			return ok && !v.Healthy
		}, "node3's own view of us-east-1 to say down")
		t.Logf("node3's view of us-east-1 says down after %s", time.Since(start))
		// Keep watching for two more check intervals: nothing moves.
		until := time.Now().Add(2 * interval)
		for time.Now().Before(until) {
			if !fc.answering(www, usEast) {
				t.Fatal("the answer changed while only node3 saw us-east-1 down")
			}
			time.Sleep(20 * time.Millisecond) // polling interval of an observation window
		}
		for _, p := range fc.procs {
			e := endpoint(pool(t, p, www), "us-east-1")
			if !e.Healthy || e.Unhealthy != 1 || e.Quorum != 2 || e.Voters != 3 {
				t.Errorf("%s sees us-east-1 as %+v, want effective up with one unhealthy view", p.id, e)
			}
		}
		e := endpoint(pool(t, node3, www), "us-east-1")
		if n := len(e.Local); n == 0 || e.Local[n-1].Class != "reset" && e.Local[n-1].Class != "refused" {
			t.Errorf("node3's latest local result = %+v, want a reset connection", e.Local)
		}
		if _, resets := us.counts(fc.sources[2]); resets == 0 {
			t.Error("the backend reset no connection from node3's source address: the block did not apply")
		}
		for _, src := range fc.sources[:2] {
			if hits, _ := us.counts(src); hits == 0 {
				t.Errorf("no probe came from %s: probe.source_address is not used", src)
			}
		}
		code, out, errOut := cli(t, fc.bin, "health", www, "--api", node3.apiAddr)
		t.Logf("detour health %s on node3:\n%s%s", www, out, errOut)
		if code != 0 || !strings.Contains(out, "node3=down") || !strings.Contains(out, "up *") {
			t.Errorf("health table (exit %d) does not show node3's down view beside an effective up", code)
		}
	})

	t.Run("multivalue pool leaves out a failed endpoint", func(t *testing.T) {
		took := fc.converge(t, apStopped, 40*time.Second, all, usEast, euWest)
		t.Logf("multivalue answers without ap-south-1 %s after it stopped (interval 5s, fall 3)", took)
	})

	t.Run("multivalue pool with every endpoint down answers all three (serve_all), and an event says so", func(t *testing.T) {
		us.stop()
		eu.stop()
		start := time.Now()
		testutil.WaitFor(t, 40*time.Second, func() bool {
			ps := pool(t, fc.procs[0], all)
			return ps.Answer.AllDown
		}, "the multivalue pool to be all down")
		t.Logf("multivalue all down %s after us-east-1 and eu-west-1 stopped", time.Since(start))
		fc.converge(t, time.Now(), 10*time.Second, all, usEast, euWest, apSouth)
		l, err := fc.procs[1].client(t).Events(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range l.Events {
			if e.Kind == policy.EventPoolAllDown && e.Pool == all {
				found = true
				t.Logf("event %d: %s", e.Index, e.Reason)
			}
		}
		if !found {
			t.Errorf("no %s event for %s in %d events", policy.EventPoolAllDown, all, len(l.Events))
		}
		st, err := fc.procs[0].client(t).Status(t.Context())
		if err != nil || st.PoolsAllDown == 0 || st.EndpointsDown == 0 {
			t.Errorf("status = %+v, %v; want pools all down and endpoints down counted", st, err)
		}
		code, out, _ := cli(t, fc.bin, "events", "--api", fc.procs[0].apiAddr)
		if code != 0 || !strings.Contains(out, policy.EventPoolAllDown) {
			t.Errorf("detour events (exit %d) does not list %s:\n%s", code, policy.EventPoolAllDown, out)
		}
	})
}
