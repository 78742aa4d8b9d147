package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detour-dns/detour/policy"
)

// Defaults of Config's zero fields.
const (
	DefaultConcurrency    = 1024
	DefaultHistory        = 20
	DefaultFlipWindow     = 100 * time.Millisecond
	DefaultBodyLimit      = 64 << 10
	DefaultCanaryInterval = 2 * time.Second
	DefaultCanaryTimeout  = time.Second
)

// A canary is down after canaryFall failures in a row and up again after
// canaryRise successes.
const (
	canaryRise = 1
	canaryFall = 2
)

// Config configures a Prober. The zero value of every field but NodeID
// means its default.
type Config struct {
	// NodeID names this node in logs.
	NodeID string
	// Concurrency bounds the number of probes in flight
	// (DefaultConcurrency). When every slot is busy, due probes wait.
	Concurrency int
	// History is how many results are kept per endpoint and canary
	// (DefaultHistory).
	History int
	// FlipWindow is the shortest time between two deliveries of flips
	// (DefaultFlipWindow): a flip after a quiet window is delivered at
	// once, and the flips that come while the window is open are
	// delivered together when it closes.
	FlipWindow time.Duration
	// BodyLimit is the most bytes of an HTTP body a probe reads; a longer
	// body fails the probe with ClassBody (DefaultBodyLimit).
	BodyLimit int64
	// Canaries are host:port addresses that this node should always
	// reach over tcp. When all of them fail, the prober is degraded.
	Canaries []string
	// CanaryInterval and CanaryTimeout schedule the canary probes
	// (DefaultCanaryInterval, DefaultCanaryTimeout).
	CanaryInterval time.Duration
	CanaryTimeout  time.Duration
	// OnDegraded, if set, is called with the new value whenever Degraded
	// changes. It is called from Run's delivery goroutine, never
	// concurrently with itself or with the flip callback.
	OnDegraded func(degraded bool)
	// OnResult, if set, is called with every finished probe of an
	// endpoint (canaries and probes cut short by shutdown excluded), from
	// the goroutine that ran it: many at once, so it must be safe for
	// concurrent use, fast and not block (the daemon counts results for
	// metrics).
	OnResult func(t Target, r Result)
	// RootCAs verifies https certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Dial opens the connection of every probe (network "tcp" or "udp");
	// nil means a net.Dialer. A udp connection must implement
	// net.PacketConn.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Logger receives flips (Info), degraded changes (Warn) and every
	// probe (Debug); nil discards.
	Logger *slog.Logger
	// Now stamps results and verdicts; nil means time.Now. Scheduling
	// uses the runtime's timers (tests run it in testing/synctest).
	Now func() time.Time
}

// Prober probes the endpoints of a spec and keeps this node's verdicts.
// Its methods are safe for concurrent use.
type Prober struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	dial   dialFunc
	onFlip func([]Verdict)

	// testChecker, when set (tests only), replaces the checker of every
	// job it returns non-nil for.
	testChecker func(Target) checker

	// readers recycles the buffered readers of HTTP probes, which would
	// otherwise be thousands of 4 KiB allocations a second.
	readers sync.Pool

	wake chan struct{} // pokes the scheduler (capacity 1)
	kick chan struct{} // pokes the delivery loop (capacity 1)

	probes   atomic.Uint64
	failures atomic.Uint64
	skipped  atomic.Uint64
	overlaps atomic.Uint64
	inFlight atomic.Int64

	mu              sync.Mutex
	started         bool               // Run was called; guarded by mu
	spec            *policy.Spec       // the last spec Update applied; guarded by mu
	hasSpec         bool               // Update succeeded at least once; guarded by mu
	jobs            map[Target]*job    // every endpoint and canary; guarded by mu
	queue           jobHeap            // scheduled jobs by next run; guarded by mu
	fresh           []*job             // jobs not yet scheduled; guarded by mu
	degraded        bool               // guarded by mu
	pending         map[Target]Verdict // flips not yet delivered; guarded by mu
	sent            map[Target]bool    // last delivered verdicts; guarded by mu
	degradedPending bool               // a degraded change awaits delivery; guarded by mu
}

