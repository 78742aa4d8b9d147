package probe

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/detour-dns/detour/policy"
)

// script is a checker for scheduler tests: it passes or fails as the test
// says, may take a while (in the bubble's fake time), and records its
// calls and how many ran at once.
type script struct {
	shared *scriptStats // counters over every script of a test

	mu       sync.Mutex
	ok       bool
	delay    time.Duration
	calls    []time.Time
	inflight int
	maxIn    int
}

type scriptStats struct {
	mu       sync.Mutex
	inflight int
	maxIn    int
}

func (s *script) set(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok = ok
}

func (s *script) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

func (s *script) check(ctx context.Context) Result {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	s.inflight++
	s.maxIn = max(s.maxIn, s.inflight)
	ok, delay := s.ok, s.delay
	s.mu.Unlock()
	if s.shared != nil {
		s.shared.mu.Lock()
		s.shared.inflight++
		s.shared.maxIn = max(s.shared.maxIn, s.shared.inflight)
		s.shared.mu.Unlock()
	}
	if delay > 0 {
		time.Sleep(delay) // a slow target that ignores the deadline
	}
	if s.shared != nil {
		s.shared.mu.Lock()
		s.shared.inflight--
		s.shared.mu.Unlock()
	}
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	if ok {
		return success("script")
	}
	return failure(ClassStatus, "script", "scripted failure")
}

// scripted sets up p so that every target probes through a script.
type scripted struct {
	mu      sync.Mutex
	scripts map[Target]*script
	shared  scriptStats
	delay   time.Duration
}

func (s *scripted) get(t Target) *script {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.scripts[t]
	if !ok {
		sc = &script{ok: true, delay: s.delay, shared: &s.shared}
		s.scripts[t] = sc
	}
	return sc
}

// newScripted returns a Prober whose checks all run scripts.
func newScripted(t *testing.T, cfg Config, onFlip func([]Verdict), delay time.Duration) (*Prober, *scripted) {
	t.Helper()
	s := &scripted{scripts: make(map[Target]*script), delay: delay}
	p := newTestProber(t, cfg, onFlip)
	p.testChecker = func(t Target) checker { return s.get(t) }
	// Canaries were made in New, before the hook was set.
	for tgt, j := range p.jobs {
		j.checker = s.get(tgt)
	}
	return p, s
}

// testSpec returns a spec with pools "a.test." and "b.test.", each with n
// tcp endpoints e0..e(n-1) on the given interval, rise and fall.
func testSpec(n int, interval time.Duration, rise, fall int) *policy.Spec {
	spec := &policy.Spec{}
	for _, name := range []string{"a.test.", "b.test."} {
		pool := policy.Pool{Name: name, Check: policy.Check{Type: "tcp", Port: 1,
			Interval: policy.Duration(interval), Timeout: policy.Duration(interval / 2), Rise: rise, Fall: fall}}
		for i := range n {
			pool.Endpoints = append(pool.Endpoints, policy.Endpoint{Name: fmt.Sprintf("e%d", i), Addresses: []string{"127.0.0.1"}})
		}
		spec.Pools = append(spec.Pools, pool)
	}
	return spec
}

