package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/proctest"
)

// buildDetour builds the binary once per test.
func buildDetour(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "detour")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/detour")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one "detour server" process.
type proc struct {
	id, dir                    string
	apiAddr, raftAddr, dnsAddr string // bound addresses, from the "node running" log record
	token                      string // sent by client; "" for none
	cmd                        *exec.Cmd
	done                       <-chan struct{}
	log                        testutil.SyncBuffer
}

func (p *proc) logs() string { return p.log.String() }

// startServer runs "detour server" with args and waits for its
// "node running" log record.
func startServer(t testing.TB, bin, id, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{id: id, dir: dir}
	full := append([]string{"server", "--node-id", id, "--region", "region-" + id, "--data-dir", dir,
		"--log-format", "json", "--log-level", "info"}, args...)
	p.cmd = exec.Command(bin, full...)
	pr, err := proctest.Start(p.cmd, &p.log, "node running")
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	p.done = pr.Done()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	rec, err := pr.WaitRunning(30 * time.Second)
	if err != nil {
		t.Fatalf("%s %v:\n%s", id, err, p.logs())
	}
	p.apiAddr, _ = rec["api"].(string)
	p.raftAddr, _ = rec["raft_addr"].(string)
	p.dnsAddr, _ = rec["dns_addr"].(string)
	return p
}

// kill signals the process and waits for it to exit.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) client(t testing.TB) *api.Client {
	t.Helper()
	c, err := api.NewClient(p.apiAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.WithToken(p.token)
}

// cli runs a client command of the binary.
func cli(t testing.TB, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func status(t testing.TB, p *proc) (api.Status, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return p.client(t).Status(ctx)
}

// waitLeader waits until every process in ps agrees on a leader among
// them and returns it.
func waitLeader(t testing.TB, ps []*proc) *proc {
	t.Helper()
	var leader *proc
	testutil.WaitFor(t, 15*time.Second, func() bool {
		leader = nil
		var id string
		for _, p := range ps {
			st, err := status(t, p)
			if err != nil || st.LeaderID == "" || st.LeaderAPIAddr == "" || (id != "" && st.LeaderID != id) {
				return false
			}
			id = st.LeaderID
		}
		for _, p := range ps {
			if p.id == id {
				leader = p
			}
		}
		return leader != nil
	}, "a leader known to all of %d nodes", len(ps))
	return leader
}

func waitSpecVersion(t testing.TB, ps []*proc, v uint64) {
	t.Helper()
	testutil.WaitFor(t, 15*time.Second, func() bool {
		for _, p := range ps {
			st, err := status(t, p)
			if err != nil || st.SpecVersion != v {
				return false
			}
		}
		return true
	}, "spec version %d on every node", v)
}

// startNodes starts one "detour server" process per config file in cfgs
// (node1 bootstraps, the others join it), each on free loopback ports with
// its data under dir, and waits until all are members and agree on a
// leader, which it returns with the procs. Clients of the procs send token.
func startNodes(tb testing.TB, bin, dir string, cfgs []string, token string) ([]*proc, *proc) {
	tb.Helper()
	var ps []*proc
	for i, cfg := range cfgs {
		id := fmt.Sprintf("node%d", i+1)
		args := []string{"--config", cfg, "--dns-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", ps[0].apiAddr)
		}
		p := startServer(tb, bin, id, filepath.Join(dir, id), args...)
		p.token = token
		if i == 0 {
			testutil.WaitFor(tb, 15*time.Second, func() bool { return p.client(tb).Ready(tb.Context()) == nil }, "node1 ready")
		}
		ps = append(ps, p)
	}
	last := ps[len(ps)-1]
	testutil.WaitFor(tb, 30*time.Second, func() bool {
		ms, err := last.client(tb).Members(tb.Context())
		return err == nil && len(ms) == len(ps)
	}, "%d members", len(ps))
	return ps, waitLeader(tb, ps)
}

// others returns the procs of ps other than x, in order.
func others(ps []*proc, x *proc) []*proc {
	var out []*proc
	for _, p := range ps {
		if p != x {
			out = append(out, p)
		}
	}
	return out
}

func queryA(t testing.TB, addr, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil || len(r.Answer) == 0 {
		return fmt.Sprintf("error %v / %v", err, r)
	}
	return r.Answer[0].(*dns.A).A.String()
}

