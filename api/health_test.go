package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

// fakeProber is a LocalProber with fixed results.
type fakeProber struct {
	results  map[string][]policy.ProbeResult // "pool/endpoint"
	degraded bool
}

func (p fakeProber) Results(pool, ep string) []policy.ProbeResult { return p.results[pool+"/"+ep] }
func (p fakeProber) Degraded() bool                               { return p.degraded }

// healthState builds a State of the example spec on three voters where
// node2 and node3 see www's us-east-1 failing (so it is down) and node3
// sees api's eu-west-1 failing (one view: still up).
func healthState(t testing.TB) *policy.State {
	t.Helper()
	spec, err := policy.LoadSpec(exampleSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s := &policy.State{ClusterID: "c1", Index: 10}
	for _, id := range []string{"node1", "node2", "node3"} {
		s.UpsertMember(policy.Member{ID: id, RaftAddr: "127.0.0.1:1", Voter: true}, at)
	}
	s.ApplySpec(spec, 5, at)
	fail := []policy.ProbeResult{{Time: at, OK: false, Class: "status", Status: 503, Address: "127.0.0.11:18080"}}
	for _, r := range []policy.Report{
		{Node: "node1", At: at, Views: []policy.ViewUpdate{{Pool: "www.example.test.", Endpoint: "us-east-1", Healthy: true}}},
		{Node: "node2", At: at.Add(time.Second), Views: []policy.ViewUpdate{{Pool: "www.example.test.", Endpoint: "us-east-1", Evidence: fail}}},
		{Node: "node3", At: at.Add(2 * time.Second), Views: []policy.ViewUpdate{
			{Pool: "www.example.test.", Endpoint: "us-east-1", Evidence: fail},
			{Pool: "api.example.test.", Endpoint: "eu-west-1"}}},
	} {
		if err := s.ApplyReport(r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestServer_Pools(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t)
	local := []policy.ProbeResult{
		{OK: true, Class: "ok", Status: 200, Duration: policy.Duration(time.Millisecond)},
		{OK: true, Class: "ok", Status: 200, Duration: policy.Duration(2 * time.Millisecond)},
	}
	ts := startServer(t, f, func(c *api.Config) {
		c.Prober = fakeProber{results: map[string][]policy.ProbeResult{"www.example.test./us-east-1": local}, degraded: true}
	})
	client, err := api.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("one pool: effective health, every view with its time and evidence, local results, answer", func(t *testing.T) {
		// Any spelling of the name finds the pool.
		p, err := client.Pool(ctx, "WWW.example.test")
		if err != nil {
			t.Fatal(err)
		}
		if p.Node != "node1" || p.Name != "www.example.test." || p.Policy != "failover" || len(p.Endpoints) != 2 {
			t.Fatalf("pool = %+v", p)
		}
		if got := p.Answer.Endpoints; len(got) != 1 || got[0] != "eu-west-1" || p.Answer.AllDown {
			t.Errorf("answer = %+v, want eu-west-1 only", p.Answer)
		}
		us := p.Endpoints[0]
		if us.Name != "us-east-1" || us.Healthy || us.Voters != 3 || us.Quorum != 2 || us.Unhealthy != 2 || len(us.Views) != 3 {
			t.Fatalf("us-east-1 = %+v", us)
		}
		v := us.Views[1]
		if v.Node != "node2" || v.Healthy || !v.Counts || v.Since.IsZero() || len(v.Evidence) != 1 || v.Evidence[0].Status != 503 {
			t.Errorf("node2's view = %+v", v)
		}
		if len(us.Local) != 2 || us.Local[1].Duration != policy.Duration(2*time.Millisecond) {
			t.Errorf("local results = %+v", us.Local)
		}
		if eu := p.Endpoints[1]; !eu.Healthy || len(eu.Views) != 0 || eu.Local != nil {
			t.Errorf("eu-west-1 = %+v", eu)
		}
	})
	t.Run("all pools: the last local result only", func(t *testing.T) {
		l, err := client.Pools(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Node != "node1" || l.SpecVersion != 1 || len(l.Pools) != 3 {
			t.Fatalf("pools = %+v", l)
		}
		if got := l.Pools[0].Endpoints[0].Local; len(got) != 1 || got[0].Duration != policy.Duration(2*time.Millisecond) {
			t.Errorf("local results in the list = %+v", got)
		}
		api := l.Pools[1]
		if api.Name != "api.example.test." || !api.Endpoints[1].Healthy || api.Endpoints[1].Unhealthy != 1 {
			t.Errorf("one failing view must not move api's eu-west-1: %+v", api.Endpoints[1])
		}
		if w := api.Answer.Weights; len(w) != 2 || w[0] != 70 || w[1] != 30 {
			t.Errorf("weighted answer = %+v", api.Answer)
		}
	})
	t.Run("unknown pool: 404 naming it", func(t *testing.T) {
		e := apiError(t, call(t, "GET", ts.URL+"/v1/pools/nope.example.test.", "", nil), 404, api.CodeUnknownPool)
		if !strings.Contains(e.Message, "nope.example.test.") {
			t.Errorf("message does not name the pool: %q", e.Message)
		}
	})
	t.Run("status: degraded and counts", func(t *testing.T) {
		st, err := client.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Degraded || st.Pools != 3 || st.Endpoints != 7 || st.EndpointsDown != 1 || st.PoolsAllDown != 0 {
			t.Errorf("status = %+v", st)
		}
	})
}

func TestServer_Events(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t)
	ts := startServer(t, f, nil)
	client, err := api.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := client.Events(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var down *policy.Event
	for i, e := range all.Events {
		if i > 0 && e.Index <= all.Events[i-1].Index {
			t.Errorf("events out of order: %d after %d", e.Index, all.Events[i-1].Index)
		}
		if e.Kind == policy.EventEndpointDown {
			down = &all.Events[i]
		}
	}
	if down == nil || down.Pool != "www.example.test." || down.Endpoint != "us-east-1" || down.Details == nil ||
		len(down.Details.Views) != 3 || down.Details.Views["node3"].Evidence[0].Status != 503 {
		t.Fatalf("no endpoint_down event with evidence in %+v", all)
	}
	if all.Last != all.Events[len(all.Events)-1].Index || all.Dropped {
		t.Errorf("last = %d, dropped = %v", all.Last, all.Dropped)
	}
	page, err := client.Events(t.Context(), all.Events[0].Index, 1)
	if err != nil || len(page.Events) != 1 || page.Events[0].Index != all.Events[1].Index {
		t.Errorf("page after %d limit 1 = %+v, %v", all.Events[0].Index, page, err)
	}
	none, err := client.Events(t.Context(), all.Last, 0)
	if err != nil || len(none.Events) != 0 || none.Last != all.Last {
		t.Errorf("after the last event = %+v, %v", none, err)
	}
	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=1001"} {
		e := apiError(t, call(t, "GET", ts.URL+"/v1/events?"+q, "", nil), 400, api.CodeBadRequest)
		if len(e.Details) != 1 || e.Details[0].Field != strings.SplitN(q, "=", 2)[0] {
			t.Errorf("%s: details = %+v", q, e.Details)
		}
	}
}

func TestServer_Views(t *testing.T) {
	leader := newFake("n1", true)
	leader.members["n2"] = api.JoinRequest{ID: "n2", RaftAddr: "127.0.0.1:2"}
	lts := startServer(t, leader, nil)
	follower := newFake("n2", false)
	follower.leaderID, follower.leaderURL = "n1", lts.URL
	fts := startServer(t, follower, nil)

	yes := true
	r := api.ViewReport{Node: "n2", Degraded: &yes, Full: true, Views: []policy.ViewUpdate{
		{Pool: "www.example.test.", Endpoint: "us-east-1", Evidence: []policy.ProbeResult{{Class: "reset", Error: "connection reset"}}}}}
	b, _ := json.Marshal(r)
	a := call(t, "POST", fts.URL+"/v1/views", "application/json", b)
	if a.status != 200 || a.header.Get("X-Detour-Served-By") != "n1" {
		t.Fatalf("views through the follower: %d %s", a.status, a.body)
	}
	if len(leader.reports) != 1 || len(follower.reports) != 0 {
		t.Fatalf("reports: leader %d, follower %d", len(leader.reports), len(follower.reports))
	}
	got := leader.reports[0]
	if got.Node != "n2" || !got.Full || got.Degraded == nil || !*got.Degraded || got.Views[0].Evidence[0].Class != "reset" {
		t.Errorf("report the leader got = %+v", got)
	}

	e := apiError(t, call(t, "POST", fts.URL+"/v1/views", "application/json",
		[]byte(`{"node": "n9", "views": [{"pool": "www.example.test.", "endpoint": "x"}]}`)), 404, api.CodeUnknownMember)
	t.Logf("report of a non-member: %v", e)
	e = apiError(t, call(t, "POST", lts.URL+"/v1/views", "application/json",
		[]byte(`{"node": "bad id", "views": [{"pool": "", "endpoint": "x"}, {"pool": "p"}]}`)), 400, api.CodeBadRequest)
	var fields []string
	for _, d := range e.Details {
		fields = append(fields, d.Field)
	}
	if strings.Join(fields, ",") != "node,views[0].pool,views[1].endpoint" {
		t.Errorf("fields = %v", fields)
	}
	apiError(t, call(t, "POST", lts.URL+"/v1/views", "application/json", []byte(`{"node": "n2", "view": []}`)), 400, api.CodeBadRequest)
	if len(leader.reports) != 1 {
		t.Errorf("bad reports reached the cluster: %d", len(leader.reports))
	}
}
