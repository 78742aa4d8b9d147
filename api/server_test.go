package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

// fakeCluster implements api.Cluster in memory. Writes succeed when it is
// the leader; otherwise they return a *NotLeaderError naming leaderURL.
type fakeCluster struct {
	mu        sync.Mutex
	id        string
	leader    bool
	leaderID  string
	leaderURL string
	state     *policy.State
	members   map[string]api.JoinRequest
	applyErr  error // returned by ApplySpec when set
	applies   int
	transfers []string
	reports   []api.ViewReport
}

func newFake(id string, leader bool) *fakeCluster {
	f := &fakeCluster{id: id, leader: leader, state: &policy.State{ClusterID: "c1", Index: 1},
		members: map[string]api.JoinRequest{id: {ID: id, RaftAddr: "127.0.0.1:1"}}}
	if leader {
		f.leaderID = id
	}
	return f
}

func (f *fakeCluster) Status() api.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	role := "follower"
	if f.leader {
		role = "leader"
	}
	return api.Status{NodeID: f.id, Role: role, LeaderID: f.leaderID, LeaderAPIAddr: f.leaderURL,
		ClusterID: f.state.ClusterID, AppliedIndex: f.state.Index, SpecVersion: f.state.SpecVersion}
}

func (f *fakeCluster) Members(ctx context.Context) ([]api.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ms []api.Member
	for _, m := range f.members {
		ms = append(ms, api.Member{ID: m.ID, RaftAddr: m.RaftAddr, Voter: true, Leader: m.ID == f.leaderID})
	}
	return ms, nil
}

func (f *fakeCluster) State() *policy.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeCluster) notLeader() error {
	if f.leader {
		return nil
	}
	return &api.NotLeaderError{LeaderID: f.leaderID, LeaderAPIAddr: f.leaderURL}
}

func (f *fakeCluster) ApplySpec(ctx context.Context, spec *policy.Spec) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return 0, err
	}
	if f.applyErr != nil {
		return 0, f.applyErr
	}
	f.applies++
	next := *f.state
	next.Spec, next.SpecVersion, next.Index = spec, next.SpecVersion+1, next.Index+1
	next.SpecIndex = next.Index
	f.state = &next
	return next.SpecVersion, nil
}

func (f *fakeCluster) Join(ctx context.Context, req api.JoinRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return err
	}
	if req.ClusterID != "" && req.ClusterID != f.state.ClusterID {
		return api.ErrWrongCluster
	}
	if m, ok := f.members[req.ID]; ok && m.RaftAddr != req.RaftAddr {
		return api.ErrNodeIDTaken
	}
	f.members[req.ID] = req
	return nil
}

func (f *fakeCluster) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return err
	}
	if _, ok := f.members[id]; !ok {
		return api.ErrUnknownMember
	}
	delete(f.members, id)
	return nil
}

func (f *fakeCluster) TransferLeadership(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return err
	}
	f.transfers = append(f.transfers, id)
	return nil
}

