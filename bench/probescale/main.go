// Command probescale measures the probe package at scale: it probes many
// endpoints at a short interval against local listeners and reports the
// CPU, memory and probe rate of the probing process.
//
// The listeners run in a child process (the same binary with -serve), so
// that the figures are the prober's alone. Only 127.0.0.0/8 is used.
//
//	go run ./bench/probescale -endpoints 10000 -interval 1s -duration 30s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/probe"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "probescale:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("probescale", flag.ContinueOnError)
	var (
		serve       = fs.Bool("serve", false, "run the listeners (child mode)")
		listeners   = fs.Int("listeners", 64, "number of local listeners (spread over 127.0.0.2..)")
		endpoints   = fs.Int("endpoints", 10000, "number of endpoints")
		perPool     = fs.Int("per-pool", 100, "endpoints per pool")
		interval    = fs.Duration("interval", time.Second, "check interval")
		timeout     = fs.Duration("timeout", 500*time.Millisecond, "check timeout")
		duration    = fs.Duration("duration", 30*time.Second, "measured run time")
		warmup      = fs.Duration("warmup", 3*time.Second, "run time before measuring")
		checkType   = fs.String("type", "http", "check type: http, tcp or mix (half each)")
		concurrency = fs.Int("concurrency", 0, "probe.Config.Concurrency (0: default)")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
		outage      = fs.Bool("outage", false, "after measuring, stop every listener and count the flip batches until every endpoint is unhealthy")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := raiseFileLimit(); err != nil {
		return err
	}
	if *serve {
		return serveListeners(*listeners, out)
	}

	// Start the listeners in a child process and read their addresses.
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	child := exec.Command(self, "-serve", "-listeners", strconv.Itoa(*listeners))
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		return fmt.Errorf("child stdout: %w", err)
	}
	if err := child.Start(); err != nil {
		return fmt.Errorf("start listeners: %w", err)
	}
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	}()
	var addrs []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		addrs = append(addrs, sc.Text())
	}
	if len(addrs) == 0 {
		return errors.New("the listener process reported no addresses")
	}

	spec := buildSpec(addrs, *endpoints, *perPool, *checkType, *interval, *timeout)
	var flips flipCounter
	p, err := probe.New(probe.Config{NodeID: "bench", Concurrency: *concurrency}, flips.add)
	if err != nil {
		return err
	}
	updateStart := time.Now()
	if err := p.Update(spec); err != nil {
		return err
	}
	updateTook := time.Since(updateStart)
	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer prof.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	time.Sleep(*warmup)
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	s0, ru0, t0 := p.Stats(), rusage(syscall.RUSAGE_SELF), time.Now()
	cu0 := childCPU(child.Process.Pid)
	var peakRSS int64
	for end := t0.Add(*duration); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond)
		peakRSS = max(peakRSS, rssKiB())
	}
	s1, ru1, wall := p.Stats(), rusage(syscall.RUSAGE_SELF), time.Since(t0)
	cu1 := childCPU(child.Process.Pid)
	var outageReport string
	if *outage {
		outageReport = measureOutage(p, child.Process, &flips, *endpoints)
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}

	cpu := (ru1 - ru0).Seconds() / wall.Seconds()
	probes := s1.Probes - s0.Probes
	fmt.Fprintf(out, "endpoints %d (%s checks) interval %s timeout %s listeners %d, measured %s after %s warm-up, GOMAXPROCS %d\n",
		*endpoints, *checkType, *interval, *timeout, len(addrs), wall.Round(time.Millisecond), *warmup, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "Update (compile %d checks): %s\n", *endpoints, updateTook.Round(time.Millisecond))
	fmt.Fprintf(out, "prober CPU:        %.2f cores\n", cpu)
	if probes > 0 {
		per := (ru1 - ru0) / time.Duration(probes)
		fmt.Fprintf(out, "CPU per probe:     %s (%.2f cores at %.0f probes/s)\n",
			per.Round(time.Microsecond), per.Seconds()*float64(*endpoints)/interval.Seconds(), float64(*endpoints)/interval.Seconds())
	}
	fmt.Fprintf(out, "prober RSS:        %.0f MB peak (sampled every 0.5s)\n", float64(peakRSS)/1024)
	fmt.Fprintf(out, "probes/s:          %.0f (expected %.0f)\n", float64(probes)/wall.Seconds(), float64(*endpoints)/interval.Seconds())
	fmt.Fprintf(out, "failed probes:     %d\n", s1.Failures-s0.Failures)
	fmt.Fprintf(out, "turns skipped:     %d (check still running, or no free slot in time)\n", s1.Skipped-s0.Skipped)
	fmt.Fprintf(out, "overlapping probes: %d\n", s1.Overlaps)
	fmt.Fprintf(out, "listener process CPU: %.2f cores (not counted above)\n", (cu1-cu0).Seconds()/wall.Seconds())
	fmt.Fprintf(out, "probe duration:    %s\n", durations(p, spec))
	if outageReport != "" {
		fmt.Fprint(out, outageReport)
	}
	for _, r := range sampleFailures(p, spec) {
		fmt.Fprintf(out, "  sample failure: %s %s: %s\n", r.Class, r.Address, r.Error)
	}
	return nil
}

