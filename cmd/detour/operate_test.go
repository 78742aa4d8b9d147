package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
	"github.com/detour-dns/detour/policy"
)

// signalWriter collects output and closes seen when it first contains
// want.
type signalWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// wait waits up to 10s for the output to contain want; else the test
// fails with msg and the output so far.
func (w *signalWriter) wait(t *testing.T, msg string) {
	t.Helper()
	w.mu.Lock()
	seen := w.seen
	w.mu.Unlock()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s:\n%s", msg, w.String())
	}
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startWithExample starts a one-node cluster logging at level and above,
// applies the example spec, and returns the cluster and its API URL.
func startWithExample(t *testing.T, level slog.Level) (*daemontest.Cluster, string) {
	t.Helper()
	c := daemontest.Start(t, 1, testutil.Logger(t, level))
	example, err := os.ReadFile("../../policy/testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Nodes[0].Client.ApplySpec(t.Context(), example, false); err != nil {
		t.Fatal(err)
	}
	return c, c.Nodes[0].D.APIURL()
}

func TestCLI_Operator(t *testing.T) {
	c, url := startWithExample(t, slog.LevelWarn)

	// Follow the events from now on in the background.
	l, err := c.Nodes[0].Client.Events(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	follow := &signalWriter{want: "override_cleared", seen: make(chan struct{})}
	fctx, stop := context.WithCancel(t.Context())
	followed := make(chan int, 1)
	go func() {
		followed <- run(fctx, []string{"events", "--follow", "--after", itoa(l.Last), "--api", url}, follow, &strings.Builder{})
	}()

	t.Run("failover: pin with a warning-free result, listed by overrides, released", func(t *testing.T) {
		code, out, errOut := detour(t, "failover", "www.example.test", "--to", "eu-west-1", "--reason", "drill", "--for", "1h", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "pinned www.example.test to eu-west-1") || !strings.Contains(out, "anonymous") {
			t.Fatalf("failover: exit %d\n%s%s", code, out, errOut)
		}
		code, out, _ = detour(t, "overrides", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "POOL ") || !strings.Contains(out, "pin") || !strings.Contains(out, "drill") {
			t.Errorf("overrides: exit %d\n%s", code, out)
		}
		code, out, _ = detour(t, "overrides", "-o", "json", "--api", url)
		var ol api.OverrideList
		if err := json.Unmarshal([]byte(out), &ol); code != 0 || err != nil || len(ol.Overrides) != 1 || ol.Overrides[0].Expires == nil {
			t.Errorf("overrides json: exit %d, %v\n%s", code, err, out)
		}
		code, out, _ = detour(t, "health", "www.example.test", "--api", url)
		if code != 0 || !strings.Contains(out, "(pinned)") || !strings.Contains(out, "drill") {
			t.Errorf("health shows no pin: exit %d\n%s", code, out)
		}
		code, out, _ = detour(t, "status", "--api", url)
		if code != 0 || !strings.Contains(out, "overrides:      1") {
			t.Errorf("status shows no override: exit %d\n%s", code, out)
		}
		code, out, errOut = detour(t, "failover", "www.example.test", "--release", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "released the pin") {
			t.Errorf("release: exit %d\n%s%s", code, out, errOut)
		}
		code, out, _ = detour(t, "overrides", "--api", url)
		if code != 0 || out != "no overrides\n" {
			t.Errorf("overrides after release: exit %d\n%s", code, out)
		}
	})
	t.Run("drain, undrain, force and clear; -o json", func(t *testing.T) {
		code, out, errOut := detour(t, "drain", "api.example.test", "eu-west-1", "-o", "json", "--api", url)
		var res policy.OverrideResult
		if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Override == nil || res.Override.Kind != policy.OverrideDrain {
			t.Fatalf("drain json: exit %d, %v\n%s%s", code, err, out, errOut)
		}
		if code, out, errOut := detour(t, "undrain", "api.example.test", "eu-west-1", "--api", url); code != 0 {
			t.Errorf("undrain: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := detour(t, "force", "api.example.test", "eu-west-1", "up", "--api", url); code != 0 || !strings.Contains(out, "forced eu-west-1") {
			t.Errorf("force: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := detour(t, "force", "api.example.test", "eu-west-1", "--clear", "--api", url); code != 0 {
			t.Errorf("force --clear: exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("mistakes: usage (2) or the API's error (1), naming the problem", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"failover", "www.example.test"}, 2, "--to"},
			{[]string{"failover", "www.example.test", "--to", "x", "--release"}, 2, "--release"},
			{[]string{"force", "api.example.test", "eu-west-1", "sideways"}, 2, "up|down"},
			{[]string{"failover", "www.example.test", "--to", "mars-1"}, 1, "no endpoint named mars-1"},
			{[]string{"drain", "nope.example.test", "eu-west-1"}, 1, "no pool named nope.example.test"},
			{[]string{"undrain", "api.example.test", "eu-west-1"}, 1, ""},
			{[]string{"failback", "www.example.test"}, 1, ""},
		} {
			code, _, errOut := detour(t, append(tc.args, "--api", url)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("%v: exit %d (want %d):\n%s", tc.args, code, tc.code, errOut)
			}
		}
	})
	t.Run("events --follow printed every change as it happened", func(t *testing.T) {
		follow.wait(t, "no override_cleared line from events --follow")
		stop()
		if code := <-followed; code != 0 {
			t.Errorf("events --follow exit %d", code)
		}
		for _, w := range []string{"override_set", "www.example.test./eu-west-1 by anonymous", "override_cleared"} {
			if !strings.Contains(follow.String(), w) {
				t.Errorf("followed events miss %q:\n%s", w, follow.String())
			}
		}
	})
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCLI_ServerRefusesAnOpenAPIWithoutTokens(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := detour(t, "server", "--node-id", "n1", "--data-dir", dir, "--api-addr", "0.0.0.0:0",
		"--raft-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--bootstrap")
	if code != 1 || !strings.Contains(errOut, "api_addr") || !strings.Contains(errOut, "--insecure-no-auth") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused server wrote %d entries to its data dir", len(entries))
	}
}

func TestCLI_FollowReconnects(t *testing.T) {
	c, url := startWithExample(t, slog.LevelError)
	out := &signalWriter{want: "spec_applied", seen: make(chan struct{})}
	errw := &signalWriter{want: "reconnecting", seen: make(chan struct{})}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"events", "--follow", "--api", url}, out, errw) }()
	<-out.seen

	// Restart the node: the stream ends with the shutdown, the CLI
	// reconnects to the same address and prints what happens next.
	c.StopNode(0)
	errw.wait(t, "no reconnect note")
	c.StartNode(0)
	testutil.WaitFor(t, 10*time.Second, func() bool { return c.Nodes[0].D.Node().IsLeader() }, "node1 leads again")
	out.mu.Lock()
	out.want, out.seen, out.once = "after-restart", make(chan struct{}), sync.Once{}
	out.mu.Unlock()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := c.Nodes[0].Client.Failover(t.Context(), "www.example.test", api.FailoverBody{To: "eu-west-1", Reason: "after-restart"})
		return err == nil
	}, "a failover after the restart")
	out.wait(t, "the event after the restart was not printed")
	stop()
	if code := <-done; code != 0 {
		t.Errorf("events --follow exit %d: %s", code, errw.String())
	}
	if n := strings.Count(out.String(), "spec_applied"); n != 1 {
		t.Errorf("spec_applied printed %d times (resume must not repeat events):\n%s", n, out.String())
	}
}
