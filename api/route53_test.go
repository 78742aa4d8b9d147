package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/detour-dns/detour/api"
)

type fakeRoute53 []api.Route53Record

func (f fakeRoute53) Route53Records() []api.Route53Record { return f }

func TestServer_Route53(t *testing.T) {
	recs := fakeRoute53{{Pool: "www.example.test.", ZoneID: "Z1", Name: "www.example.com.", Type: "A",
		State: "pending", ChangeID: "C1", Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Changes: 1}}
	leader := newFake("n1", true)
	lts := startServer(t, leader, func(c *api.Config) { c.Route53 = recs })
	follower := newFake("n2", false)
	follower.leaderID, follower.leaderURL = "n1", lts.URL
	// The follower has Route 53 mode off: what counts is the leader's.
	fts := startServer(t, follower, nil)

	for _, base := range []string{lts.URL, fts.URL} {
		c, err := api.NewClient(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Route53(t.Context())
		if err != nil {
			t.Fatalf("Route53 via %s: %v", base, err)
		}
		if st.NodeID != "n1" || !st.Enabled || len(st.Records) != 1 || !cmp.Equal(st.Records[0], recs[0]) {
			t.Errorf("Route53 via %s = %+v", base, st)
		}
	}
	a := call(t, "GET", fts.URL+"/v1/route53", "", nil)
	if body := strings.ReplaceAll(string(a.body), " ", ""); a.status != 200 || a.header.Get("X-Detour-Served-By") != "n1" ||
		!strings.Contains(body, `"change_id":"C1"`) || !strings.Contains(body, `"since":"2026-01-02T03:04:05Z"`) {
		t.Errorf("GET /v1/route53 on the follower: %d %v %s", a.status, a.header, a.body)
	}

	t.Run("disabled on the leader: enabled false and an empty list", func(t *testing.T) {
		ts := startServer(t, newFake("n3", true), nil)
		a := call(t, "GET", ts.URL+"/v1/route53", "", nil)
		body := strings.ReplaceAll(string(a.body), " ", "")
		if a.status != 200 || !strings.Contains(body, `"enabled":false`) || !strings.Contains(body, `"records":[]`) {
			t.Errorf("GET /v1/route53: %d %s", a.status, a.body)
		}
	})
	t.Run("no leader known: not_leader error in bounded time", func(t *testing.T) {
		ts := startServer(t, newFake("n4", false), func(c *api.Config) { c.WriteTimeout = 300 * time.Millisecond })
		c, _ := api.NewClient(ts.URL, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := c.Route53(ctx)
		if e, ok := err.(*api.Error); !ok || e.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("err = %v, want a 503 *api.Error", err)
		}
	})
}

func TestServer_Metrics(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("detour_up 1\n"))
	})
	ts := startServer(t, newFake("n1", true), func(c *api.Config) { c.Metrics = h })
	a := call(t, "GET", ts.URL+"/metrics", "", nil)
	if a.status != 200 || string(a.body) != "detour_up 1\n" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /metrics: %d %v %q", a.status, a.header, a.body)
	}
	// Without a handler there is no /metrics.
	ts = startServer(t, newFake("n1", true), nil)
	if a := call(t, "GET", ts.URL+"/metrics", "", nil); a.status != 404 {
		t.Errorf("GET /metrics without a handler: %d", a.status)
	}
}