func TestProcesses_ThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes; skipped with -short")
	}
	bin := buildDetour(t)
	dir := t.TempDir()
	spec := filepath.Join("..", "policy", "testdata", "example.yaml")
	any0 := []string{"--dns-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}

	n1 := startServer(t, bin, "node1", filepath.Join(dir, "node1"), append(any0, "--bootstrap")...)
	testutil.WaitFor(t, 15*time.Second, func() bool {
		return n1.client(t).Ready(t.Context()) == nil
	}, "node1 ready")
	n2 := startServer(t, bin, "node2", filepath.Join(dir, "node2"), append(any0, "--join", n1.apiAddr)...)
	n3 := startServer(t, bin, "node3", filepath.Join(dir, "node3"), append(any0, "--join", n1.apiAddr)...)
	ps := []*proc{n1, n2, n3}
	testutil.WaitFor(t, 30*time.Second, func() bool {
		code, out, _ := cli(t, bin, "members", "-o", "json", "--api", n3.apiAddr)
		return code == 0 && strings.Count(out, `"id"`) == 3
	}, "three members")

	// Apply through a follower with the CLI.
	leader := waitLeader(t, ps)
	var follower *proc
	for _, p := range ps {
		if p != leader {
			follower = p
			break
		}
	}
	code, out, errOut := cli(t, bin, "apply", "-f", spec, "--api", follower.apiAddr)
	if code != 0 || !strings.HasPrefix(out, "applied spec version 1") {
		t.Fatalf("apply through follower: exit %d\n%s%s", code, out, errOut)
	}
	waitSpecVersion(t, ps, 1)
	for _, p := range ps {
		if got := queryA(t, p.dnsAddr, "www.example.test."); got != "127.0.0.11" {
			t.Errorf("%s answers www.example.test. A with %s", p.id, got)
		}
	}

	// Kill the leader (SIGKILL): the survivors elect a new one and accept
	// writes.
	start := time.Now()
	leader.kill(syscall.SIGKILL)
	survivors := others(ps, leader)
	newLeader := waitLeader(t, survivors)
	t.Logf("leader %s killed; %s leads after %s", leader.id, newLeader.id, time.Since(start))
	changed := filepath.Join(dir, "changed.yaml")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, bytes.Replace(b, []byte("weight: 70"), []byte("weight: 60"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	var via *proc
	for _, p := range survivors {
		if p != newLeader {
			via = p
		}
	}
	code, out, errOut = cli(t, bin, "apply", "-f", changed, "--api", via.apiAddr)
	if code != 0 || !strings.HasPrefix(out, "applied spec version 2") || !strings.Contains(out, "70 -> 60") {
		t.Fatalf("apply through survivor: exit %d\n%s%s", code, out, errOut)
	}
	waitSpecVersion(t, survivors, 2)
	st, err := status(t, n1)
	if err == nil {
		t.Logf("node1 status before restart: %+v", st)
	}
	clusterID := ""
	if st, err := status(t, via); err == nil {
		clusterID = st.ClusterID
	}

	// Stop the survivors and restart all three from disk on the same
	// addresses.
	for _, p := range survivors {
		p.kill(syscall.SIGTERM)
	}
	var restarted []*proc
	for _, p := range ps {
		host := strings.TrimPrefix(p.apiAddr, "http://")
		args := []string{"--dns-addr", p.dnsAddr, "--api-addr", host, "--raft-addr", p.raftAddr}
		if p != n1 {
			args = append(args, "--join", n1.apiAddr)
		}
		restarted = append(restarted, startServer(t, bin, p.id, p.dir, args...))
	}
	waitLeader(t, restarted)
	waitSpecVersion(t, restarted, 2)
	for _, p := range restarted {
		st, err := status(t, p)
		if err != nil || st.ClusterID != clusterID {
			t.Errorf("%s after restart: %+v %v (cluster id want %s)", p.id, st, err, clusterID)
		}
		code, out, _ := cli(t, bin, "spec", "--api", p.apiAddr)
		if code != 0 || !strings.Contains(out, "weight: 60") {
			t.Errorf("%s spec after restart: exit %d\n%s", p.id, code, out)
		}
	}

	// An invalid spec: the CLI prints every problem with its path and the
	// version stays.
	bad := filepath.Join(dir, "bad.yaml")
	bb := bytes.Replace(b, []byte("addresses: [127.0.0.13]"), []byte("addresses: [not-an-ip]"), 1)
	bb = bytes.Replace(bb, []byte("policy: failover"), []byte("policy: roundrobin"), 1)
	if err := os.WriteFile(bad, bb, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, bin, "apply", "-f", bad, "--api", restarted[1].apiAddr)
	t.Logf("CLI output for an invalid spec:\n%s", errOut)
	if code != 1 || out != "" {
		t.Errorf("invalid spec: exit %d, stdout %q", code, out)
	}
	for _, w := range []string{"spec is invalid", "pools[2].endpoints[2].addresses[0]: ", "pools[0].policy: "} {
		if !strings.Contains(errOut, w) {
			t.Errorf("CLI output misses %q", w)
		}
	}
	waitSpecVersion(t, restarted, 2)
}
