package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

// The fake cluster applies overrides with the real policy functions to a
// copy of its state, the way the FSM does, and keeps the state on error.

var fakeNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func (f *fakeCluster) SetOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	o := policy.Override{Kind: r.Kind, Pool: r.Pool, Endpoint: r.Endpoint, State: r.State, Actor: r.Actor,
		Reason: r.Reason, Created: fakeNow}
	if r.ExpiresIn > 0 {
		e := fakeNow.Add(r.ExpiresIn)
		o.Expires = &e
	}
	return f.write(func(next *policy.State, index uint64) (policy.OverrideResult, error) {
		return next.SetOverride(policy.SetOverrideCommand{Override: o, RequireHealthy: r.RequireHealthy, Force: r.Force}, index)
	})
}

func (f *fakeCluster) ClearOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	return f.write(func(next *policy.State, index uint64) (policy.OverrideResult, error) {
		return next.ClearOverride(policy.ClearOverrideCommand{Kind: r.Kind, Pool: r.Pool, Endpoint: r.Endpoint,
			Actor: r.Actor, Reason: r.Reason, At: fakeNow}, index)
	})
}

func (f *fakeCluster) Failback(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	return f.write(func(next *policy.State, index uint64) (policy.OverrideResult, error) {
		return next.Failback(policy.FailbackCommand{Pool: r.Pool, Actor: r.Actor, Reason: r.Reason, At: fakeNow}, index)
	})
}

// write applies op to a copy of the state at the next index and keeps the
// copy only when op succeeds; a follower refuses.
func (f *fakeCluster) write(op func(next *policy.State, index uint64) (policy.OverrideResult, error)) (policy.OverrideResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.notLeader(); err != nil {
		return policy.OverrideResult{}, err
	}
	next := *f.state
	res, err := op(&next, f.state.Index+1)
	if err != nil {
		return res, err
	}
	next.Index++
	f.state = &next
	return res, nil
}

// callAuth is call with a bearer token.
func callAuth(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return answer{resp.StatusCode, resp.Header, []byte(b.String())}
}

