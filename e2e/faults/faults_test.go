package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
)

// The failover pool of the fixture: interval 500ms, fall 3. The bound
// the project states for failover is interval x fall + 1 s.
const (
	checkInterval = 500 * time.Millisecond
	failoverBound = 3*checkInterval + time.Second
	// failoverSlack is the generous allowance over the bound under 10%
	// loss, where a lost SYN costs a probe its whole timeout.
	failoverSlack = 7500 * time.Millisecond
)

// result is one fault's figures.
type result struct {
	name      string
	dns       []dnsCounts // per node, counted while the node was serving
	leader    string      // time to a new leader, or why there is none
	failover  string      // failover time, where measured
	verdict   string      // porcupine's, with the operation counts
	writeP50  time.Duration
	route53   time.Duration // from the end of the checks to the stand-in holding the answer
	skipped   string
	leaderNow string
}

// suite holds the running cluster and the state the phases share.
type suite struct {
	c     *cluster
	loops []*dnsLoop
	want  *atomic.Value
	epoch time.Time
	state regState // the register at the end of the last phase
	res   []*result
}

// fault is one scenario: it injects, waits, heals and leaves every node
// running and serving.
type fault struct {
	name string
	slug string
	run  func(t *testing.T, s *suite, r *result)
}

// TestFaults runs every network and process fault in turn on one
// three-node cluster in network namespaces, with DNS client loops and an
// admin read/write workload running throughout, and reports per fault the
// DNS failures, the time to a new leader, the failover time and the
// porcupine verdict.
func TestFaults(t *testing.T) {
	requireRoot(t)
	began := time.Now()
	l := newLab(t)
	c := startCluster(t, l)
	t.Logf("lab and cluster up in %s", time.Since(began).Round(time.Millisecond))
	s := &suite{c: c, want: &atomic.Value{}, epoch: time.Now()}
	s.want.Store(backendIP(0))

	// Every node answers www with us-east-1 before the first fault.
	testutil.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.nodes {
			if queryFrom(l.ns("cl"), n.dnsAddr(), dnsName) != backendIP(0) {
				return false
			}
		}
		return true
	}, "every node to answer %s with us-east-1", dnsName)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		d := &dnsLoop{n: n, want: s.want}
		s.loops = append(s.loops, d)
		wg.Go(func() { d.run(l.ns("cl"), stop) })
	}
	t.Cleanup(func() { close(stop); wg.Wait() }) // runs before the nodes stop
	w := &workload{c: c, epoch: s.epoch}
	ver, val, err := w.readSpec(t, c.nodes[0])
	if err != nil {
		t.Fatalf("read the register: %v", err)
	}
	s.state = regState{ver, val}

	for _, f := range faultList() {
		ok := t.Run(f.name, func(t *testing.T) { s.phase(t, f) })
		if !ok && !allServing(c) {
			t.Fatalf("%s failed and left nodes down: stopping the suite", f.name)
		}
	}
	t.Run("Route 53 stand-in converges after faults", func(t *testing.T) {
		r := &result{name: "Route 53 stand-in converges after faults", leader: "-", failover: "-", verdict: "-"}
		s.res = append(s.res, r)
		start := time.Now()
		testutil.WaitFor(t, 30*time.Second, func() bool {
			got := c.published()
			return len(got) == 1 && got[0] == backendIP(0)
		}, "the stand-in to hold www.example.com. A %s", backendIP(0))
		r.route53 = time.Since(start)
		t.Logf("Route 53 stand-in: www.example.com. A %v", c.published())
	})
	t.Logf("suite took %s\n%s", time.Since(began).Round(time.Second), s.table())
}

func allServing(c *cluster) bool {
	for _, n := range c.nodes {
		if !n.serving.Load() {
			return false
		}
	}
	return true
}

