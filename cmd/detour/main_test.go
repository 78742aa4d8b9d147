package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
)

// detour runs the CLI in-process and returns its exit code and output.
func detour(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI_AgainstNode(t *testing.T) {
	c := daemontest.Start(t, 1, testutil.Logger(t, slog.LevelWarn))
	url := c.Nodes[0].D.APIURL()
	example, err := os.ReadFile("../../policy/testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", example)
	bad := bytes.Replace(example, []byte("addresses: [127.0.0.12]"), []byte("addresses: [1.2.3]"), 1)
	bad = bytes.Replace(bad, []byte("weight: 30"), []byte("weight: 3000"), 1)
	badPath := write("bad.yaml", bad)
	notYAML := write("notyaml.yaml", []byte("zones:\n  - name: [oops\n"))

	t.Run("invalid spec: every problem with its path, exactly as the API gives them", func(t *testing.T) {
		code, out, errOut := detour(t, "apply", "-f", badPath, "--api", url)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		_, apiErr := c.Nodes[0].Client.ApplySpec(t.Context(), bad, true)
		ae, ok := apiErr.(*api.Error)
		if !ok || len(ae.Details) < 2 {
			t.Fatalf("API error = %v", apiErr)
		}
		for _, d := range ae.Details {
			if !strings.Contains(errOut, "  "+d.Path+": "+d.Message+"\n") {
				t.Errorf("CLI output misses %q:\n%s", d.String(), errOut)
			}
		}
		for _, p := range []string{"pools[0].endpoints[1].addresses[0]: ", "pools[1].endpoints[1].weight: "} {
			if !strings.Contains(errOut, p) {
				t.Errorf("CLI output misses %q:\n%s", p, errOut)
			}
		}
		if v := c.Nodes[0].D.Node().State().SpecVersion; v != 0 {
			t.Errorf("spec version %d after a refused spec", v)
		}
	})
	t.Run("not YAML: line reported", func(t *testing.T) {
		code, _, errOut := detour(t, "apply", "-f", notYAML, "--api", url)
		if code != 1 || !strings.Contains(errOut, "line ") {
			t.Errorf("exit %d:\n%s", code, errOut)
		}
	})
	t.Run("dry run then apply", func(t *testing.T) {
		code, out, errOut := detour(t, "apply", "-f", good, "--dry-run", "--api", url)
		if code != 0 || !strings.Contains(out, "dry run:") || !strings.Contains(out, "www.example.test.") {
			t.Fatalf("dry run exit %d:\n%s%s", code, out, errOut)
		}
		if v := c.Nodes[0].D.Node().State().SpecVersion; v != 0 {
			t.Errorf("dry run applied: version %d", v)
		}
		code, out, errOut = detour(t, "apply", "-f", good, "--api", url)
		if code != 0 || !strings.HasPrefix(out, "applied spec version 1") {
			t.Fatalf("apply exit %d:\n%s%s", code, out, errOut)
		}
	})
	t.Run("status and members, tables and json", func(t *testing.T) {
		code, out, _ := detour(t, "status", "--api", url)
		flat := strings.Join(strings.Fields(out), " ")
		if code != 0 || !strings.Contains(out, "role:") || !strings.Contains(out, "leader") || !strings.Contains(flat, "spec version: 1 ") ||
			!strings.Contains(flat, "degraded: no") || !strings.Contains(flat, "pools: 3 (") || !strings.Contains(flat, "endpoints: 7 (") {
			t.Errorf("status exit %d:\n%s", code, out)
		}
		code, out, _ = detour(t, "status", "-o", "json", "--api", url)
		var st api.Status
		if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.SpecVersion != 1 {
			t.Errorf("status json exit %d, %v:\n%s", code, err, out)
		}
		code, out, _ = detour(t, "members", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "node1") {
			t.Errorf("members exit %d:\n%s", code, out)
		}
		code, out, _ = detour(t, "members", "-o", "json", "--api", url)
		var ms []api.Member
		if err := json.Unmarshal([]byte(out), &ms); code != 0 || err != nil || len(ms) != 1 || !ms[0].Leader {
			t.Errorf("members json exit %d, %v:\n%s", code, err, out)
		}
		code, out, _ = detour(t, "spec", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "# detour spec version 1") {
			t.Errorf("spec exit %d:\n%s", code, out)
		}
	})
	t.Run("health and events, tables and json", func(t *testing.T) {
		code, out, errOut := detour(t, "health", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "POOL ") || !strings.Contains(out, "LAST RESULT (node1)") {
			t.Fatalf("health exit %d:\n%s%s", code, out, errOut)
		}
		for _, w := range []string{"www.example.test.", "api.example.test.", "all.example.test.", "ap-south-1"} {
			if !strings.Contains(out, w) {
				t.Errorf("health table misses %q:\n%s", w, out)
			}
		}
		code, out, _ = detour(t, "health", "WWW.example.test", "-o", "json", "--api", url)
		var p api.PoolStatus
		if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.Name != "www.example.test." || len(p.Endpoints) != 2 {
			t.Errorf("health POOL json exit %d, %v:\n%s", code, err, out)
		}
		code, _, errOut = detour(t, "health", "nope.example.test.", "--api", url)
		if code != 1 || !strings.Contains(errOut, `no pool named "nope.example.test."`) {
			t.Errorf("health of an unknown pool: exit %d:\n%s", code, errOut)
		}
		code, out, _ = detour(t, "events", "--api", url)
		if code != 0 || !strings.HasPrefix(out, "INDEX ") || !strings.Contains(out, "spec_applied") {
			t.Errorf("events exit %d:\n%s", code, out)
		}
		code, out, _ = detour(t, "events", "-o", "json", "--api", url)
		var l api.EventList
		if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Events) == 0 {
			t.Fatalf("events json exit %d, %v:\n%s", code, err, out)
		}
		code, out, _ = detour(t, "events", "--after", fmt.Sprint(l.Last+1000), "--api", url)
		if code != 0 || !strings.Contains(out, "no events after index") {
			t.Errorf("events --after the end: exit %d:\n%s", code, out)
		}
		if code, _, errOut := detour(t, "events", "--limit", "0", "--api", url); code != 2 || !strings.Contains(errOut, "--limit 0") {
			t.Errorf("events --limit 0: exit %d:\n%s", code, errOut)
		}
	})
	t.Run("members remove of an unknown member", func(t *testing.T) {
		code, _, errOut := detour(t, "members", "remove", "nobody", "--api", url)
		if code != 1 || !strings.Contains(errOut, "no such member") {
			t.Errorf("exit %d:\n%s", code, errOut)
		}
	})
	t.Run("healthcheck", func(t *testing.T) {
		if code, _, errOut := detour(t, "healthcheck", "--api", url); code != 0 {
			t.Errorf("healthcheck exit %d: %s", code, errOut)
		}
		if code, _, errOut := detour(t, "healthcheck", "--ready", "--api", url); code != 0 {
			t.Errorf("healthcheck --ready exit %d: %s", code, errOut)
		}
	})
	t.Run("DETOUR_API is the default --api", func(t *testing.T) {
		t.Setenv("DETOUR_API", url)
		if code, _, errOut := detour(t, "status"); code != 0 {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
}

func TestCLI_UsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apply"}, 2, "-f SPEC is required"},
		{[]string{"status", "-o", "xml"}, 2, `-o "xml"`},
		{[]string{"status", "--api", "127.0.0.1:8053"}, 2, "--api"},
		{[]string{"status", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"server"}, 1, "node_id: is required"},
		{[]string{"server", "--node-id", "a", "--data-dir", "/x", "--bootstrap", "--join", "http://127.0.0.1:1"}, 1, "bootstrap: cannot be combined with join"},
		{[]string{"status", "--api", "http://127.0.0.1:1", "--timeout", "2s"}, 1, "cannot reach the detour API"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := detour(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", code, tc.code, errOut, tc.want)
			}
		})
	}
	code, out, _ := detour(t, "version")
	if code != 0 || !strings.HasPrefix(out, "detour ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestCLI_Server runs "detour server" until its context ends.
func TestCLI_Server(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"server", "--node-id", "solo", "--data-dir", dir, "--bootstrap",
			"--dns-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0",
			"--log-level", "warn"}, &bytes.Buffer{}, &errb)
	}()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "raft.db"))
		return err == nil
	}, "the server to create its raft store")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("server exit %d:\n%s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop after its context ended")
	}
}