func TestServer_OverrideErrors(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t) // www: us-east-1 down, eu-west-1 up
	ts := startServer(t, f, nil)
	www := ts.URL + "/v1/pools/www.example.test."
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		mention                  string // in the message or a detail
	}{
		{"unknown pool", "POST", "/v1/pools/nope.example.test./failover", `{"to":"eu-west-1"}`, 404, api.CodeUnknownPool, "nope.example.test."},
		{"unknown endpoint", "POST", "/v1/pools/www.example.test./failover", `{"to":"mars-1"}`, 404, api.CodeUnknownEndpoint, "mars-1"},
		{"unknown endpoint in the path", "POST", "/v1/pools/www.example.test./endpoints/mars-1/drain", ``, 404, api.CodeUnknownEndpoint, "mars-1"},
		{"malformed JSON", "POST", "/v1/pools/www.example.test./failover", `{"to":`, 400, api.CodeBadRequest, "line 1"},
		{"unknown field", "POST", "/v1/pools/www.example.test./failover", `{"to":"eu-west-1","ttl":3}`, 400, api.CodeBadRequest, "ttl"},
		{"bad duration", "POST", "/v1/pools/www.example.test./failover", `{"to":"eu-west-1","expires_in":"soon"}`, 400, api.CodeBadRequest, "expires_in"},
		{"negative duration", "POST", "/v1/pools/www.example.test./endpoints/us-east-1/drain", `{"expires_in":"-5m"}`, 400, api.CodeBadRequest, "expires_in"},
		{"wrong type", "POST", "/v1/pools/www.example.test./failover", `{"to":"eu-west-1","require_healthy":"yes"}`, 400, api.CodeBadRequest, "require_healthy"},
		{"missing to", "POST", "/v1/pools/www.example.test./failover", `{"reason":"x"}`, 400, api.CodeBadRequest, "to"},
		{"bad force state", "POST", "/v1/pools/www.example.test./endpoints/us-east-1/force", `{"state":"sideways"}`, 400, api.CodeBadRequest, "state"},
		{"release of no pin", "DELETE", "/v1/pools/www.example.test./failover", ``, 404, api.CodeNoOverride, ""},
		{"failback of a pool not held", "POST", "/v1/pools/www.example.test./failback", ``, 404, api.CodeNoOverride, ""},
		{"unsafe drain", "POST", "/v1/pools/www.example.test./endpoints/eu-west-1/drain", `{"reason":"maintenance"}`, 409, api.CodeUnsafe, "eu-west-1"},
		{"unsafe force down", "POST", "/v1/pools/www.example.test./endpoints/eu-west-1/force", `{"state":"down"}`, 409, api.CodeUnsafe, "eu-west-1"},
		{"body over 1 MiB", "POST", "/v1/pools/www.example.test./failover", `{"to":"eu-west-1","reason":"` + strings.Repeat("r", 1<<20) + `"}`, 413, api.CodeTooLarge, "1048576"},
		{"reason too long", "POST", "/v1/pools/www.example.test./failover", `{"to":"eu-west-1","reason":"` + strings.Repeat("r", 2000) + `"}`, 400, api.CodeBadRequest, "reason"},
		{"pin requiring health to an unhealthy endpoint", "POST", "/v1/pools/www.example.test./failover", `{"to":"us-east-1","require_healthy":true}`, 409, api.CodeUnhealthy, "us-east-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.State()
			e := apiError(t, callAuth(t, tc.method, ts.URL+tc.path, "", tc.body), tc.status, tc.code)
			if tc.mention != "" && !strings.Contains(e.Error(), tc.mention) {
				t.Errorf("error does not mention %q: %s", tc.mention, e.Error())
			}
			if tc.code == api.CodeUnsafe {
				if len(e.Remaining) != 2 {
					t.Errorf("unsafe refusal explains %d endpoints, want 2: %+v", len(e.Remaining), e.Remaining)
				}
			}
			if after := f.State(); after != before {
				t.Errorf("the state changed on an error (index %d -> %d)", before.Index, after.Index)
			}
		})
	}

	t.Run("pin to an unhealthy endpoint: 200 with a warning, listed everywhere", func(t *testing.T) {
		a := callAuth(t, "POST", www+"/failover", "", `{"to":"us-east-1","reason":"test","expires_in":"2h"}`)
		var res policy.OverrideResult
		if err := json.Unmarshal(a.body, &res); a.status != 200 || err != nil {
			t.Fatalf("failover: %d %s", a.status, a.body)
		}
		if res.Override == nil || res.Override.Actor != api.Anonymous || res.Override.Expires == nil || len(res.Warnings) == 0 {
			t.Fatalf("result = %+v", res)
		}
		c, _ := api.NewClient(ts.URL, nil)
		l, err := c.Overrides(t.Context())
		if err != nil || len(l.Overrides) != 1 || l.Overrides[0].Kind != policy.OverridePin {
			t.Fatalf("overrides = %+v, %v", l, err)
		}
		st, err := c.Status(t.Context())
		if err != nil || st.Overrides != 1 {
			t.Errorf("status overrides = %d, %v", st.Overrides, err)
		}
		p, err := c.Pool(t.Context(), "www.example.test")
		if err != nil || !p.Answer.Pinned || len(p.Answer.Endpoints) != 1 || p.Answer.Endpoints[0] != "us-east-1" ||
			!p.Endpoints[0].Pinned || len(p.Overrides) != 1 || len(p.Answer.Warnings) == 0 {
			t.Errorf("pool = %+v, %v", p, err)
		}
		// A drain of the pinned endpoint conflicts.
		apiError(t, callAuth(t, "POST", www+"/endpoints/us-east-1/drain", "", ``), 409, api.CodeConflict)
		// Release: the pin is gone.
		if _, err := c.ReleaseFailover(t.Context(), "www.example.test.", "done"); err != nil {
			t.Fatal(err)
		}
		if l, _ := c.Overrides(t.Context()); len(l.Overrides) != 0 {
			t.Errorf("overrides after release = %+v", l.Overrides)
		}
	})
}

const (
	readSecret    = "read-secret-0123456789"
	operateSecret = "operate-secret-0123456789"
	adminSecret   = "admin-secret-0123456789"
)

func tokens() []api.Token {
	return []api.Token{
		{Name: "viewer", Role: api.RoleRead, Secret: readSecret},
		{Name: "oncall", Role: api.RoleOperate, Secret: operateSecret},
		{Name: "root", Role: api.RoleAdmin, Secret: adminSecret},
	}
}