// phase runs one fault with the workload and the checks around it.
func (s *suite) phase(t *testing.T, f fault) {
	r := &result{name: f.name, leader: "-", failover: "-"}
	s.res = append(s.res, r)
	before := make([]dnsCounts, len(s.loops))
	for i, d := range s.loops {
		before[i] = d.counts()
		d.failures()
	}
	w := &workload{c: s.c, phase: f.slug, epoch: s.epoch}
	stopW := make(chan struct{})
	waitW := w.start(t, stopW)
	func() {
		defer func() {
			close(stopW)
			waitW()
		}()
		f.run(t, s, r)
		if !t.Failed() {
			// The workload goes on for a while on the healed cluster,
			// so that every history has writes after the recovery.
			hold(afterHeal)
		}
	}()
	if !allServing(s.c) {
		return // the fault failed and left a node down: nothing to settle
	}
	// Every node is back: a leader known to all, then the fence.
	l := s.leader(t, s.c.nodes)
	r.leaderNow = l.id
	final := w.settle(t)
	r.verdict = w.check(t, s.state)
	r.writeP50 = w.writeP50()
	// The leader of the moment publishes the answer to the stand-in.
	r53 := time.Now()
	testutil.WaitFor(t, 30*time.Second, func() bool {
		got := s.c.published()
		return len(got) == 1 && got[0] == backendIP(0)
	}, "the Route 53 stand-in to hold www.example.com. A %s", backendIP(0))
	r.route53 = time.Since(r53)
	s.state = final
	for i, d := range s.loops {
		got := d.counts().sub(before[i])
		r.dns = append(r.dns, got)
		if got.failed > 0 {
			t.Errorf("%s: %d of %d DNS queries failed while it was serving: %v", d.n.id, got.failed, got.sent, d.failures())
		}
		if got.unwanted > 0 {
			t.Errorf("%s: %d of %d answers were not us-east-1: an endpoint flipped: %v", d.n.id, got.unwanted, got.sent, d.failures())
		}
	}
	t.Logf("%s: dns %s; new leader %s; failover %s; acked writes p50 %s; porcupine %s", f.name, fmtDNS(r.dns), r.leader, r.failover, r.writeP50.Round(time.Millisecond), r.verdict)
}

func fmtDNS(ds []dnsCounts) string {
	var parts []string
	for i, d := range ds {
		parts = append(parts, fmt.Sprintf("node%d %d/%d failed (%d late)", i+1, d.failed, d.sent, d.late))
	}
	return strings.Join(parts, ", ")
}

// table returns the per-fault figures as a Markdown table.
func (s *suite) table() string {
	var b strings.Builder
	b.WriteString("| fault | DNS queries failed / counted (node1, node2, node3) | wrong answers | time to a new leader | failover time | acked write p50 | Route 53 stand-in in sync | porcupine |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.res {
		if r.skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped: %s | | | | | | |\n", r.name, r.skipped)
			continue
		}
		var dns []string
		wrong, late := int64(0), int64(0)
		for _, d := range r.dns {
			dns = append(dns, fmt.Sprintf("%d/%d", d.failed, d.sent))
			wrong += d.unwanted
			late += d.late
		}
		if late > 0 {
			dns = append(dns, fmt.Sprintf("(%d late)", late))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.name, strings.Join(dns, ", "), wrong, r.leader, r.failover, r.writeP50.Round(time.Millisecond), r.route53.Round(time.Millisecond), r.verdict)
	}
	return b.String()
}

// leader waits until every node of among agrees on a leader that is one
// of them, and returns it.
func (s *suite) leader(t *testing.T, among []*node) *node {
	t.Helper()
	var got *node
	testutil.WaitFor(t, 30*time.Second, func() bool {
		got = s.agreed(t, among)
		return got != nil
	}, "a leader agreed by %s", ids(among))
	return got
}

// agreed returns the leader every node of among names, when they agree
// and it is one of them.
func (s *suite) agreed(t *testing.T, among []*node) *node {
	id := ""
	for _, n := range among {
		st, err := s.c.status(t, n)
		if err != nil || st.LeaderID == "" || (id != "" && st.LeaderID != id) {
			return nil
		}
		id = st.LeaderID
	}
	for _, n := range among {
		if n.id == id {
			return n
		}
	}
	return nil
}

// newLeader waits until the nodes of among agree on a leader other than
// old and returns it with the time since start.
func (s *suite) newLeader(t *testing.T, among []*node, old *node, start time.Time) (*node, time.Duration) {
	t.Helper()
	var got *node
	testutil.WaitFor(t, 30*time.Second, func() bool {
		got = s.agreed(t, among)
		return got != nil && got != old
	}, "a new leader among %s", ids(among))
	return got, time.Since(start)
}