// New returns a Prober with no endpoints (call Update) that delivers
// batches of flips to onFlip (nil: flips are only visible in Views).
// onFlip is called from Run's delivery goroutine, one batch at a time;
// while it runs, new flips gather into the next batch.
func New(cfg Config, onFlip func([]Verdict)) (*Prober, error) {
	switch {
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("probe config: concurrency %d is negative", cfg.Concurrency)
	case cfg.History < 0:
		return nil, fmt.Errorf("probe config: history %d is negative", cfg.History)
	case cfg.FlipWindow < 0, cfg.BodyLimit < 0, cfg.CanaryInterval < 0, cfg.CanaryTimeout < 0:
		return nil, errors.New("probe config: flip window, body limit and canary interval and timeout must not be negative")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.FlipWindow == 0 {
		cfg.FlipWindow = DefaultFlipWindow
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.CanaryInterval == 0 {
		cfg.CanaryInterval = DefaultCanaryInterval
	}
	if cfg.CanaryTimeout == 0 {
		cfg.CanaryTimeout = min(DefaultCanaryTimeout, cfg.CanaryInterval)
	}
	p := &Prober{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		dial:    cfg.Dial,
		onFlip:  onFlip,
		wake:    make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		jobs:    make(map[Target]*job),
		pending: make(map[Target]Verdict),
		sent:    make(map[Target]bool),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "probe")
	if cfg.NodeID != "" {
		p.log = p.log.With("node_id", cfg.NodeID)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.dial == nil {
		// No keep-alive: a probe connection lives for one request, and
		// the socket options would cost syscalls on every probe.
		d := &net.Dialer{KeepAlive: -1}
		p.dial = d.DialContext
	}
	for i, addr := range cfg.Canaries {
		host, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n < 1 || n > 65535 {
			return nil, fmt.Errorf("probe config: canaries[%d]: %q is not host:port", i, addr)
		}
		t := CanaryTarget(addr)
		if _, dup := p.jobs[t]; dup {
			return nil, fmt.Errorf("probe config: canaries[%d]: %q is listed twice", i, addr)
		}
		j := p.newJob(t, jobConfig{
			interval: cfg.CanaryInterval,
			timeout:  cfg.CanaryTimeout,
			rise:     canaryRise,
			fall:     canaryFall,
			checker:  &tcpChecker{dial: p.dial, addrs: []string{addr}},
		})
		p.jobs[t] = j
		p.fresh = append(p.fresh, j)
	}
	return p, nil
}

// Update makes the prober probe the endpoints of spec's pools (nil: none).
// Checks whose pool, endpoint and probe configuration are unchanged keep
// running with their history and verdict; changed ones start over with no
// verdict; removed ones stop, and their views disappear without a flip.
// If any check is invalid, Update returns every problem with its path and
// changes nothing. A published spec is immutable, so calling Update again
// with the same *policy.Spec (a new State that kept its spec) returns at
// once.
func (p *Prober) Update(spec *policy.Spec) error {
	p.mu.Lock()
	same := p.spec == spec && p.hasSpec
	p.mu.Unlock()
	if same {
		return nil
	}
	desired := make(map[Target]jobConfig)
	var errs []error
	if spec != nil {
		for i := range spec.Pools {
			pool := &spec.Pools[i]
			if pool.Name == "" {
				errs = append(errs, fmt.Errorf("pools[%d].name: missing", i))
				continue
			}
			for k := range pool.Endpoints {
				ep := &pool.Endpoints[k]
				path := fmt.Sprintf("pools[%d] (%s) endpoints[%d] (%s)", i, pool.Name, k, ep.Name)
				t := Target{Pool: pool.Name, Endpoint: ep.Name}
				if _, dup := desired[t]; dup {
					errs = append(errs, fmt.Errorf("%s: endpoint name used twice in the pool", path))
					continue
				}
				jc, err := p.compile(pool, ep)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", path, err))
					continue
				}
				desired[t] = jc
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("probe: invalid checks: %w", errors.Join(errs...))
	}

	var added, changed, removed, kept int
	p.mu.Lock()
	for t, j := range p.jobs {
		if t.IsCanary() {
			continue
		}
		jc, ok := desired[t]
		if ok && jc.key == j.key {
			kept++
			delete(desired, t)
			continue
		}
		if ok {
			changed++
		} else {
			removed++
		}
		p.removeLocked(j)
	}
	for t, jc := range desired {
		j := p.newJob(t, jc)
		p.jobs[t] = j
		p.fresh = append(p.fresh, j)
	}
	added = len(desired) - changed
	p.spec, p.hasSpec = spec, true
	p.mu.Unlock()
	poke(p.wake)
	p.log.Info("probe checks updated", "added", added, "changed", changed, "removed", removed, "kept", kept)
	return nil
}

// newJob returns a job for t with configuration jc.
func (p *Prober) newJob(t Target, jc jobConfig) *job {
	if p.testChecker != nil {
		if c := p.testChecker(t); c != nil {
			jc.checker = c
		}
	}
	return &job{
		target:   t,
		key:      jc.key,
		interval: jc.interval,
		timeout:  jc.timeout,
		checker:  jc.checker,
		hyst:     hysteresis{rise: jc.rise, fall: jc.fall},
		history:  ring{buf: make([]Result, p.cfg.History)},
		index:    -1,
	}
}

// removeLocked stops j and forgets its verdict. p.mu must be held.
func (p *Prober) removeLocked(j *job) {
	j.removed = true
	if j.index >= 0 {
		p.queue.remove(j)
	}
	delete(p.jobs, j.target)
	delete(p.pending, j.target)
	delete(p.sent, j.target)
}

// Results returns the last results of t, oldest first (nil if t is not
// probed). The slice is a copy.
func (p *Prober) Results(t Target) []Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.jobs[t]
	if !ok {
		return nil
	}
	return j.history.last(j.history.n)
}

// Views returns this node's current verdict for every endpoint that has
// one (true: healthy). Endpoints without a verdict yet are absent;
// canaries are not included. The caller may resend the whole map after a
// leader change.
func (p *Prober) Views() map[Target]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	views := make(map[Target]bool, len(p.jobs))
	for t, j := range p.jobs {
		if t.IsCanary() || j.hyst.state == stateUnknown {
			continue
		}
		views[t] = j.hyst.state == stateHealthy
	}
	return views
}

// Verdicts returns this node's current verdict for every endpoint that has
// one, each with the results that decided it, sorted by target: what a
// node resends after a leader change. The slices are copies to keep.
func (p *Prober) Verdicts() []Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	var vs []Verdict
	for t, j := range p.jobs {
		if t.IsCanary() || j.hyst.state == stateUnknown {
			continue
		}
		v := j.verdict
		v.Evidence = slices.Clone(v.Evidence)
		vs = append(vs, v)
	}
	sortVerdicts(vs)
	return vs
}

// Degraded reports whether every canary is failing (never true without
// canaries).
func (p *Prober) Degraded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.degraded
}

// Stats are counters of a Prober's work since New.
type Stats struct {
	// Jobs is the number of endpoints and canaries being probed.
	Jobs int
	// Probes and Failures count finished probes and failed ones.
	Probes, Failures uint64
	// Skipped counts turns skipped because the previous probe of the same
	// check was still running or waiting for a concurrency slot, or
	// because the scheduler fell behind (every slot busy for long).
	Skipped uint64
	// Overlaps counts probes started while another probe of the same
	// check was in flight; it stays 0 unless the scheduler is broken.
	Overlaps uint64
	// InFlight is the number of probes running now.
	InFlight int64
}

// Stats returns the prober's counters.
func (p *Prober) Stats() Stats {
	p.mu.Lock()
	n := len(p.jobs)
	p.mu.Unlock()
	return Stats{
		Jobs:     n,
		Probes:   p.probes.Load(),
		Failures: p.failures.Load(),
		Skipped:  p.skipped.Load(),
		Overlaps: p.overlaps.Load(),
		InFlight: p.inFlight.Load(),
	}
}

// poke wakes the goroutine waiting on ch without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
