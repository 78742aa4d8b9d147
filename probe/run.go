package probe

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// job is the running check of one endpoint or canary.
type job struct {
	target   Target
	key      string // jobConfig.key; "" for canaries
	interval time.Duration
	timeout  time.Duration
	checker  checker

	inflight atomic.Int32 // probes of this job running now (0 or 1)

	// The rest is guarded by Prober.mu.
	next    time.Time // when the next probe is due
	index   int       // position in Prober.queue, -1 when not queued
	running bool      // dispatched and not yet recorded
	removed bool      // no longer part of the spec
	hyst    hysteresis
	history ring
	verdict Verdict // the current verdict, once there is one
}

// Run probes every check on its interval until ctx is done. It returns
// nil once ctx is done and every goroutine it started has ended; flips
// not yet delivered by then are dropped (Views still has them). Run may
// be called once.
func (p *Prober) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("probe: Run called twice")
	}
	p.started = true
	p.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { p.deliver(ctx) })
	p.schedule(ctx, &wg)
	cancel()
	wg.Wait()
	return nil
}

// schedule hands due probes to worker goroutines (tracked by wg) until ctx
// is done. Workers start on demand, up to Config.Concurrency, and then
// stay for the next probes; when all are busy, due probes wait for one. A
// job whose previous probe has not been recorded yet skips its turn, so a
// check never overlaps itself.
func (p *Prober) schedule(ctx context.Context, wg *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	work := make(chan *job)
	workers := 0
	var due []*job
	for {
		var wait time.Duration
		due, wait = p.collectDue(due[:0])
		for i, j := range due {
			due[i] = nil
			select {
			case work <- j: // an idle worker took it
				continue
			default:
			}
			if workers < p.cfg.Concurrency {
				workers++
				wg.Go(func() {
					p.probe(ctx, j)
					p.work(ctx, work)
				})
				continue
			}
			select {
			case work <- j:
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// work runs the probes handed to it until ctx is done.
func (p *Prober) work(ctx context.Context, work <-chan *job) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-work:
			p.probe(ctx, j)
		}
	}
}

// scheduleSlack lets the scheduler start probes that are due within this
// much, so that it wakes less often for jobs due a moment apart (at most
// 1/scheduleSlack times a second however many jobs there are).
const scheduleSlack = 5 * time.Millisecond

// collectDue schedules fresh jobs, marks the due ones as running, appends
// them to due and returns how long until the next one is due.
func (p *Prober) collectDue(due []*job) ([]*job, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, j := range p.fresh {
		if j.removed {
			continue
		}
		// Spread first runs over the interval.
		j.next = now.Add(rand.N(j.interval))
		heap.Push(&p.queue, j)
	}
	p.fresh = p.fresh[:0]
	horizon := now.Add(scheduleSlack)
	for len(p.queue) > 0 && !p.queue[0].next.After(horizon) {
		j := p.queue[0]
		if j.running {
			p.skipped.Add(1)
		} else {
			j.running = true
			due = append(due, j)
		}
		j.next = j.next.Add(j.interval)
		if j.next.Before(now) {
			// Far behind (a stalled machine, or every worker busy):
			// skip the missed turns, keeping the job's phase.
			missed := now.Sub(j.next)/j.interval + 1
			p.skipped.Add(uint64(missed))
			j.next = j.next.Add(missed * j.interval)
		}
		heap.Fix(&p.queue, 0)
	}
	wait := time.Hour
	if len(p.queue) > 0 {
		wait = max(p.queue[0].next.Sub(now), 0)
	}
	return due, wait
}

// probe runs one probe of j and records its result.
func (p *Prober) probe(ctx context.Context, j *job) {
	if j.inflight.Add(1) > 1 {
		p.overlaps.Add(1)
	}
	p.inFlight.Add(1)
	pctx, cancel := context.WithTimeout(ctx, j.timeout)
	stamp := p.now()
	start := time.Now()
	res := j.checker.check(pctx)
	res.Duration = time.Since(start)
	res.Time = stamp
	cancel()
	p.inFlight.Add(-1)
	j.inflight.Add(-1)
	if ctx.Err() != nil {
		return // shutting down: the result says nothing about the target
	}
	p.probes.Add(1)
	if !res.OK {
		p.failures.Add(1)
	}
	if p.cfg.OnResult != nil && !j.target.IsCanary() {
		p.cfg.OnResult(j.target, res)
	}
	if p.log.Enabled(ctx, slog.LevelDebug) {
		p.log.Debug("probe", "target", j.target.String(), "ok", res.OK, "class", res.Class,
			"status", res.Status, "duration", res.Duration, "error", res.Error)
	}
	p.record(j, res)
}

// record adds res to j's history, updates its verdict and queues a flip.
func (p *Prober) record(j *job, res Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j.running = false
	if j.removed {
		return
	}
	j.history.add(res)
	if !j.hyst.observe(res.OK) {
		return
	}
	healthy := j.hyst.state == stateHealthy
	if j.target.IsCanary() {
		p.log.Info("canary changed", "canary", j.target.Endpoint, "reachable", healthy, "class", res.Class, "error", res.Error)
		p.updateDegradedLocked()
		return
	}
	p.log.Info("endpoint verdict changed", "pool", j.target.Pool, "endpoint", j.target.Endpoint,
		"healthy", healthy, "class", res.Class, "status", res.Status, "error", res.Error)
	j.verdict = Verdict{
		Target:   j.target,
		Healthy:  healthy,
		At:       res.Time,
		Evidence: j.history.last(j.hyst.run()),
	}
	p.pending[j.target] = j.verdict
	poke(p.kick)
}

// updateDegradedLocked recomputes p.degraded from the canaries' verdicts.
// p.mu must be held.
func (p *Prober) updateDegradedLocked() {
	degraded, seen := true, false
	for t, j := range p.jobs {
		if !t.IsCanary() {
			continue
		}
		seen = true
		if j.hyst.state != stateUnhealthy {
			degraded = false
			break
		}
	}
	degraded = degraded && seen
	if degraded == p.degraded {
		return
	}
	p.degraded = degraded
	if degraded {
		p.log.Warn("every canary is failing: this node's probes are not to be trusted")
	} else {
		p.log.Info("a canary is reachable again: no longer degraded")
	}
	p.degradedPending = true
	poke(p.kick)
}

// deliver hands batches of flips to onFlip (and degraded changes to
// OnDegraded), at most once per FlipWindow: a flip after a quiet window
// goes out at once, and the flips that come while the window is still
// open (or while onFlip runs) are gathered into the next batch.
func (p *Prober) deliver(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time // end of the last delivery
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		if wait := p.cfg.FlipWindow - time.Since(last); !last.IsZero() && wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		batch, degradedChanged, degraded := p.takePending()
		if degradedChanged && p.cfg.OnDegraded != nil {
			p.cfg.OnDegraded(degraded)
		}
		if len(batch) > 0 && p.onFlip != nil {
			p.onFlip(batch)
		}
		last = time.Now()
	}
}

