package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
)

func TestPrintRoute53(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := api.Route53Status{NodeID: "node2", Enabled: true, Records: []api.Route53Record{
		{Pool: "api.example.test.", ZoneID: "Z1", Name: "api.example.com.", Type: "A", State: "in_sync", Changes: 2},
		{Pool: "bad.example.test.", Name: "bad.example.com.", Type: "CNAME", State: "error", Since: now.Add(-90 * time.Second),
			Message: "InvalidChangeBatch", Messages: []string{"RRSet of type CNAME with DNS name bad.example.com. is not permitted"}},
		{Pool: "www.example.test.", ZoneID: "Z1", Name: "www.example.com.", Type: "A", State: "pending", ChangeID: "C9",
			Since: now.Add(-3 * time.Second), Changes: 1, FailOpen: true},
	}}
	var b bytes.Buffer
	printRoute53(&b, st, now)
	out := b.String()
	t.Logf("\n%s", out)
	for _, w := range []string{
		"published by the leader, node2\n",
		"NAME",
		`api.example.com.\s+A\s+api.example.test.\s+Z1\s+in_sync\s+-\s+2 changes`,
		`bad.example.com.\s+CNAME\s+bad.example.test.\s+-\s+error\s+1m30s ago\s+InvalidChangeBatch`,
		`route53: RRSet of type CNAME with DNS name bad.example.com. is not permitted`,
		`www.example.com.\s+A\s+www.example.test.\s+Z1\s+pending\s+3s ago\s+change C9; 1 change; fail open`,
	} {
		if !regexp.MustCompile(w).MatchString(out) {
			t.Errorf("table misses %q", w)
		}
	}
	b.Reset()
	printRoute53(&b, api.Route53Status{NodeID: "node1"}, now)
	if !strings.Contains(b.String(), "Route 53 mode is off on the leader (node1)") {
		t.Errorf("disabled: %q", b.String())
	}
}

func TestCLI_Route53StatusDisabled(t *testing.T) {
	c := daemontest.Start(t, 1, testutil.Logger(t, slog.LevelWarn))
	url := c.Nodes[0].D.APIURL()
	code, out, errOut := detour(t, "route53", "status", "--api", url)
	if code != 0 || !strings.Contains(out, "Route 53 mode is off on the leader (node1)") {
		t.Errorf("exit %d: %s%s", code, out, errOut)
	}
	code, out, _ = detour(t, "route53", "status", "-o", "json", "--api", url)
	if code != 0 || !strings.Contains(out, `"enabled": false`) || !strings.Contains(out, `"node_id": "node1"`) {
		t.Errorf("exit %d: %s", code, out)
	}
	if code, _, _ := detour(t, "route53", "status", "-o", "yaml", "--api", url); code != 2 {
		t.Errorf("-o yaml: exit %d, want 2", code)
	}
	if code, _, _ := detour(t, "route53"); code != 2 {
		t.Errorf("route53 without a subcommand: exit %d, want 2", code)
	}
}

func TestCLI_Route53Standin(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"route53-standin", "--addr", "127.0.0.1:0", "--zone", "example.org.", "--insync-delay", "0s"}, &out, &errb)
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)\n`)
	var url string
	testutil.WaitFor(t, 10*time.Second, func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, "the stand-in's address")
	if !strings.Contains(out.String(), "hosted zone example.org.") || !strings.Contains(out.String(), "endpoint: "+url) {
		t.Errorf("output:\n%s", out.String())
	}
	resp, err := http.Get(url + "/2013-04-01/hostedzonesbyname?dnsname=example.org.")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Name>example.org.</Name>") {
		t.Errorf("ListHostedZonesByName: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "stand-in stopped") {
			t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stand-in did not stop")
	}
	// A bad address fails at once (bounded, in case it did not).
	bctx, bcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer bcancel()
	var bout, berr bytes.Buffer
	if code := run(bctx, []string{"route53-standin", "--addr", "not-an-address"}, &bout, &berr); code == 0 || bctx.Err() != nil {
		t.Errorf("a bad address: exit %d after %v (%s)", code, bctx.Err(), berr.String())
	}
}

func TestCLI_DemoBreakHeal(t *testing.T) {
	var got []string
	var mu sync.Mutex
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		io.WriteString(w, "us-east-1 is broken\n")
	}))
	defer ctl.Close()
	code, out, errOut := detour(t, "demo", "break", "us-east-1", "--control", ctl.URL)
	if code != 0 || !strings.Contains(out, "us-east-1 is broken") {
		t.Errorf("break: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := detour(t, "demo", "heal", "us-east-1", "--control", ctl.URL); code != 0 {
		t.Errorf("heal: exit %d: %s", code, errOut)
	}
	mu.Lock()
	if strings.Join(got, ",") != "POST /break/us-east-1,POST /heal/us-east-1" {
		t.Errorf("control requests = %v", got)
	}
	mu.Unlock()
	if code, _, errOut := detour(t, "demo", "break", "mars-1", "--control", ctl.URL); code != 1 || !strings.Contains(errOut, "unknown region") {
		t.Errorf("unknown region: exit %d: %s", code, errOut)
	}
	if code, _, _ := detour(t, "demo", "break", "--control", ctl.URL); code != 2 {
		t.Errorf("no region: exit %d, want 2", code)
	}
}
