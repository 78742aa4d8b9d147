package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// namePrefix starts every namespace this suite creates; the test
// process's PID follows it, so that a sweeper can tell a stale lab (its
// process is gone) from one in use.
const namePrefix = "dtf"

// Lab addresses, all in 198.18.0.0/24 on one bridge.
const (
	subnetBits = 24
	clientIP   = "198.18.0.100"
)

// nodeIP returns the address of node i (0-based).
func nodeIP(i int) string { return fmt.Sprintf("198.18.0.%d", i+1) }

// backendIP returns the address of backend i (0-based: us-east-1,
// eu-west-1, ap-south-1).
func backendIP(i int) string { return fmt.Sprintf("198.18.0.%d", i+11) }

// lab is a set of network namespaces joined by veth pairs to a bridge in
// a namespace of its own: three node hosts, three backend hosts and one
// client host. Nothing has a route out of 198.18.0.0/24.
type lab struct {
	prefix string // unique per run: namePrefix + PID
}

// requireRoot skips (or under CI=true fails) when the suite cannot run
// here.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("DETOUR_FAULTS") != "1" {
		t.Skip("the network fault suite runs only with DETOUR_FAULTS=1 (make test-faults): it needs root and creates network namespaces")
	}
	miss := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("the fault suite cannot run under CI: %s", why)
		}
		t.Skipf("the fault suite cannot run here: %s", why)
	}
	if os.Geteuid() != 0 {
		miss("it needs root (network namespaces, veth, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss(fmt.Sprintf("%s is not installed (apt-get install iproute2 nftables)", tool))
		}
	}
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := runErr(name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// runErr runs a command with a bound on its time and returns its output.
func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// nftIn loads an nftables ruleset into namespace ns.
func nftIn(t testing.TB, ns, ruleset string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s\nruleset:\n%s", ns, err, out, ruleset)
	}
	// Whatever the test does next, the rules go at its end (deleting
	// a table twice is harmless).
	table := strings.Join(strings.Fields(ruleset)[1:3], " ")
	t.Cleanup(func() { _, _ = runErr("ip", "netns", "exec", ns, "nft", "delete", "table", table) })
}

// nftDelete deletes table (say "inet chaos") in namespace ns; a missing
// table is not an error.
func nftDelete(t testing.TB, ns, table string) {
	t.Helper()
	out, err := runErr("ip", append([]string{"netns", "exec", ns, "nft", "delete", "table"}, strings.Fields(table)...)...)
	if err != nil && !strings.Contains(out, "No such file") {
		t.Fatalf("nft delete table %s in %s: %v\n%s", table, ns, err, out)
	}
}

// nftDropped returns how many packets the counters of table (say "inet
// chaos") in namespace ns have matched: proof that a fault was in the
// path, not only loaded.
func nftDropped(t testing.TB, ns, table string) int {
	t.Helper()
	out, err := runErr("ip", append([]string{"netns", "exec", ns, "nft", "list", "table"}, strings.Fields(table)...)...)
	if err != nil {
		t.Fatalf("nft list table %s in %s: %v\n%s", table, ns, err, out)
	}
	total := 0
	for _, m := range countRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	return total
}

var countRE = regexp.MustCompile(`counter packets (\d+)`)

// nftPassed returns how many packets the rules commented "passed" of
// table in namespace ns have matched.
func nftPassed(t testing.TB, ns, table string) int {
	t.Helper()
	out, err := runErr("ip", append([]string{"netns", "exec", ns, "nft", "list", "table"}, strings.Fields(table)...)...)
	if err != nil {
		t.Fatalf("nft list table %s in %s: %v\n%s", table, ns, err, out)
	}
	total := 0
	for _, line := range strings.Split(out, "\n") {
		if m := countRE.FindStringSubmatch(line); m != nil && strings.Contains(line, `comment "passed"`) {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// ns returns the name of a host's namespace ("n1", "b2", "cl", "br").
func (l *lab) ns(host string) string { return l.prefix + "-" + host }

// nodeNS returns the namespace of node i (0-based).
func (l *lab) nodeNS(i int) string { return l.ns(fmt.Sprintf("n%d", i+1)) }

// backendNS returns the namespace of backend i (0-based).
func (l *lab) backendNS(i int) string { return l.ns(fmt.Sprintf("b%d", i+1)) }

// port returns the bridge-side veth name of a host.
func (l *lab) port(host string) string { return l.prefix + host }

// sweepStale deletes the namespaces of earlier runs whose test process is
// gone, killing what still runs in them first.
func sweepStale(t testing.TB) {
	t.Helper()
	out, err := runErr("ip", "netns", "list")
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], namePrefix) {
			continue
		}
		name := f[0]
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, namePrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil {
			continue // not one of ours
		}
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // its run is still going
		}
		killNSProcs(name)
		if out, err := runErr("ip", "netns", "del", name); err != nil {
			t.Logf("sweep stale namespace %s: %v\n%s", name, err, out)
		} else {
			t.Logf("swept stale namespace %s", name)
		}
	}
}