// takePending removes and returns the flips to deliver, sorted by target,
// leaving out those that merely return to the last delivered verdict.
func (p *Prober) takePending() (batch []Verdict, degradedChanged, degraded bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, v := range p.pending {
		if last, ok := p.sent[t]; !ok || last != v.Healthy {
			batch = append(batch, v)
			p.sent[t] = v.Healthy
		}
		delete(p.pending, t)
	}
	sortVerdicts(batch)
	degradedChanged, degraded = p.degradedPending, p.degraded
	p.degradedPending = false
	return batch, degradedChanged, degraded
}

// sortVerdicts sorts vs by pool, then endpoint.
func sortVerdicts(vs []Verdict) {
	slices.SortFunc(vs, func(a, b Verdict) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Endpoint, b.Endpoint))
	})
}

// jobHeap orders jobs by their next run (container/heap).
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, k int) bool { return h[i].next.Before(h[k].next) }
func (h jobHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index = i
	h[k].index = k
}

// Push implements heap.Interface.
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}

// Pop implements heap.Interface.
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

// remove takes j out of the heap.
func (h *jobHeap) remove(j *job) { heap.Remove(h, j.index) }

// ring keeps the last len(buf) results.
type ring struct {
	buf   []Result
	start int // index of the oldest result
	n     int // number of results kept
}

// add appends r, dropping the oldest result when full.
func (r *ring) add(res Result) {
	if len(r.buf) == 0 {
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = res
		r.n++
		return
	}
	r.buf[r.start] = res
	r.start = (r.start + 1) % len(r.buf)
}

// last returns a copy of the last k results (at most all), oldest first.
func (r *ring) last(k int) []Result {
	k = min(k, r.n)
	out := make([]Result, k)
	for i := range k {
		out[i] = r.buf[(r.start+r.n-k+i)%len(r.buf)]
	}
	return out
}