// startServer serves an api.Server over f on a real loopback listener.
func startServer(t *testing.T, f *fakeCluster, mod func(*api.Config)) *httptest.Server {
	t.Helper()
	cfg := api.Config{NodeID: f.id, WriteTimeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := api.New(cfg, f)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, url, ctype string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// apiError decodes an error body and checks the status and code.
func apiError(t *testing.T, a answer, status int, code string) *api.Error {
	t.Helper()
	var eb struct {
		Error *api.Error `json:"error"`
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("body is not an error object (%v): %s", err, a.body)
	}
	if a.status != status || eb.Error.Code != code {
		t.Fatalf("got %d %q, want %d %q; body %s", a.status, eb.Error.Code, status, code, a.body)
	}
	if eb.Error.Message == "" {
		t.Errorf("error has no message: %s", a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return eb.Error
}

func exampleSpec(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServer_ReadEndpoints(t *testing.T) {
	f := newFake("n1", true)
	ts := startServer(t, f, func(c *api.Config) { c.Version = "v-test" })

	a := call(t, "GET", ts.URL+"/healthz", "", nil)
	if a.status != 200 {
		t.Errorf("healthz = %d", a.status)
	}
	a = call(t, "GET", ts.URL+"/v1/status", "", nil)
	var st api.Status
	if err := json.Unmarshal(a.body, &st); err != nil || a.status != 200 {
		t.Fatalf("status: %d %v %s", a.status, err, a.body)
	}
	if st.NodeID != "n1" || st.Role != "leader" || st.ClusterID != "c1" || st.Version != "v-test" {
		t.Errorf("status = %+v", st)
	}
	a = call(t, "GET", ts.URL+"/v1/members", "", nil)
	var ms []api.Member
	if err := json.Unmarshal(a.body, &ms); err != nil || len(ms) != 1 || ms[0].ID != "n1" || !ms[0].Leader {
		t.Errorf("members: %v %s", err, a.body)
	}
	a = call(t, "GET", ts.URL+"/readyz", "", nil)
	if a.status != 200 {
		t.Errorf("readyz = %d %s", a.status, a.body)
	}
	apiError(t, call(t, "GET", ts.URL+"/v1/spec", "", nil), 404, api.CodeNoSpec)
	apiError(t, call(t, "GET", ts.URL+"/v1/nothing", "", nil), 404, api.CodeNotFound)
	e := apiError(t, call(t, "POST", ts.URL+"/v1/status", "", nil), 405, api.CodeMethodNotAllowed)
	if !strings.Contains(e.Message, "GET") {
		t.Errorf("405 message does not list allowed methods: %q", e.Message)
	}
}

func TestServer_Readyz_NotReady(t *testing.T) {
	f := newFake("n1", false)
	f.state = &policy.State{}
	ts := startServer(t, f, func(c *api.Config) { c.Ready = func() error { return errors.New("dns: not serving") } })
	e := apiError(t, call(t, "GET", ts.URL+"/readyz", "", nil), 503, api.CodeUnavailable)
	got := (&api.Error{Details: e.Details}).Error()
	for _, w := range []string{"state not restored", "no leader known", "dns: not serving"} {
		if !strings.Contains(got, w) {
			t.Errorf("readyz details miss %q: %s", w, got)
		}
	}
}

func TestServer_PutSpec(t *testing.T) {
	f := newFake("n1", true)
	ts := startServer(t, f, nil)
	spec := exampleSpec(t)

	t.Run("dry run applies nothing and returns the diff", func(t *testing.T) {
		a := call(t, "PUT", ts.URL+"/v1/spec?dry_run=true", "application/yaml", spec)
		var res api.ApplyResult
		if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 {
			t.Fatalf("dry run: %d %v %s", a.status, err, a.body)
		}
		if !res.DryRun || res.Version != 0 || len(res.Changes) == 0 {
			t.Errorf("dry run result = %+v", res)
		}
		if f.applies != 0 {
			t.Errorf("dry run applied %d specs", f.applies)
		}
	})
	t.Run("apply returns the new version", func(t *testing.T) {
		a := call(t, "PUT", ts.URL+"/v1/spec", "application/yaml", spec)
		var res api.ApplyResult
		if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 {
			t.Fatalf("apply: %d %v %s", a.status, err, a.body)
		}
		if res.DryRun || res.Version != 1 || f.State().Spec == nil {
			t.Errorf("apply result = %+v", res)
		}
	})
	t.Run("get spec as YAML and JSON carries the version", func(t *testing.T) {
		a := call(t, "GET", ts.URL+"/v1/spec", "", nil)
		if a.status != 200 || !bytes.HasPrefix(a.body, []byte("# detour spec version 1")) ||
			a.header.Get(api.HeaderSpecVersion) != "1" {
			t.Fatalf("GET spec yaml: %d %q %s", a.status, a.header.Get(api.HeaderSpecVersion), a.body)
		}
		// The YAML it returns is itself an acceptable spec.
		if _, err := policy.LoadSpec(a.body); err != nil {
			t.Errorf("returned YAML does not load: %v", err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/v1/spec", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc api.SpecDocument
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Version != 1 || doc.Spec == nil ||
			len(doc.Spec.Pools) != 3 {
			t.Errorf("GET spec json: %v %+v", err, doc)
		}
	})
	t.Run("a JSON body is accepted too", func(t *testing.T) {
		b, err := json.Marshal(f.State().Spec)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte(`"ttl":300`), []byte(`"ttl":301`), 1)
		a := call(t, "PUT", ts.URL+"/v1/spec", "application/json", b)
		var res api.ApplyResult
		if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 || res.Version != 2 {
			t.Fatalf("JSON apply: %d %v %s", a.status, err, a.body)
		}
		if len(res.Changes) != 1 || res.Changes[0].Kind != "zone" {
			t.Errorf("changes = %+v, want one zone change", res.Changes)
		}
		if got := f.State().Spec.Zones[0].TTL; got != 301 {
			t.Errorf("zone ttl = %d", got)
		}
	})
	t.Run("not YAML: 400 with line and column, nothing applied", func(t *testing.T) {
		e := apiError(t, call(t, "PUT", ts.URL+"/v1/spec", "application/yaml", []byte("zones:\n  - name: [x\n")), 400, api.CodeSyntax)
		if len(e.Details) != 1 || e.Details[0].Line == 0 {
			t.Errorf("syntax error details = %+v", e.Details)
		}
		if v := f.State().SpecVersion; v != 2 {
			t.Errorf("spec version changed to %d", v)
		}
	})
	t.Run("invalid spec: 400 with every problem and its path", func(t *testing.T) {
		bad := bytes.Replace(spec, []byte("policy: failover"), []byte("policy: bogus"), 1)
		bad = bytes.Replace(bad, []byte("policy: weighted"), []byte("policy: bogus"), 1)
		e := apiError(t, call(t, "PUT", ts.URL+"/v1/spec", "application/yaml", bad), 400, api.CodeInvalidSpec)
		paths := map[string]bool{}
		for _, d := range e.Details {
			paths[d.Path] = true
		}
		if !paths["pools[0].policy"] || !paths["pools[1].policy"] {
			t.Errorf("details = %+v, want pools[0].policy and pools[1].policy", e.Details)
		}
		if v := f.State().SpecVersion; v != 2 || f.applies != 2 {
			t.Errorf("invalid spec changed state: version %d, applies %d", v, f.applies)
		}
	})
	t.Run("no quorum: 503", func(t *testing.T) {
		f.mu.Lock()
		f.applyErr = api.ErrNoQuorum
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.applyErr = nil; f.mu.Unlock() }()
		apiError(t, call(t, "PUT", ts.URL+"/v1/spec", "application/yaml", spec), 503, api.CodeNoQuorum)
	})
	t.Run("bad dry_run value", func(t *testing.T) {
		apiError(t, call(t, "PUT", ts.URL+"/v1/spec?dry_run=maybe", "application/yaml", spec), 400, api.CodeBadRequest)
	})
}

func TestServer_BodyLimits(t *testing.T) {
	f := newFake("n1", true)
	ts := startServer(t, f, func(c *api.Config) { c.MaxBodyBytes, c.MaxSpecBytes = 64, 1024 })
	apiError(t, call(t, "PUT", ts.URL+"/v1/spec", "application/yaml", bytes.Repeat([]byte("# x\n"), 1000)), 413, api.CodeTooLarge)
	apiError(t, call(t, "POST", ts.URL+"/v1/members", "application/json",
		[]byte(`{"id":"n2","raft_addr":"127.0.0.1:9","region":"`+strings.Repeat("x", 100)+`"}`)), 413, api.CodeTooLarge)
}

func TestServer_Members(t *testing.T) {
	f := newFake("n1", true)
	ts := startServer(t, f, nil)
	post := func(body string) answer {
		return call(t, "POST", ts.URL+"/v1/members", "application/json", []byte(body))
	}

	if a := post(`{"id":"n2","raft_addr":"127.0.0.1:8064","api_addr":"http://127.0.0.1:8063","region":"eu","cluster_id":"c1"}`); a.status != 200 {
		t.Fatalf("join: %d %s", a.status, a.body)
	}
	if a := post(`{"id":"n2","raft_addr":"127.0.0.1:8064"}`); a.status != 200 {
		t.Errorf("repeated join: %d %s", a.status, a.body)
	}
	apiError(t, post(`{"id":"n2","raft_addr":"127.0.0.1:9999"}`), 409, api.CodeNodeIDTaken)
	apiError(t, post(`{"id":"n3","raft_addr":"127.0.0.1:9999","cluster_id":"other"}`), 409, api.CodeWrongCluster)

	cases := []struct{ name, body, field string }{
		{"unknown field", `{"id":"n3","raft_addr":"127.0.0.1:1","regoin":"x"}`, "regoin"},
		{"wrong type", `{"id":3,"raft_addr":"127.0.0.1:1"}`, "id"},
		{"missing raft_addr", `{"id":"n3"}`, "raft_addr"},
		{"bad raft_addr", `{"id":"n3","raft_addr":"nowhere"}`, "raft_addr"},
		{"bad api_addr", `{"id":"n3","raft_addr":"127.0.0.1:1","api_addr":"ftp://x"}`, "api_addr"},
		{"bad id", `{"id":"n 3","raft_addr":"127.0.0.1:1"}`, "id"},
	}
	for _, tc := range cases {
		t.Run("bad request: "+tc.name, func(t *testing.T) {
			e := apiError(t, post(tc.body), 400, api.CodeBadRequest)
			if len(e.Details) == 0 || e.Details[0].Field != tc.field {
				t.Errorf("details = %+v, want field %q", e.Details, tc.field)
			}
		})
	}
	t.Run("bad request: syntax error has a position", func(t *testing.T) {
		e := apiError(t, post("{\n \"id\": }"), 400, api.CodeBadRequest)
		if len(e.Details) == 0 || e.Details[0].Line != 2 {
			t.Errorf("details = %+v, want line 2", e.Details)
		}
	})

	if a := call(t, "DELETE", ts.URL+"/v1/members/n2", "", nil); a.status != 200 {
		t.Errorf("remove: %d %s", a.status, a.body)
	}
	apiError(t, call(t, "DELETE", ts.URL+"/v1/members/n2", "", nil), 404, api.CodeUnknownMember)

	if a := call(t, "POST", ts.URL+"/v1/leadership/transfer", "", nil); a.status != 200 {
		t.Errorf("transfer without body: %d %s", a.status, a.body)
	}
	if a := call(t, "POST", ts.URL+"/v1/leadership/transfer", "application/json", []byte(`{"id":"n1"}`)); a.status != 200 {
		t.Errorf("transfer to n1: %d %s", a.status, a.body)
	}
	if got := f.transfers; len(got) != 2 || got[0] != "" || got[1] != "n1" {
		t.Errorf("transfers = %q", got)
	}
}

func TestServer_ForwardsWritesToLeader(t *testing.T) {
	leader := newFake("n1", true)
	lts := startServer(t, leader, nil)
	follower := newFake("n2", false)
	follower.leaderID, follower.leaderURL = "n1", lts.URL
	fts := startServer(t, follower, nil)

	a := call(t, "PUT", fts.URL+"/v1/spec", "application/yaml", exampleSpec(t))
	if a.status != 200 || a.header.Get("X-Detour-Served-By") != "n1" {
		t.Fatalf("forwarded apply: %d %v %s", a.status, a.header, a.body)
	}
	if leader.applies != 1 || follower.applies != 0 {
		t.Errorf("applies: leader %d follower %d", leader.applies, follower.applies)
	}
	// Errors of the leader come back unchanged.
	apiError(t, call(t, "POST", fts.URL+"/v1/members", "application/json",
		[]byte(`{"id":"n1","raft_addr":"127.0.0.1:2"}`)), 409, api.CodeNodeIDTaken)
	if a := call(t, "DELETE", fts.URL+"/v1/members/n1", "", nil); a.status != 200 {
		t.Errorf("forwarded remove: %d %s", a.status, a.body)
	}
	// Dry runs are answered locally.
	if a := call(t, "PUT", fts.URL+"/v1/spec?dry_run=1", "application/yaml", exampleSpec(t)); a.status != 200 || leader.applies != 1 {
		t.Errorf("dry run on follower: %d, leader applies %d", a.status, leader.applies)
	}
}

func TestServer_ForwardLoopAndNoLeader(t *testing.T) {
	// Two followers that each think the other leads: a forwarded request
	// is not forwarded again, and the answer says so.
	a, b := newFake("a", false), newFake("b", false)
	ats := startServer(t, a, nil)
	bts := startServer(t, b, nil)
	a.leaderID, a.leaderURL = "b", bts.URL
	b.leaderID, b.leaderURL = "a", ats.URL
	start := time.Now()
	ans := call(t, "DELETE", ats.URL+"/v1/members/x", "", nil)
	if ans.status != 503 {
		t.Fatalf("loop: %d %s", ans.status, ans.body)
	}
	t.Logf("forward loop answered in %s", time.Since(start))

	// No leader known: retried, then a 503 within the write timeout.
	c := newFake("c", false)
	cts := startServer(t, c, func(cfg *api.Config) { cfg.WriteTimeout = 300 * time.Millisecond })
	start = time.Now()
	apiError(t, call(t, "PUT", cts.URL+"/v1/spec", "application/yaml", exampleSpec(t)), 503, api.CodeNoLeader)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("no-leader answer took %s", d)
	}

	// A leader that appears while the request waits is used.
	d := newFake("d", false)
	dts := startServer(t, d, func(cfg *api.Config) { cfg.WriteTimeout = 5 * time.Second })
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("DELETE", dts.URL+"/v1/members/d", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{status: -1}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		done <- answer{status: resp.StatusCode, body: body}
	}()
	time.AfterFunc(100*time.Millisecond, func() {
		d.mu.Lock()
		d.leader, d.leaderID = true, "d"
		d.mu.Unlock()
	})
	if got := <-done; got.status != 200 {
		t.Errorf("write during election: %d %s", got.status, got.body)
	}
}

func TestServer_StartShutdown(t *testing.T) {
	f := newFake("n1", true)
	s, err := api.New(api.Config{Addr: "127.0.0.1:0", NodeID: "n1"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Error("Addr before Start is not nil")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	c, _ := api.NewClient("http://"+s.Addr().String(), nil)
	if err := c.Health(t.Context()); err != nil {
		t.Fatalf("health: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := c.Health(t.Context()); err == nil {
		t.Error("health answered after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func (f *fakeCluster) ReportViews(ctx context.Context, r api.ViewReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return err
	}
	if _, ok := f.members[r.Node]; !ok {
		return api.ErrUnknownMember
	}
	f.reports = append(f.reports, r)
	return nil
}