// buildSpec spreads n endpoints over pools of perPool, each probing one
// of addrs through check_address.
func buildSpec(addrs []string, n, perPool int, typ string, interval, timeout time.Duration) *policy.Spec {
	spec := &policy.Spec{}
	for i := 0; i < n; i += perPool {
		t := typ
		if typ == "mix" {
			t = []string{"http", "tcp"}[(i/perPool)%2]
		}
		pool := policy.Pool{
			Name:   fmt.Sprintf("pool%d.bench.test.", i/perPool),
			Policy: policy.PolicyFailover,
			Check: policy.Check{Type: t, Path: "/health", ExpectStatus: []policy.StatusRange{{Lo: 200, Hi: 200}},
				Interval: policy.Duration(interval), Timeout: policy.Duration(timeout), Rise: 2, Fall: 3},
		}
		for k := i; k < min(i+perPool, n); k++ {
			a := addrs[k%len(addrs)]
			host, _, _ := net.SplitHostPort(a)
			pool.Endpoints = append(pool.Endpoints, policy.Endpoint{
				Name: fmt.Sprintf("e%d", k), Addresses: []string{host}, CheckAddress: a,
			})
		}
		spec.Pools = append(spec.Pools, pool)
	}
	return spec
}

// flipCounter counts the batches of flips a Prober delivers and the
// endpoints whose latest verdict is unhealthy.
type flipCounter struct {
	mu      sync.Mutex
	batches int
	down    map[probe.Target]bool
	last    time.Time
}

func (f *flipCounter) add(vs []probe.Verdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == nil {
		f.down = make(map[probe.Target]bool)
	}
	f.batches++
	for _, v := range vs {
		if v.Healthy {
			delete(f.down, v.Target)
		} else {
			f.down[v.Target] = true
		}
	}
	f.last = time.Now()
}

func (f *flipCounter) get() (batches, unhealthy int, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches, len(f.down), f.last
}

// measureOutage stops every listener (SIGUSR1 to the listener process)
// and waits until every endpoint has flipped to unhealthy, counting the
// batches of flips that took.
func measureOutage(p *probe.Prober, listeners *os.Process, flips *flipCounter, n int) string {
	b0, u0, _ := flips.get()
	start := time.Now()
	if err := listeners.Signal(syscall.SIGUSR1); err != nil {
		return fmt.Sprintf("outage: signal listeners: %v\n", err)
	}
	deadline := start.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, u, _ := flips.get(); u >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b1, u1, last := flips.get()
	return fmt.Sprintf("outage: %d endpoints went unhealthy (%d already were) in %d flip batches; the last flip %s after the listeners closed\n",
		u1-u0, u0, b1-b0, last.Sub(start).Round(time.Millisecond))
}

// durations summarises the durations of the kept results.
func durations(p *probe.Prober, spec *policy.Spec) string {
	var ds []time.Duration
	for _, pool := range spec.Pools {
		for _, ep := range pool.Endpoints {
			for _, r := range p.Results(probe.Target{Pool: pool.Name, Endpoint: ep.Name}) {
				ds = append(ds, r.Duration)
			}
		}
	}
	if len(ds) == 0 {
		return "no results"
	}
	slices.Sort(ds)
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))].Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s (last %d results)", q(0.5), q(0.9), q(0.99), ds[len(ds)-1].Round(10*time.Microsecond), len(ds))
}

// sampleFailures returns up to three recent failed results.
func sampleFailures(p *probe.Prober, spec *policy.Spec) []probe.Result {
	var out []probe.Result
	for _, pool := range spec.Pools {
		for _, ep := range pool.Endpoints {
			for _, r := range p.Results(probe.Target{Pool: pool.Name, Endpoint: ep.Name}) {
				if !r.OK && len(out) < 3 {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// serveListeners answers HTTP on n listeners on 127.0.0.2 and up, prints
// their addresses and "ready", and serves until SIGTERM. Each connection
// gets one fixed response after its request has been read, then is
// closed: the cheapest server that is still a real HTTP peer, so that
// the shared machine's CPU goes to the prober being measured.
func serveListeners(n int, out io.Writer) error {
	var ls []net.Listener
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 2+i%250)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		ls = append(ls, l)
		fmt.Fprintln(out, l.Addr().String())
		go acceptLoop(l)
	}
	fmt.Fprintln(out, "ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	outage := make(chan os.Signal, 1)
	signal.Notify(outage, syscall.SIGUSR1)
	defer signal.Stop(outage)
	select {
	case <-ctx.Done():
	case <-outage: // a regional outage: every listener goes away
		for _, l := range ls {
			_ = l.Close()
		}
		<-ctx.Done()
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return nil
}

// response is what every request gets.
var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

// acceptLoop serves the connections of l until it is closed. A connection
// that sends nothing (a tcp check) is simply closed when the peer goes.
func acceptLoop(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			var got []byte
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if bytes.Contains(got, []byte("\r\n\r\n")) {
					_, _ = c.Write(response)
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// raiseFileLimit raises the soft limit on open files to the hard limit.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("get file limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise file limit: %w", err)
	}
	return nil
}

// rusage returns the user plus system CPU time of who.
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU returns the CPU time of process pid from /proc.
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ = 100)
}

// rssKiB returns this process's resident set size in KiB.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