func TestServer_Auth(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t)
	ts := startServer(t, f, func(c *api.Config) { c.Tokens = tokens() })
	fail := ts.URL + "/v1/pools/www.example.test./failover"
	t.Run("health checks are open", func(t *testing.T) {
		if a := callAuth(t, "GET", ts.URL+"/healthz", "", ""); a.status != 200 {
			t.Errorf("/healthz without a token: %d", a.status)
		}
	})
	t.Run("no token, a wrong token, a wrong scheme: 401 with WWW-Authenticate", func(t *testing.T) {
		for _, tok := range []string{"", "not-a-token-at-all", operateSecret + "x"} {
			a := callAuth(t, "GET", ts.URL+"/v1/status", tok, "")
			apiError(t, a, 401, api.CodeUnauthorized)
			if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
			}
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/v1/status", nil)
		req.Header.Set("Authorization", "Basic "+readSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Basic scheme: %d", resp.StatusCode)
		}
		// Unknown paths need a token too.
		apiError(t, callAuth(t, "GET", ts.URL+"/v1/nothing", "", ""), 401, api.CodeUnauthorized)
	})
	t.Run("read: GET yes, fail over no (403, nothing changes)", func(t *testing.T) {
		if a := callAuth(t, "GET", ts.URL+"/v1/overrides", readSecret, ""); a.status != 200 {
			t.Errorf("GET /v1/overrides with read: %d %s", a.status, a.body)
		}
		before := f.State()
		e := apiError(t, callAuth(t, "POST", fail, readSecret, `{"to":"eu-west-1"}`), 403, api.CodeForbidden)
		if !strings.Contains(e.Message, "viewer") || !strings.Contains(e.Message, "operate") {
			t.Errorf("403 message = %q", e.Message)
		}
		if f.State() != before {
			t.Error("a forbidden failover changed the state")
		}
	})
	t.Run("operate: fail over with its name as the actor; spec no", func(t *testing.T) {
		a := callAuth(t, "POST", fail, operateSecret, `{"to":"eu-west-1","reason":"drill"}`)
		var res policy.OverrideResult
		if err := json.Unmarshal(a.body, &res); a.status != 200 || err != nil || res.Override == nil || res.Override.Actor != "oncall" {
			t.Fatalf("failover with operate: %d %s", a.status, a.body)
		}
		apiError(t, callAuth(t, "PUT", ts.URL+"/v1/spec", operateSecret, "{}"), 403, api.CodeForbidden)
		apiError(t, callAuth(t, "POST", ts.URL+"/v1/views", operateSecret, `{"node":"node1"}`), 403, api.CodeForbidden)
	})
	t.Run("admin: everything", func(t *testing.T) {
		if a := callAuth(t, "DELETE", fail, adminSecret, ""); a.status != 200 {
			t.Errorf("release with admin: %d %s", a.status, a.body)
		}
		if a := callAuth(t, "PUT", ts.URL+"/v1/spec?dry_run=true", adminSecret, string(exampleSpec(t))); a.status != 200 {
			t.Errorf("dry run with admin: %d %s", a.status, a.body)
		}
	})
	t.Run("the client sends its token", func(t *testing.T) {
		c, _ := api.NewClient(ts.URL, nil)
		if _, err := c.Overrides(t.Context()); !api.IsCode(err, api.CodeUnauthorized) {
			t.Errorf("client without token: %v", err)
		}
		if _, err := c.WithToken(readSecret).Overrides(t.Context()); err != nil {
			t.Errorf("client with token: %v", err)
		}
	})
}

func TestServer_BadTokenConfig(t *testing.T) {
	for _, ts := range [][]api.Token{
		{{Name: "", Role: "read", Secret: readSecret}},
		{{Name: "a", Role: "root", Secret: readSecret}},
		{{Name: "a", Role: "read", Secret: "short"}},
		{{Name: "a", Role: "read", Secret: readSecret}, {Name: "a", Role: "admin", Secret: adminSecret}},
		{{Name: "a", Role: "read", Secret: readSecret}, {Name: "b", Role: "admin", Secret: readSecret}},
	} {
		if _, err := api.New(api.Config{NodeID: "n1", Tokens: ts}, newFake("n1", true)); err == nil {
			t.Errorf("api.New accepted tokens %+v", ts)
		}
	}
}

