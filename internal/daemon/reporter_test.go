package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/probe"
)

// fakeLeader stands in for the cluster: it names the leader and records
// the reports sent to it, failing them while fail is set and holding them
// while gate is set.
type fakeLeader struct {
	mu       sync.Mutex
	id       string
	fail     error
	gate     chan struct{}
	entered  chan struct{}    // receives when a send waits at gate
	reports  []api.ViewReport // accepted
	attempts int
	verdicts []probe.Verdict
	degraded bool
}

func (f *fakeLeader) leader() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id == "" {
		return "", ""
	}
	return f.id, "http://127.0.0.1:1"
}

func (f *fakeLeader) send(ctx context.Context, leaderID, apiAddr string, r api.ViewReport) error {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		f.entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.fail != nil {
		return f.fail
	}
	f.reports = append(f.reports, r)
	return nil
}

func (f *fakeLeader) set(fn func(f *fakeLeader)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// waitReports waits until n reports were accepted and returns the n-th.
func (f *fakeLeader) waitReports(t *testing.T, n int) api.ViewReport {
	t.Helper()
	var r api.ViewReport
	testutil.WaitFor(t, 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.reports) < n {
			return false
		}
		r = f.reports[n-1]
		return true
	}, "report %d", n)
	return r
}

func verdict(ep string, healthy bool) probe.Verdict {
	return probe.Verdict{Target: probe.Target{Pool: "www.example.test.", Endpoint: ep}, Healthy: healthy,
		Evidence: []probe.Result{{OK: healthy, Class: map[bool]string{true: "ok", false: "timeout"}[healthy],
			Duration: 3 * time.Millisecond}}}
}

// viewsText formats a report's views as "a=up b=down".
func viewsText(r api.ViewReport) string {
	s := ""
	for _, v := range r.Views {
		state := "down"
		if v.Healthy {
			state = "up"
		}
		s += fmt.Sprintf("%s=%s ", v.Endpoint, state)
	}
	return s
}

func startReporter(t *testing.T, f *fakeLeader) *reporter {
	t.Helper()
	r := &reporter{
		nodeID:   "node2",
		log:      testutil.Logger(t, slog.LevelError),
		leader:   f.leader,
		send:     f.send,
		verdicts: func() []probe.Verdict { f.mu.Lock(); defer f.mu.Unlock(); return f.verdicts },
		degraded: func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.degraded },
		timeout:  time.Second,
		retryMin: 5 * time.Millisecond,
		retryMax: 20 * time.Millisecond,
		wake:     make(chan struct{}, 1),
		pending:  make(map[probe.Target]policy.ViewUpdate),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

func TestReporter(t *testing.T) {
	f := &fakeLeader{id: "node1", verdicts: []probe.Verdict{verdict("a", true)}}
	r := startReporter(t, f)

	// At start: a full report of the current verdicts, with the
	// degraded flag and the evidence converted.
	first := f.waitReports(t, 1)
	if !first.Full || first.Node != "node2" || first.Degraded == nil || *first.Degraded || viewsText(first) != "a=up " {
		t.Fatalf("first report = %+v, want full with a=up", first)
	}
	if ev := first.Views[0].Evidence; len(ev) != 1 || ev[0].Class != "ok" || ev[0].Duration != policy.Duration(3*time.Millisecond) {
		t.Errorf("evidence = %+v", ev)
	}

	// A batch of flips is one report of just those flips.
	f.set(func(f *fakeLeader) { f.verdicts = []probe.Verdict{verdict("a", true), verdict("b", false)} })
	r.onFlip([]probe.Verdict{verdict("b", false)})
	if got := f.waitReports(t, 2); got.Full || viewsText(got) != "b=down " {
		t.Errorf("flip report = %+v, want b=down only", got)
	}

	// While no leader is known, flips are coalesced: the latest verdict
	// per endpoint is what goes out, in one report.
	f.set(func(f *fakeLeader) { f.id = "" })
	r.onFlip([]probe.Verdict{verdict("a", false)})
	r.onFlip([]probe.Verdict{verdict("a", true), verdict("b", true)})
	r.onFlip([]probe.Verdict{verdict("a", false)})
	f.set(func(f *fakeLeader) {
		f.verdicts = []probe.Verdict{verdict("a", false), verdict("b", true)}
		f.id = "node1" // the same leader: no full report needed
	})
	r.poke()
	if got := f.waitReports(t, 3); got.Full || viewsText(got) != "a=down b=up " {
		t.Errorf("coalesced report = %+v, want a=down b=up, not full", got)
	}

	// The prober never waits for the cluster: flips queue while a report
	// hangs.
	gate := make(chan struct{})
	f.set(func(f *fakeLeader) { f.gate, f.entered = gate, make(chan struct{}, 1) })
	r.onFlip([]probe.Verdict{verdict("b", false)})
	<-f.entered // the report of b is on its way and hangs
	for range 1000 {
		r.onFlip([]probe.Verdict{verdict("a", true)})
	}
	f.set(func(f *fakeLeader) { f.gate = nil })
	close(gate)
	if got := f.waitReports(t, 4); viewsText(got) != "b=down " {
		t.Errorf("hung report = %+v, want b=down", got)
	}
	if got := f.waitReports(t, 5); viewsText(got) != "a=up " {
		t.Errorf("report after the hung one = %+v, want the 1000 flips of a as one a=up", got)
	}

	// Failed reports are retried with backoff, then a full report with
	// the current verdicts replaces whatever was pending.
	var before int
	f.set(func(f *fakeLeader) { f.fail, before = errors.New("leader unreachable"), f.attempts })
	r.onFlip([]probe.Verdict{verdict("b", true)})
	testutil.WaitFor(t, 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.attempts >= before+3
	}, "three failed attempts")
	f.set(func(f *fakeLeader) {
		f.verdicts = []probe.Verdict{verdict("a", true), verdict("b", true), verdict("c", false)}
		f.fail = nil
	})
	n := 5
	if got := f.waitReports(t, n+1); !got.Full || viewsText(got) != "a=up b=up c=down " {
		t.Errorf("report after failures = %+v, want full a=up b=up c=down", got)
	}

	// A new leader gets a full report, even with nothing pending; a
	// degraded change is reported.
	f.set(func(f *fakeLeader) { f.id, f.degraded = "node3", true })
	r.poke()
	if got := f.waitReports(t, n+2); !got.Full || viewsText(got) != "a=up b=up c=down " || !*got.Degraded {
		t.Errorf("report to a new leader = %+v, want full and degraded", got)
	}
	f.set(func(f *fakeLeader) { f.degraded = false })
	r.onDegraded(false)
	if got := f.waitReports(t, n+3); got.Full || len(got.Views) != 0 || *got.Degraded {
		t.Errorf("degraded report = %+v, want no views, degraded false", got)
	}
	st := ReportStats{}
	r.mu.Lock()
	st.Sent, st.Full, st.Failed = r.sent, r.full, r.failed
	r.mu.Unlock()
	if st.Sent != n+3 || st.Failed < 3 || st.Full != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSourceDialer(t *testing.T) {
	src := netip.MustParseAddr("127.0.0.5")
	dial := sourceDialer(src)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dial(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := netip.MustParseAddrPort(s.RemoteAddr().String()).Addr(); got != src {
		t.Errorf("tcp connection came from %s, want %s", got, src)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	u, err := dial(t.Context(), "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := pc.ReadFrom(make([]byte, 8))
	if err != nil {
		t.Fatal(err)
	}
	if got := netip.MustParseAddrPort(from.String()).Addr(); got != src {
		t.Errorf("udp datagram came from %s, want %s", got, src)
	}
}