func ids(ns []*node) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.id)
	}
	return strings.Join(out, ",")
}

// others returns the nodes other than n.
func (s *suite) others(n *node) []*node {
	var out []*node
	for _, o := range s.c.nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// follower returns a node that is not the current leader.
func (s *suite) follower(t *testing.T) (leader, follower *node) {
	t.Helper()
	l := s.leader(t, s.c.nodes)
	return l, s.others(l)[0]
}

// restart starts a stopped node again and waits until it is ready.
func (s *suite) restart(t *testing.T, n *node) {
	t.Helper()
	n.start(t, s.c.bin)
	s.c.waitReady(t, n, 30*time.Second)
}

// afterHeal is how long the workload keeps running after a fault is
// healed.
const afterHeal = 2 * time.Second

// latencyDelay is the relay's delay per direction.
const latencyDelay = 50 * time.Millisecond

// delayLinks routes the traffic between node n and its peers, both ways,
// through a TUN relay that delays each packet by d: n reaches its peers
// over a point-to-point TUN link to the bridge namespace, which forwards
// onto the bridge, and the peers reach n through the bridge namespace.
// Everything is undone at the end of the test (t.Cleanup). It returns the
// time a TCP connection from n to a peer takes to open.
func (s *suite) delayLinks(t *testing.T, n *node, peers []*node, d time.Duration) time.Duration {
	t.Helper()
	l := s.c.lab
	br := l.ns("br")
	ta, tb := l.prefix+"ta", l.prefix+"tb"
	rl, err := startRelay(ta, tb, d)
	if err != nil {
		t.Fatalf("start the TUN relay: %v", err)
	}
	t.Cleanup(rl.close)
	const hop, routerIP, tunA, tunB = 24, "198.18.0.254", "198.18.1.1", "198.18.1.2"
	run(t, "ip", "link", "set", ta, "netns", n.ns)
	run(t, "ip", "link", "set", tb, "netns", br)
	run(t, "ip", "-n", n.ns, "addr", "add", tunA, "peer", tunB, "dev", ta)
	run(t, "ip", "-n", n.ns, "link", "set", ta, "up")
	run(t, "ip", "-n", br, "addr", "add", tunB, "peer", tunA, "dev", tb)
	run(t, "ip", "-n", br, "link", "set", tb, "up")
	if out, _ := runErr("ip", "-n", br, "addr", "show", "dev", "br0"); !strings.Contains(out, routerIP) {
		run(t, "ip", "-n", br, "addr", "add", fmt.Sprintf("%s/%d", routerIP, hop), "dev", "br0")
	}
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"} {
		run(t, "ip", "netns", "exec", br, "sysctl", "-qw", kv)
	}
	run(t, "ip", "-n", br, "route", "add", n.ip+"/32", "dev", tb)
	for _, p := range peers {
		run(t, "ip", "-n", n.ns, "route", "add", p.ip+"/32", "dev", ta, "src", n.ip)
		run(t, "ip", "-n", p.ns, "route", "add", n.ip+"/32", "via", routerIP, "dev", "eth0")
	}
	t.Cleanup(func() {
		for _, p := range peers {
			_, _ = runErr("ip", "-n", p.ns, "route", "del", n.ip+"/32")
		}
		// The routes through the TUN devices go with the devices.
	})
	begin := time.Now()
	c, err := dialer(n.ns)(t.Context(), "tcp", fmt.Sprintf("%s:%d", peers[0].ip, apiPort))
	if err != nil {
		t.Fatalf("connect from %s to %s through the relay: %v", n.id, peers[0].id, err)
	}
	took := time.Since(begin)
	c.Close()
	return took
}

// hold keeps a fault in place for d while the workload and the DNS loops
// run (the test observes; nothing waits on it).
func hold(d time.Duration) { time.Sleep(d) }

// cut drops every packet between node n and the nodes in peers, both
// ways, in n's namespace.
func (s *suite) cut(t *testing.T, n *node, peers []*node, inbound, outbound bool) {
	t.Helper()
	var addrs []string
	for _, p := range peers {
		addrs = append(addrs, p.ip)
	}
	set := "{ " + strings.Join(addrs, ", ") + " }"
	var b strings.Builder
	b.WriteString("table inet chaos {\n")
	if inbound {
		fmt.Fprintf(&b, "  chain in {\n    type filter hook input priority 0; policy accept;\n    ip saddr %s counter drop\n  }\n", set)
	}
	if outbound {
		fmt.Fprintf(&b, "  chain out {\n    type filter hook output priority 0; policy accept;\n    ip daddr %s counter drop\n  }\n", set)
	}
	b.WriteString("}\n")
	nftIn(t, n.ns, b.String())
}