// killNSProcs SIGKILLs the processes running in namespace name (those a
// dead run of this suite left behind, or this run's own at cleanup).
func killNSProcs(name string) {
	out, _ := runErr("ip", "netns", "pids", name)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// newLab builds the namespaces, bridge and links, and deletes them all at
// cleanup (also when the test fails or times out).
func newLab(t *testing.T) *lab {
	t.Helper()
	sweepStale(t)
	l := &lab{prefix: fmt.Sprintf("%s%d", namePrefix, os.Getpid())}
	hosts := []struct{ name, ip string }{
		{"n1", nodeIP(0)}, {"n2", nodeIP(1)}, {"n3", nodeIP(2)},
		{"b1", backendIP(0)}, {"b2", backendIP(1)}, {"b3", backendIP(2)},
		{"cl", clientIP},
	}
	startReaper(t, l)
	var created []string
	t.Cleanup(func() {
		for _, ns := range created {
			killNSProcs(ns)
		}
		for i := len(created) - 1; i >= 0; i-- {
			if out, err := runErr("ip", "netns", "del", created[i]); err != nil {
				t.Errorf("delete namespace %s: %v\n%s", created[i], err, out)
			}
		}
	})
	br := l.ns("br")
	run(t, "ip", "netns", "add", br)
	created = append(created, br)
	run(t, "ip", "-n", br, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", br, "link", "set", "lo", "up")
	run(t, "ip", "-n", br, "link", "set", "br0", "up")
	for _, h := range hosts {
		ns := l.ns(h.name)
		run(t, "ip", "netns", "add", ns)
		created = append(created, ns)
		// The veth pair is born with one end in each namespace, so no
		// name is ever taken in the root namespace.
		run(t, "ip", "link", "add", l.port(h.name), "netns", br, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run(t, "ip", "-n", br, "link", "set", l.port(h.name), "master", "br0", "up")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", h.ip, subnetBits), "dev", "eth0")
		run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	// Check the promise "no route out": only the connected subnet.
	for _, h := range hosts {
		out, err := runErr("ip", "-n", l.ns(h.name), "route", "show")
		if err != nil || strings.Contains(out, "default") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Fatalf("namespace %s has routes beyond its subnet: %q (%v)", h.name, out, err)
		}
	}
	return l
}

// startReaper starts a small shell that waits for this test process to
// go away, however it goes (a go test -timeout panic runs no t.Cleanup),
// and then kills what runs in the lab's namespaces and deletes them. It
// holds the read end of a pipe whose write end only this process has:
// EOF means the process is gone. After a normal cleanup it finds nothing
// left to do.
func startReaper(t *testing.T, l *lab) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("reaper pipe: %v", err)
	}
	script := `cat >/dev/null
for ns in $(ip netns list | awk '{print $1}' | grep "^$1-"); do
	for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null
done`
	cmd := exec.Command("sh", "-c", script, "reaper", l.prefix)
	cmd.Stdin = pr
	// Its own process group: whatever kills the test's group spares it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the reaper: %v", err)
	}
	pr.Close()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		pw.Close() // the reaper runs now; the lab is already gone
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("the reaper (pid %d) did not finish", cmd.Process.Pid)
		}
	})
}

// inNS runs fn on an OS thread switched into namespace ns: sockets that
// fn creates live in ns for their whole life. The thread is switched back
// afterwards, or discarded when that fails.
func inNS(ns string, fn func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own network namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open network namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", ns, err)
	}
	ferr := fn()
	if err := setns(self); err != nil {
		// Leave the thread locked: it ends with this goroutine
		// instead of serving others from the wrong namespace.
		return fmt.Errorf("leave network namespace %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// dialer returns a DialContext that connects from namespace ns.
func dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNS(ns, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// listen opens a TCP listener in namespace ns.
func listen(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}