func TestServer_ForwardCarriesTheCallersToken(t *testing.T) {
	leader := newFake("node1", true)
	leader.state = healthState(t)
	lts := startServer(t, leader, func(c *api.Config) { c.Tokens = tokens() })
	// The follower is behind: it has no spec yet. The leader decides.
	follower := newFake("node2", false)
	follower.leaderID, follower.leaderURL = "node1", lts.URL
	fts := startServer(t, follower, func(c *api.Config) { c.Tokens = tokens() })

	a := callAuth(t, "POST", fts.URL+"/v1/pools/www.example.test./endpoints/us-east-1/drain", operateSecret, `{"reason":"forwarded"}`)
	if a.status != 200 || a.header.Get("X-Detour-Served-By") != "node1" {
		t.Fatalf("drain through the follower: %d %s", a.status, a.body)
	}
	ovs := leader.State().Overrides()
	if len(ovs) != 1 || ovs[0].Actor != "oncall" || ovs[0].Kind != policy.OverrideDrain {
		t.Fatalf("leader's overrides = %+v", ovs)
	}
	// A refusal on the leader comes back through the follower unchanged.
	e := apiError(t, callAuth(t, "POST", fts.URL+"/v1/pools/www.example.test./endpoints/eu-west-1/drain", operateSecret, ``), 409, api.CodeUnsafe)
	if len(e.Remaining) == 0 {
		t.Errorf("forwarded refusal lost its explanation: %+v", e)
	}
}

// readSSE reads one SSE message (up to a blank line) and returns its
// fields, or nil at the end of the stream.
func readSSE(sc *bufio.Scanner) map[string]string {
	m := map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(m) > 0 {
				return m
			}
			continue
		}
		if strings.HasPrefix(line, ":") || strings.HasPrefix(line, "retry:") {
			continue // a comment, the reconnection delay
		}
		k, v, _ := strings.Cut(line, ":")
		m[k] += strings.TrimPrefix(v, " ")
	}
	return nil
}

func TestServer_EventStream(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t)
	s, err := api.New(api.Config{Addr: "127.0.0.1:0", NodeID: "node1", StreamHeartbeat: 50 * time.Millisecond}, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	base := "http://" + s.Addr().String()
	first := f.State().Events
	if len(first) < 2 {
		t.Fatalf("state has %d events", len(first))
	}

	open := func(after string, lastID string) (*bufio.Scanner, func()) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/events/stream?after="+after, nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return bufio.NewScanner(resp.Body), func() { resp.Body.Close() }
	}

	t.Run("from after=0: every event in order, then new ones as they happen, heartbeats between", func(t *testing.T) {
		sc, done := open("0", "")
		defer done()
		for _, want := range first {
			m := readSSE(sc)
			var e policy.Event
			if m == nil || json.Unmarshal([]byte(m["data"]), &e) != nil || e.Index != want.Index || m["id"] == "" {
				t.Fatalf("message %v, want event %d", m, want.Index)
			}
		}
		if _, err := f.SetOverride(t.Context(), api.OverrideRequest{Kind: policy.OverrideDrain, Pool: "api.example.test.",
			Endpoint: "eu-west-1", Actor: "tester"}); err != nil {
			t.Fatal(err)
		}
		sawBeat := false
		for {
			if !sc.Scan() {
				t.Fatal("stream ended")
			}
			line := sc.Text()
			if line == ": heartbeat" {
				sawBeat = true
			}
			if strings.HasPrefix(line, "data: ") {
				var e policy.Event
				if err := json.Unmarshal([]byte(line[6:]), &e); err != nil || e.Kind != policy.EventOverrideSet || e.Actor != "tester" {
					t.Fatalf("new event = %s (%v)", line, err)
				}
				break
			}
		}
		// Heartbeats keep coming while idle (every 50 ms here).
		for !sawBeat && sc.Scan() {
			sawBeat = sc.Text() == ": heartbeat"
		}
		if !sawBeat {
			t.Error("no heartbeat")
		}
	})
	t.Run("Last-Event-ID resumes after that event, winning over ?after", func(t *testing.T) {
		sc, done := open("0", "1")
		defer done()
		m := readSSE(sc)
		if m == nil || m["id"] != "2" {
			t.Fatalf("first message after Last-Event-ID 1: %v", m)
		}
	})
	t.Run("a bad Last-Event-ID is a 400 naming it", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/events/stream", nil)
		req.Header.Set("Last-Event-ID", "latest")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb struct{ Error *api.Error }
		if resp.StatusCode != 400 || json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error == nil ||
			len(eb.Error.Details) != 1 || eb.Error.Details[0].Field != "Last-Event-ID" {
			t.Errorf("bad Last-Event-ID: %d %+v", resp.StatusCode, eb.Error)
		}
	})
	t.Run("shutdown ends the stream cleanly", func(t *testing.T) {
		c, _ := api.NewClient(base, nil)
		got := make(chan error, 1)
		seen := make(chan struct{}, 100)
		go func() {
			got <- c.StreamEvents(context.Background(), 0, func(policy.Event) error { seen <- struct{}{}; return nil }, nil)
		}()
		<-seen
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown with a stream open: %v", err)
		}
		select {
		case err := <-got:
			if !errors.Is(err, api.ErrStreamShutdown) {
				t.Errorf("stream ended with %v, want ErrStreamShutdown", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not end on shutdown")
		}
	})
}