// heal removes n's chaos table, failing the test when its rules dropped
// nothing (the fault was not in the path).
func (s *suite) heal(t *testing.T, n *node) {
	t.Helper()
	if d := nftDropped(t, n.ns, "inet chaos"); d == 0 {
		t.Errorf("the chaos rules in %s dropped no packet: the fault did not apply", n.id)
	} else {
		t.Logf("the chaos rules in %s dropped %d packets", n.id, d)
	}
	nftDelete(t, n.ns, "inet chaos")
}

// ownView returns node n's committed view of endpoint ep of the www pool,
// as n itself reports it.
func (s *suite) ownView(t *testing.T, n *node, ep string) (healthy, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ps, err := s.c.client(t, n).Pool(ctx, dnsName)
	if err != nil {
		return false, false
	}
	for _, e := range ps.Endpoints {
		if e.Name != ep {
			continue
		}
		for _, v := range e.Views {
			if v.Node == n.id {
				return v.Healthy, true
			}
		}
	}
	return false, false
}

// effective returns the effective health of endpoint ep of the www pool
// on node n.
func (s *suite) effective(t *testing.T, n *node, ep string) (api.EndpointStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ps, err := s.c.client(t, n).Pool(ctx, dnsName)
	if err != nil {
		return api.EndpointStatus{}, err
	}
	for _, e := range ps.Endpoints {
		if e.Name == ep {
			return e, nil
		}
	}
	return api.EndpointStatus{}, fmt.Errorf("no endpoint %s", ep)
}

// answersEverywhere reports whether every node answers www with addr.
func (s *suite) answersEverywhere(addr string) bool {
	for _, n := range s.c.nodes {
		if queryFrom(s.c.lab.ns("cl"), n.dnsAddr(), dnsName) != addr {
			return false
		}
	}
	return true
}