// TestCLI_UsageChecksComeFirst: every client command refuses a bad -o (and
// its other usage mistakes, in a fixed order) before it reads a file or
// calls the API, which here is a closed port.
func TestCLI_UsageChecksComeFirst(t *testing.T) {
	closed := []string{"--api", "http://127.0.0.1:1", "--timeout", "2s"}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"members", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"health", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"health", "www.example.test.", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"events", "-o", "xml", "--limit", "0"}, 2, `-o "xml": want table or json`},
		{[]string{"events", "--limit", "0"}, 2, "--limit 0: want 1 to"},
		{[]string{"events", "-f", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"overrides", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"route53", "status", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"apply", "-o", "xml"}, 2, "-f SPEC is required"},
		{[]string{"apply", "-f", "/nonexistent/spec.yaml", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"apply", "-f", "/nonexistent/spec.yaml"}, 1, "read spec: "},
		{[]string{"failover", "www.example.test.", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"failover", "www.example.test."}, 2, "failover needs --to ENDPOINT"},
		{[]string{"failback", "www.example.test.", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"drain", "www.example.test.", "eu-west-1", "-o", "xml", "--for", "-1s"}, 2, `-o "xml": want table or json`},
		{[]string{"drain", "www.example.test.", "eu-west-1", "--for", "-1s"}, 2, "--for must not be negative"},
		{[]string{"undrain", "www.example.test.", "eu-west-1", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"force", "www.example.test.", "eu-west-1", "-o", "xml"}, 2, `-o "xml": want table or json`},
		{[]string{"force", "www.example.test.", "eu-west-1"}, 2, "force needs POOL ENDPOINT up|down"},
		{[]string{"spec", "-o", "table"}, 2, `-o "table": want yaml or json`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := detour(t, append(tc.args, closed...)...)
			if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stdout %q, stderr:\n%s\nwant it to contain %q", code, tc.code, out, errOut, tc.want)
			}
		})
	}
	t.Run("a bad --api before the command's own checks", func(t *testing.T) {
		code, _, errOut := detour(t, "failover", "www.example.test.", "--api", "127.0.0.1:8053")
		if code != 2 || !strings.Contains(errOut, "--api") {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})
}