// runInBubble runs p until the returned stop is called.
func runInBubble(t *testing.T, p *Prober) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestScheduleSpreadsAndRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s := newScripted(t, Config{}, nil, 0)
		if err := p.Update(testSpec(25, time.Second, 1, 1)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := runInBubble(t, p)
		time.Sleep(10*time.Second + 500*time.Millisecond)
		stop()

		firsts := make(map[time.Duration]bool)
		for tgt, sc := range s.scripts {
			calls := sc.callTimes()
			if len(calls) < 10 || len(calls) > 11 {
				t.Errorf("%s ran %d times in 10.5 intervals, want 10 or 11", tgt, len(calls))
				continue
			}
			first := calls[0].Sub(start)
			if first < 0 || first >= time.Second {
				t.Errorf("%s first ran at %s, want within the first interval", tgt, first)
			}
			firsts[first] = true
			for i := 1; i < len(calls); i++ {
				if gap := calls[i].Sub(calls[i-1]); gap < time.Second-scheduleSlack || gap > time.Second+scheduleSlack {
					t.Errorf("%s: gap %s between runs %d and %d, want 1s (± the scheduling slack)", tgt, gap, i-1, i)
				}
			}
		}
		if len(s.scripts) != 50 {
			t.Errorf("%d targets probed, want 50", len(s.scripts))
		}
		if len(firsts) < 25 {
			t.Errorf("first runs at only %d distinct times for 50 targets: not spread over the interval", len(firsts))
		}
		if st := p.Stats(); st.Overlaps != 0 || st.Skipped != 0 || st.Probes < 500 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestScheduleNeverOverlaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Every probe takes 2.5 intervals and ignores its deadline.
		p, s := newScripted(t, Config{Concurrency: 4}, nil, 2500*time.Millisecond)
		if err := p.Update(testSpec(5, time.Second, 1, 1)); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		time.Sleep(20 * time.Second)
		stop()
		for tgt, sc := range s.scripts {
			if sc.maxIn != 1 {
				t.Errorf("%s: %d probes at once", tgt, sc.maxIn)
			}
			if n := len(sc.callTimes()); n < 2 {
				t.Errorf("%s ran %d times", tgt, n)
			}
		}
		if s.shared.maxIn > 4 {
			t.Errorf("%d probes in flight, want at most Concurrency=4", s.shared.maxIn)
		}
		if s.shared.maxIn < 4 {
			t.Errorf("only %d probes in flight at most: the pool was not used", s.shared.maxIn)
		}
		st := p.Stats()
		if st.Overlaps != 0 || st.Skipped == 0 {
			t.Errorf("stats %+v: want no overlaps and some skipped runs", st)
		}
	})
}

func TestInitialVerdictAndFlips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var batches [][]Verdict
		onFlip := func(vs []Verdict) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, vs)
		}
		p, s := newScripted(t, Config{FlipWindow: 50 * time.Millisecond}, onFlip, 0)
		spec := testSpec(1, time.Second, 3, 2)
		spec.Pools = spec.Pools[:1]
		if err := p.Update(spec); err != nil {
			t.Fatal(err)
		}
		tgt := Target{Pool: "a.test.", Endpoint: "e0"}
		stop := runInBubble(t, p)
		defer stop()

		time.Sleep(2 * time.Second) // two results at most: no verdict yet
		synctest.Wait()
		if n := len(p.Results(tgt)); n != 2 {
			t.Fatalf("%d results after 2 intervals, want 2", n)
		}
		if v := p.Views(); len(v) != 0 {
			t.Fatalf("views before rise successes: %v", v)
		}
		time.Sleep(time.Second + 100*time.Millisecond)
		synctest.Wait()
		if v := p.Views(); !v[tgt] || len(v) != 1 {
			t.Fatalf("views after rise successes: %v", v)
		}
		mu.Lock()
		if len(batches) != 1 || len(batches[0]) != 1 || !batches[0][0].Healthy || len(batches[0][0].Evidence) != 3 {
			t.Fatalf("batches %+v, want one healthy verdict with 3 results of evidence", batches)
		}
		mu.Unlock()

		s.get(tgt).set(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if v := p.Views(); !v[tgt] {
			t.Fatal("one failure flipped the verdict (fall is 2)")
		}
		time.Sleep(time.Second + 100*time.Millisecond)
		synctest.Wait()
		if v := p.Views(); v[tgt] {
			t.Fatal("two failures did not flip the verdict")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(batches) != 2 {
			t.Fatalf("%d batches, want 2", len(batches))
		}
		v := batches[1][0]
		if v.Healthy || v.Target != tgt || len(v.Evidence) != 2 || v.Evidence[0].OK || v.Evidence[1].Class != ClassStatus {
			t.Errorf("unhealthy verdict %+v", v)
		}
		if !v.At.Equal(v.Evidence[1].Time) {
			t.Errorf("verdict at %s, want the time of the deciding result %s", v.At, v.Evidence[1].Time)
		}
	})
}

func TestFlipsAreBatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var batches [][]Verdict
		var times []time.Time
		onFlip := func(vs []Verdict) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, vs)
			times = append(times, time.Now())
		}
		p, s := newScripted(t, Config{FlipWindow: 100 * time.Millisecond}, onFlip, 0)
		if err := p.Update(testSpec(250, time.Second, 1, 2)); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if n := len(p.Views()); n != 500 {
			t.Fatalf("%d views after one interval, want 500", n)
		}
		mu.Lock()
		batches, times = nil, nil
		mu.Unlock()

		// A regional outage: every endpoint fails from now on.
		for _, sc := range s.scripts {
			sc.set(false)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		seen := make(map[Target]bool)
		for _, b := range batches {
			for _, v := range b {
				if v.Healthy || seen[v.Target] {
					t.Errorf("verdict %v repeated or healthy", v.Target)
				}
				seen[v.Target] = true
			}
		}
		if len(seen) != 500 {
			t.Errorf("%d endpoints flipped to unhealthy, want 500", len(seen))
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 100*time.Millisecond {
				t.Errorf("batches %d and %d delivered %s apart, within the flip window", i-1, i, gap)
			}
		}
		// Flips spread over one interval (1s) with a 100ms window.
		if len(batches) > 12 {
			t.Errorf("500 flips came in %d batches, want at most 12", len(batches))
		}
		t.Logf("500 flips in %d batches", len(batches))
	})
}

func TestUpdateKeepsUnchangedChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var flips []Verdict
		onFlip := func(vs []Verdict) {
			mu.Lock()
			defer mu.Unlock()
			flips = append(flips, vs...)
		}
		p, s := newScripted(t, Config{}, onFlip, 0)
		spec := testSpec(2, time.Second, 1, 1)
		if err := p.Update(spec); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		kept, changed, gone := Target{"a.test.", "e0"}, Target{"a.test.", "e1"}, Target{"b.test.", "e0"}
		keptBefore := p.Results(kept)
		mu.Lock()
		nflips := len(flips)
		mu.Unlock()
		if nflips != 4 {
			t.Fatalf("%d initial flips, want 4", nflips)
		}

		// New spec: a.test./e1 gets another interval, b.test. is gone,
		// c.test./e0 is new, a.test./e0 is unchanged (but its weight is).
		next := testSpec(2, time.Second, 1, 1)
		next.Pools[0].Endpoints[0].Weight = new(5)
		next.Pools[0].Endpoints[1].Addresses = []string{"127.0.0.2"}
		next.Pools[1].Name = "c.test."
		next.Pools[1].Endpoints = next.Pools[1].Endpoints[:1]
		updated := time.Now()
		if err := p.Update(next); err != nil {
			t.Fatal(err)
		}
		goneCalls := len(s.get(gone).callTimes())
		time.Sleep(3 * time.Second)
		synctest.Wait()

		after := p.Results(kept)
		if len(after) != len(keptBefore)+3 || !after[0].Time.Equal(keptBefore[0].Time) {
			t.Errorf("unchanged check: %d results before, %d after, first %s then %s: history not kept",
				len(keptBefore), len(after), keptBefore[0].Time, after[0].Time)
		}
		calls := s.get(kept).callTimes()
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Sub(calls[i-1]); gap < time.Second-scheduleSlack || gap > time.Second+scheduleSlack {
				t.Errorf("unchanged check was restarted: gap %s", gap)
			}
		}
		for _, r := range p.Results(changed) {
			if r.Time.Before(updated) {
				t.Errorf("changed check kept a result from %s, before the update at %s", r.Time, updated)
			}
		}
		if p.Results(gone) != nil || len(s.get(gone).callTimes()) != goneCalls {
			t.Error("removed check still runs or keeps results")
		}
		views := p.Views()
		if _, ok := views[gone]; ok || len(views) != 3 || !views[kept] || !views[changed] || !views[Target{"c.test.", "e0"}] {
			t.Errorf("views after update: %v", views)
		}
		mu.Lock()
		defer mu.Unlock()
		// The changed and the new endpoint got a verdict again; the
		// unchanged one did not flip.
		got := make(map[Target]bool)
		for _, v := range flips[nflips:] {
			got[v.Target] = true
		}
		if len(flips[nflips:]) != 2 || !got[changed] || !got[Target{"c.test.", "e0"}] {
			t.Errorf("flips after update: %v", got)
		}
	})
}

func TestUpdateRejectsBadSpecAndChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newScripted(t, Config{}, nil, 0)
		if err := p.Update(testSpec(1, time.Second, 1, 1)); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		before := p.Views()

		bad := testSpec(1, time.Second, 1, 1)
		bad.Pools[0].Check.ExpectBodyRegex = "(["
		bad.Pools[0].Check.Type = "http"
		bad.Pools[1].Endpoints = append(bad.Pools[1].Endpoints, bad.Pools[1].Endpoints[0])
		err := p.Update(bad)
		if err == nil {
			t.Fatal("bad spec accepted")
		}
		for _, want := range []string{"pools[0] (a.test.) endpoints[0] (e0): check.expect_body_regex", "pools[1] (b.test.) endpoints[1] (e0): endpoint name used twice"} {
			if !contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if after := p.Views(); len(after) != len(before) || len(p.Results(Target{"a.test.", "e0"})) != 4 {
			t.Errorf("a rejected spec changed the running checks: %v -> %v", before, after)
		}
	})
}

func TestCanariesDegraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var changes []bool
		cfg := Config{
			Canaries:       []string{"127.0.0.1:1", "127.0.0.1:2"},
			CanaryInterval: time.Second,
			OnDegraded: func(d bool) {
				mu.Lock()
				defer mu.Unlock()
				changes = append(changes, d)
			},
		}
		p, s := newScripted(t, cfg, nil, 0)
		c1, c2 := s.get(CanaryTarget("127.0.0.1:1")), s.get(CanaryTarget("127.0.0.1:2"))
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if p.Degraded() {
			t.Fatal("degraded while canaries pass")
		}
		c1.set(false)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if p.Degraded() {
			t.Fatal("degraded while one canary passes")
		}
		c2.set(false)
		time.Sleep(2*time.Second + 200*time.Millisecond)
		synctest.Wait()
		if !p.Degraded() {
			t.Fatal("not degraded with every canary failing twice")
		}
		if n := len(p.Results(CanaryTarget("127.0.0.1:2"))); n < 5 {
			t.Errorf("%d canary results kept", n)
		}
		c1.set(true)
		time.Sleep(time.Second + 200*time.Millisecond)
		synctest.Wait()
		if p.Degraded() {
			t.Fatal("still degraded after a canary passed")
		}
		if len(p.Views()) != 0 {
			t.Errorf("canaries appear in Views: %v", p.Views())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(changes) != 2 || !changes[0] || changes[1] {
			t.Errorf("OnDegraded calls %v, want [true false]", changes)
		}
	})
}

func TestTakePendingDropsReturnToLastSent(t *testing.T) {
	p := newTestProber(t, Config{}, nil)
	a, b := Target{"p.", "a"}, Target{"p.", "b"}
	p.sent[a] = true
	p.pending[a] = Verdict{Target: a, Healthy: true} // flipped away and back
	p.pending[b] = Verdict{Target: b, Healthy: false}
	batch, _, _ := p.takePending()
	if len(batch) != 1 || batch[0].Target != b {
		t.Errorf("batch %v, want only b", batch)
	}
	if len(p.pending) != 0 || p.sent[b] {
		t.Errorf("pending %v sent %v after take", p.pending, p.sent)
	}
}