// TestServer_EventStreamOutlivesTimeouts checks that a stream keeps going
// past the HTTP server's read timeout (ReadHeaderTimeout+WriteTimeout, 100
// ms here): the handler clears the read deadline and pushes the write
// deadline on every write.
func TestServer_EventStreamOutlivesTimeouts(t *testing.T) {
	f := newFake("node1", true)
	f.state = healthState(t)
	s, err := api.New(api.Config{Addr: "127.0.0.1:0", NodeID: "node1", ReadHeaderTimeout: 50 * time.Millisecond,
		WriteTimeout: 50 * time.Millisecond, StreamHeartbeat: 20 * time.Millisecond}, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.Addr().String()+"/v1/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	sc := bufio.NewScanner(resp.Body)
	beats := 0
	for time.Since(start) < 600*time.Millisecond {
		if !sc.Scan() {
			t.Fatalf("the stream ended after %s (%d heartbeats): %v", time.Since(start), beats, sc.Err())
		}
		if sc.Text() == ": heartbeat" {
			beats++
		}
	}
	if beats < 5 {
		t.Errorf("%d heartbeats in 600ms at a 20ms interval", beats)
	}
}

// recordingCluster is the fake cluster that also keeps every override
// request the server hands it, and which call received it.
type recordingCluster struct {
	*fakeCluster
	recMu sync.Mutex
	got   []api.OverrideRequest
	ops   []string
}

func (rc *recordingCluster) record(op string, r api.OverrideRequest) {
	rc.recMu.Lock()
	defer rc.recMu.Unlock()
	rc.got = append(rc.got, r)
	rc.ops = append(rc.ops, op)
}

func (rc *recordingCluster) calls() ([]string, []api.OverrideRequest) {
	rc.recMu.Lock()
	defer rc.recMu.Unlock()
	return slices.Clone(rc.ops), slices.Clone(rc.got)
}

func (rc *recordingCluster) SetOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	rc.record("set", r)
	return rc.fakeCluster.SetOverride(ctx, r)
}

func (rc *recordingCluster) ClearOverride(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	rc.record("clear", r)
	return rc.fakeCluster.ClearOverride(ctx, r)
}

func (rc *recordingCluster) Failback(ctx context.Context, r api.OverrideRequest) (policy.OverrideResult, error) {
	rc.record("failback", r)
	return rc.fakeCluster.Failback(ctx, r)
}

func startRecording(t *testing.T) (*recordingCluster, string) {
	t.Helper()
	f := newFake("node1", true)
	f.state = healthState(t) // www: us-east-1 down, eu-west-1 up
	rc := &recordingCluster{fakeCluster: f}
	s, err := api.New(api.Config{NodeID: f.id, WriteTimeout: 2 * time.Second}, rc)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return rc, ts.URL + "/v1/pools/www.example.test."
}

