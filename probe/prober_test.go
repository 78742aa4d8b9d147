package probe

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/policy"
)

// TestProberEndToEnd runs a Prober with real time against real servers:
// an HTTP backend that goes from 200 to 503 and back, and a canary that
// disappears.
func TestProberEndToEnd(t *testing.T) {
	b := newBackend(t, false)
	canary, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var canaryOnce sync.Once
	closeCanary := func() { canaryOnce.Do(func() { canary.Close() }) }
	t.Cleanup(closeCanary)

	flips := make(chan []Verdict, 16)
	degraded := make(chan bool, 4)
	p := newTestProber(t, Config{
		NodeID:         "n1",
		History:        5,
		FlipWindow:     20 * time.Millisecond,
		Canaries:       []string{canary.Addr().String()},
		CanaryInterval: 50 * time.Millisecond,
		OnDegraded:     func(d bool) { degraded <- d },
		Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, func(vs []Verdict) { flips <- vs })
	spec := &policy.Spec{Pools: []policy.Pool{{
		Name: "www.example.test.",
		Check: policy.Check{Type: "http", Port: b.port(t), Path: "/health", ExpectBody: "healthy",
			Interval: policy.Duration(100 * time.Millisecond), Timeout: policy.Duration(80 * time.Millisecond), Rise: 2, Fall: 2},
		Endpoints: []policy.Endpoint{{Name: "us-east-1", Addresses: []string{"127.0.0.1"}}},
	}}}
	if err := p.Update(spec); err != nil {
		t.Fatal(err)
	}
	startRun(t, p)
	tgt := Target{Pool: "www.example.test.", Endpoint: "us-east-1"}

	// next waits for the flip to want. Under heavy machine load a probe
	// may time out spuriously and flip the other way first; such flips
	// are logged and skipped.
	next := func(want bool) Verdict {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case vs := <-flips:
				if len(vs) != 1 || vs[0].Target != tgt {
					t.Fatalf("flips %+v, want one for %s", vs, tgt)
				}
				if vs[0].Healthy == want {
					return vs[0]
				}
				t.Logf("skipping flip to healthy=%v (evidence %+v)", vs[0].Healthy, vs[0].Evidence)
			case <-deadline:
				t.Fatalf("no flip to healthy=%v", want)
			}
		}
	}
	next(true)
	b.set("503")
	v := next(false)
	if len(v.Evidence) != 2 || v.Evidence[0].OK || v.Evidence[1].OK {
		t.Errorf("evidence %+v, want the two failures", v.Evidence)
	}
	if v.Evidence[1].Class == ClassStatus {
		if e := v.Evidence[1]; e.Status != 503 || e.Body != "down for maintenance" {
			t.Errorf("evidence %+v", e)
		}
	} else { // a spurious timeout under load flipped it first
		waitFor(t, 5*time.Second, "a 503 result", func() bool {
			rs := p.Results(tgt)
			return len(rs) > 0 && rs[len(rs)-1].Status == 503
		})
	}
	b.set("hang")
	waitFor(t, 5*time.Second, "a timeout result", func() bool {
		rs := p.Results(tgt)
		return len(rs) > 0 && rs[len(rs)-1].Class == ClassTimeout
	})
	b.set("ok")
	next(true)
	if rs := p.Results(tgt); len(rs) != 5 {
		t.Errorf("%d results kept, want History=5", len(rs))
	}
	if views := p.Views(); len(views) != 1 || !views[tgt] {
		t.Errorf("views %v", views)
	}
	if vs := p.Verdicts(); len(vs) != 1 || vs[0].Target != tgt || !vs[0].Healthy || len(vs[0].Evidence) != 2 || !vs[0].Evidence[1].OK {
		t.Errorf("verdicts %+v", vs)
	}

	if p.Degraded() {
		t.Fatal("degraded while the canary listens")
	}
	closeCanary()
	select {
	case d := <-degraded:
		if !d || !p.Degraded() {
			t.Fatalf("OnDegraded(%v), Degraded() = %v after the canary closed", d, p.Degraded())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not degraded after the only canary closed")
	}
	rs := p.Results(CanaryTarget(canary.Addr().String()))
	if last := rs[len(rs)-1]; last.Class != ClassRefused {
		t.Errorf("last canary result %+v, want refused", last)
	}
	if st := p.Stats(); st.Overlaps != 0 || st.Probes == 0 || st.Failures == 0 {
		t.Errorf("stats %+v", st)
	}
}