func TestRunTwice(t *testing.T) {
	p := newTestProber(t, Config{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, time.Second, "Run to start", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.started
	})
	if err := p.Run(ctx); err == nil {
		t.Error("second Run did not fail")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestUpdateIgnoresQuorumAndSameSpec(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newScripted(t, Config{}, nil, 0)
		spec := testSpec(1, time.Second, 1, 1)
		if err := p.Update(spec); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		tgt := Target{"a.test.", "e0"}
		before := p.Results(tgt)

		next := testSpec(1, time.Second, 1, 1)
		next.Pools[0].Check.Quorum = 3
		next.Pools[0].Policy = policy.PolicyWeighted
		next.Pools[0].TTL = 5
		if err := p.Update(next); err != nil {
			t.Fatal(err)
		}
		// The same spec again (a new State that kept its spec): a no-op.
		if err := p.Update(next); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		after := p.Results(tgt)
		if len(after) != len(before)+1 || !after[0].Time.Equal(before[0].Time) {
			t.Errorf("a quorum, policy or TTL change restarted the check: %d results then %d", len(before), len(after))
		}
	})
}

func TestUpdateNilStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s := newScripted(t, Config{Canaries: []string{"127.0.0.1:1"}, CanaryInterval: time.Second}, nil, 0)
		if err := p.Update(testSpec(3, time.Second, 1, 1)); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := len(p.Views()); n != 6 {
			t.Fatalf("%d views, want 6", n)
		}
		if err := p.Update(nil); err != nil {
			t.Fatal(err)
		}
		calls := len(s.get(Target{"a.test.", "e0"}).callTimes())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := len(p.Views()); n != 0 {
			t.Errorf("%d views after the spec went away", n)
		}
		if st := p.Stats(); st.Jobs != 1 {
			t.Errorf("%d jobs, want the canary only", st.Jobs)
		}
		if n := len(s.get(Target{"a.test.", "e0"}).callTimes()); n != calls {
			t.Errorf("a removed check ran %d more times", n-calls)
		}
		if n := len(p.Results(CanaryTarget("127.0.0.1:1"))); n < 4 {
			t.Errorf("canary stopped: %d results", n)
		}
	})
}

func TestScheduleCountsEveryTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One slot for five checks that each take 0.9 of an interval: the
		// prober can do about one probe a second, and must account for
		// every other turn as skipped.
		p, s := newScripted(t, Config{Concurrency: 1}, nil, 900*time.Millisecond)
		spec := testSpec(5, time.Second, 1, 1)
		spec.Pools = spec.Pools[:1]
		if err := p.Update(spec); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		time.Sleep(20 * time.Second)
		stop()
		st := p.Stats()
		// Turns that came due while the scheduler waited for the slot are
		// counted when it gets back to them, so a few are still uncounted
		// when Run stops.
		if turns := st.Probes + st.Skipped; turns < 85 || turns > 105 {
			t.Errorf("%d probes + %d skipped = %d turns in 20 intervals of 5 checks, want about 100", st.Probes, st.Skipped, turns)
		}
		if st.Probes < 18 || st.Probes > 23 || s.shared.maxIn != 1 || st.Overlaps != 0 {
			t.Errorf("stats %+v, max in flight %d", st, s.shared.maxIn)
		}
	})
}

func TestLoneFlipIsDeliveredAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type delivery struct {
			at time.Time
			v  Verdict
		}
		var mu sync.Mutex
		var got []delivery
		onFlip := func(vs []Verdict) {
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vs {
				got = append(got, delivery{time.Now(), v})
			}
		}
		p, s := newScripted(t, Config{FlipWindow: 100 * time.Millisecond}, onFlip, 0)
		spec := testSpec(1, time.Second, 1, 1)
		spec.Pools = spec.Pools[:1]
		if err := p.Update(spec); err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, p)
		defer stop()
		time.Sleep(1500 * time.Millisecond)
		s.get(Target{"a.test.", "e0"}).set(false)
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 || !got[0].v.Healthy || got[1].v.Healthy {
			t.Fatalf("deliveries %+v, want healthy then unhealthy", got)
		}
		for _, d := range got {
			if !d.at.Equal(d.v.At) {
				t.Errorf("flip at %s delivered at %s: a lone flip must not wait for the window", d.v.At, d.at)
			}
		}
	})
}