func TestServer_OverrideRoutesHandTheClusterTheirRequest(t *testing.T) {
	rc, www := startRecording(t)
	steps := []struct {
		method, path, body string
		status             int
		op                 string
		want               api.OverrideRequest
	}{
		{"POST", "/failover", `{"to":"eu-west-1","reason":"r1","expires_in":"2h","require_healthy":true}`, 200, "set",
			api.OverrideRequest{Kind: policy.OverridePin, Pool: "www.example.test.", Endpoint: "eu-west-1", Actor: api.Anonymous,
				Reason: "r1", ExpiresIn: 2 * time.Hour, RequireHealthy: true}},
		{"DELETE", "/failover", `{"reason":"r2"}`, 200, "clear",
			api.OverrideRequest{Kind: policy.OverridePin, Pool: "www.example.test.", Actor: api.Anonymous, Reason: "r2"}},
		{"POST", "/endpoints/eu-west-1/drain", `{"reason":"r3","expires_in":"30m","force":true}`, 200, "set",
			api.OverrideRequest{Kind: policy.OverrideDrain, Pool: "www.example.test.", Endpoint: "eu-west-1", Actor: api.Anonymous,
				Reason: "r3", ExpiresIn: 30 * time.Minute, Force: true}},
		{"DELETE", "/endpoints/eu-west-1/drain", ``, 200, "clear",
			api.OverrideRequest{Kind: policy.OverrideDrain, Pool: "www.example.test.", Endpoint: "eu-west-1", Actor: api.Anonymous}},
		{"POST", "/endpoints/us-east-1/force", `{"state":"up","reason":"r4","expires_in":"1h","force":true}`, 200, "set",
			api.OverrideRequest{Kind: policy.OverrideForce, Pool: "www.example.test.", Endpoint: "us-east-1", State: policy.ForceUp,
				Actor: api.Anonymous, Reason: "r4", ExpiresIn: time.Hour, Force: true}},
		{"DELETE", "/endpoints/us-east-1/force", `{"reason":"r5"}`, 200, "clear",
			api.OverrideRequest{Kind: policy.OverrideForce, Pool: "www.example.test.", Endpoint: "us-east-1", Actor: api.Anonymous, Reason: "r5"}},
		{"POST", "/failback", `{"reason":"r6"}`, 404, "failback",
			api.OverrideRequest{Pool: "www.example.test.", Actor: api.Anonymous, Reason: "r6"}},
	}
	for i, st := range steps {
		a := callAuth(t, st.method, www+st.path, "", st.body)
		if a.status != st.status {
			t.Fatalf("%s %s: %d %s, want %d", st.method, st.path, a.status, a.body, st.status)
		}
		ops, got := rc.calls()
		if len(got) != i+1 {
			t.Fatalf("%s %s: the cluster got %d requests, want %d", st.method, st.path, len(got), i+1)
		}
		if ops[i] != st.op || got[i] != st.want {
			t.Errorf("%s %s: the cluster got %s %+v, want %s %+v", st.method, st.path, ops[i], got[i], st.op, st.want)
		}
	}
}

func TestServer_OverrideBadRequests(t *testing.T) {
	rc, www := startRecording(t)
	long := strings.Repeat("r", 2000)
	cases := []struct {
		name, method, path, body string
		message                  string
		fields                   []string // of the details, in order
	}{
		{"failover: every field wrong", "POST", "/failover", `{"expires_in":"soon","reason":"` + long + `"}`,
			"invalid failover request", []string{"to", "expires_in", "reason"}},
		{"failover: empty body", "POST", "/failover", ``, "invalid JSON body", []string{""}},
		{"drain: expiry above a year, reason too long", "POST", "/endpoints/eu-west-1/drain", `{"expires_in":"9000h","reason":"` + long + `"}`,
			"invalid drain request", []string{"expires_in", "reason"}},
		{"drain: unknown field", "POST", "/endpoints/eu-west-1/drain", `{"to":"x"}`, "invalid JSON body", []string{"to"}},
		{"force: every field wrong", "POST", "/endpoints/eu-west-1/force", `{"state":"sideways","expires_in":"0s","reason":"` + long + `"}`,
			"invalid force request", []string{"state", "expires_in", "reason"}},
		{"force: empty body", "POST", "/endpoints/eu-west-1/force", ``, "invalid JSON body", []string{""}},
		{"release: reason too long", "DELETE", "/failover", `{"reason":"` + long + `"}`, "invalid request", []string{"reason"}},
		{"undrain: unknown field", "DELETE", "/endpoints/eu-west-1/drain", `{"force":true}`, "invalid JSON body", []string{"force"}},
		{"clear force: reason too long", "DELETE", "/endpoints/eu-west-1/force", `{"reason":"` + long + `"}`, "invalid request", []string{"reason"}},
		{"failback: reason too long", "POST", "/failback", `{"reason":"` + long + `"}`, "invalid failback request", []string{"reason"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := apiError(t, callAuth(t, tc.method, www+tc.path, "", tc.body), 400, api.CodeBadRequest)
			var fields []string
			for _, d := range e.Details {
				fields = append(fields, d.Field)
			}
			if e.Message != tc.message || !slices.Equal(fields, tc.fields) {
				t.Errorf("got %q with detail fields %q, want %q with %q", e.Message, fields, tc.message, tc.fields)
			}
		})
	}
	if _, got := rc.calls(); len(got) != 0 {
		t.Errorf("bad requests reached the cluster: %+v", got)
	}
}