// converge polls until every node answers www with addr and returns the
// time since start.
func (s *suite) converge(t *testing.T, start time.Time, timeout time.Duration, addr string) time.Duration {
	t.Helper()
	for !s.answersEverywhere(addr) {
		if time.Since(start) > timeout {
			t.Fatalf("the nodes do not all answer %s with %s after %s", dnsName, addr, timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a measurement
	}
	return time.Since(start)
}

func faultList() []fault {
	return []fault{
		{name: "prober-only network failure", slug: "prober", run: func(t *testing.T, s *suite, r *result) {
			n := s.c.nodes[2]
			nftIn(t, n.ns, fmt.Sprintf("table inet chaos {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    ip daddr %s counter drop\n  }\n}\n", backendIP(0)))
			start := time.Now()
			testutil.WaitFor(t, 20*time.Second, func() bool {
				h, ok := s.ownView(t, n, "us-east-1")
				return ok && !h
			}, "%s's own view of us-east-1 to say down", n.id)
			t.Logf("%s's view of us-east-1 says down %s after its path broke", n.id, time.Since(start).Round(time.Millisecond))
			hold(4 * checkInterval) // the DNS loops check every answer meanwhile
			for _, o := range s.c.nodes {
				e, err := s.effective(t, o, "us-east-1")
				if err != nil || !e.Healthy || e.Unhealthy != 1 {
					t.Errorf("%s sees us-east-1 as %+v (%v), want effective up with one unhealthy view", o.id, e, err)
				}
			}
			s.heal(t, n)
			testutil.WaitFor(t, 20*time.Second, func() bool {
				h, ok := s.ownView(t, n, "us-east-1")
				return ok && h
			}, "%s's own view of us-east-1 to say up again", n.id)
		}},
		{name: "follower SIGKILL", slug: "fkill", run: func(t *testing.T, s *suite, r *result) {
			l, f := s.follower(t)
			f.stop(syscall.SIGKILL)
			hold(3 * time.Second)
			if got := s.leader(t, s.others(f)); got != l {
				t.Errorf("the leader changed from %s to %s when follower %s died", l.id, got.id, f.id)
			}
			r.leader = "no change"
			s.restart(t, f)
		}},
		{name: "leader SIGKILL", slug: "lkill", run: func(t *testing.T, s *suite, r *result) {
			l := s.leader(t, s.c.nodes)
			start := time.Now()
			l.stop(syscall.SIGKILL)
			nl, took := s.newLeader(t, s.others(l), l, start)
			r.leader = fmt.Sprintf("%s (%s)", took.Round(time.Millisecond), nl.id)
			hold(time.Second)
			s.restart(t, l)
		}},
		{name: "leader SIGSTOP, then SIGCONT", slug: "lstop", run: func(t *testing.T, s *suite, r *result) {
			l := s.leader(t, s.c.nodes)
			start := time.Now()
			l.serving.Store(false)
			l.signal(syscall.SIGSTOP)
			nl, took := s.newLeader(t, s.others(l), l, start)
			r.leader = fmt.Sprintf("%s (%s)", took.Round(time.Millisecond), nl.id)
			hold(time.Second)
			l.signal(syscall.SIGCONT)
			s.c.waitReady(t, l, 30*time.Second)
		}},
		{name: "minority partition (a follower cut off)", slug: "minority", run: func(t *testing.T, s *suite, r *result) {
			l, f := s.follower(t)
			s.cut(t, f, s.others(f), true, true)
			hold(4 * time.Second)
			if got := s.leader(t, s.others(f)); got != l {
				t.Errorf("the majority's leader changed from %s to %s", l.id, got.id)
			}
			r.leader = "no change"
			start := time.Now()
			s.heal(t, f)
			s.c.waitReady(t, f, 30*time.Second)
			if got := s.leader(t, s.c.nodes); got != l {
				r.leader = fmt.Sprintf("no change; after healing %s leads (%s)", got.id, time.Since(start).Round(time.Millisecond))
			}
		}},
		{name: "isolated leader", slug: "isolated", run: func(t *testing.T, s *suite, r *result) {
			l := s.leader(t, s.c.nodes)
			start := time.Now()
			s.cut(t, l, s.others(l), true, true)
			nl, took := s.newLeader(t, s.others(l), l, start)
			r.leader = fmt.Sprintf("%s (%s)", took.Round(time.Millisecond), nl.id)
			hold(2 * time.Second)
			s.heal(t, l)
			s.c.waitReady(t, l, 30*time.Second)
		}},
		{name: "one-way link (a follower hears nothing from the leader)", slug: "oneway", run: func(t *testing.T, s *suite, r *result) {
			l, f := s.follower(t)
			start := time.Now()
			s.cut(t, f, []*node{l}, true, false)
			// Watch whether the leadership moves while the link is half
			// broken.
			changed := time.Duration(0)
			var who *node
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && changed == 0 {
				for _, o := range s.c.nodes {
					if st, err := s.c.status(t, o); err == nil && st.Role == "leader" && o != l {
						changed, who = time.Since(start), o
					}
				}
				time.Sleep(20 * time.Millisecond) // polling interval of an observation window
			}
			if changed > 0 {
				r.leader = fmt.Sprintf("%s (%s)", changed.Round(time.Millisecond), who.id)
			} else {
				r.leader = "no change in 5s"
			}
			s.heal(t, f)
			for _, n := range s.c.nodes {
				s.c.waitReady(t, n, 30*time.Second)
			}
		}},
		{name: "added latency: the leader's links to its peers +100 ms RTT (TUN relay)", slug: "latency", run: func(t *testing.T, s *suite, r *result) {
			l := s.leader(t, s.c.nodes)
			start := time.Now()
			rtt := s.delayLinks(t, l, s.others(l), latencyDelay)
			t.Logf("TCP connect from %s to a peer takes %s with the relay in place", l.id, rtt.Round(time.Millisecond))
			if rtt < 2*latencyDelay*9/10 {
				t.Errorf("connect time %s through the relay, want about %s: the delay is not in the path", rtt, 2*latencyDelay)
			}
			var moved *node
			deadline := time.Now().Add(6 * time.Second)
			for time.Now().Before(deadline) && moved == nil {
				if got := s.agreed(t, s.c.nodes); got != nil && got != l {
					moved = got
				}
				time.Sleep(50 * time.Millisecond) // polling interval of an observation window
			}
			if moved != nil {
				r.leader = fmt.Sprintf("%s (%s)", time.Since(start).Round(time.Millisecond), moved.id)
			} else {
				r.leader = "no change in 6s"
			}
		}},
		{name: "10% packet loss between nodes and backends, failover under it", slug: "loss", run: func(t *testing.T, s *suite, r *result) {
			br := s.c.lab.ns("br")
			var b strings.Builder
			b.WriteString("table netdev chaos {\n")
			for _, h := range []string{"n1", "n2", "n3", "b1", "b2", "b3"} {
				fmt.Fprintf(&b, "  chain in_%s {\n    type filter hook ingress device %q priority 0; policy accept;\n    ip saddr != %s ip daddr != %s numgen random mod 100 < 10 counter drop\n    ip saddr != %s ip daddr != %s counter comment \"passed\"\n  }\n",
					h, s.c.lab.port(h), clientIP, clientIP, clientIP, clientIP)
			}
			b.WriteString("}\n")
			var termBefore uint64
			if st, err := s.c.status(t, s.c.nodes[0]); err == nil {
				termBefore = st.Term
			}
			nftIn(t, br, b.String())
			defer func() {
				all := nftDropped(t, br, "netdev chaos") // dropped + passed
				passed := nftPassed(t, br, "netdev chaos")
				dropped := all - passed
				share := 100 * float64(dropped) / float64(max(all, 1))
				t.Logf("the loss rules dropped %d of %d packets (%.1f%%)", dropped, all, share)
				if dropped == 0 || share < 5 || share > 15 {
					t.Errorf("the loss rules dropped %d of %d packets (%.1f%%), want about 10%%", dropped, all, share)
				}
				nftDelete(t, br, "netdev chaos")
			}()
			hold(3 * time.Second)
			s.want.Store("")
			defer s.want.Store(backendIP(0))
			us := s.c.backends[0]
			start := time.Now()
			us.failing.Store(true)
			took := s.converge(t, start, 30*time.Second, backendIP(1))
			r.failover = fmt.Sprintf("%s (bound %s)", took.Round(time.Millisecond), failoverBound)
			testutil.WaitFor(t, 30*time.Second, func() bool {
				got := s.c.published()
				return len(got) == 1 && got[0] == backendIP(1)
			}, "the Route 53 stand-in to publish eu-west-1")
			r.failover += fmt.Sprintf("; Route 53 stand-in %s", time.Since(start).Round(time.Millisecond))
			if took > failoverBound+failoverSlack {
				t.Errorf("failover under 10%% loss took %s, over the bound %s plus %s of slack", took, failoverBound, failoverSlack)
			}
			us.failing.Store(false)
			back := s.converge(t, time.Now(), 30*time.Second, backendIP(0))
			t.Logf("under 10%% loss: failover in %s, failback in %s (rise 2)", took, back)
			if st, err := s.c.status(t, s.c.nodes[0]); err == nil {
				r.leader = fmt.Sprintf("term %d -> %d during the loss", termBefore, st.Term)
			}
		}},
		{name: "full-cluster restart", slug: "restart", run: func(t *testing.T, s *suite, r *result) {
			var stops []string
			for _, n := range s.c.nodes {
				took, forced := n.stop(syscall.SIGTERM)
				stops = append(stops, fmt.Sprintf("%s %s", n.id, took.Round(time.Millisecond)))
				if forced {
					t.Errorf("%s did not exit within 10 s of SIGTERM; its goroutines (SIGQUIT) are in its log", n.id)
				}
			}
			t.Logf("SIGTERM to exit: %s", strings.Join(stops, ", "))
			start := time.Now()
			for _, n := range s.c.nodes {
				n.start(t, s.c.bin)
			}
			l := s.leader(t, s.c.nodes)
			r.leader = fmt.Sprintf("%s (%s)", time.Since(start).Round(time.Millisecond), l.id)
			var readyAt []string
			for _, n := range s.c.nodes {
				s.c.waitReady(t, n, 60*time.Second)
				readyAt = append(readyAt, fmt.Sprintf("%s %s", n.id, time.Since(start).Round(time.Millisecond)))
			}
			r.leader += "; ready: " + strings.Join(readyAt, ", ")
		}},
	}
}
