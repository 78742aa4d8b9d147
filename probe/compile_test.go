package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/detour-dns/detour/policy"
)

func TestCompileErrors(t *testing.T) {
	ok := policy.Endpoint{Name: "e", Addresses: []string{"127.0.0.1"}}
	tests := []struct {
		name  string
		check policy.Check
		ep    policy.Endpoint
		want  string
	}{
		{"no type", policy.Check{}, ok, "check.type: missing"},
		{"unknown type", policy.Check{Type: "icmp"}, ok, `check.type: "icmp" is not`},
		{"port out of range", policy.Check{Type: "http", Port: 70000}, ok, "check.port: 70000"},
		{"negative interval", policy.Check{Type: "http", Interval: policy.Duration(-time.Second)}, ok, "check.interval"},
		{"negative rise", policy.Check{Type: "http", Rise: -1}, ok, "check.rise"},
		{"bad regex", policy.Check{Type: "http", ExpectBodyRegex: "(["}, ok, "check.expect_body_regex"},
		{"body and regex", policy.Check{Type: "http", ExpectBody: "a", ExpectBodyRegex: "a"}, ok, "exclusive"},
		{"bad status", policy.Check{Type: "http", ExpectStatus: []policy.StatusRange{{Lo: 0, Hi: 700}}}, ok, "check.expect_status[0]"},
		{"bad path", policy.Check{Type: "http", Path: "health"}, ok, "check.path"},
		{"bad method", policy.Check{Type: "http", Method: "GET X"}, ok, "bad method"},
		{"bad header", policy.Check{Type: "http", Headers: map[string]string{"X-A": "1\r\nX-B: 2"}}, ok, "check.headers"},
		{"tcp without port", policy.Check{Type: "tcp"}, ok, "has no port"},
		{"dns without query", policy.Check{Type: "dns"}, ok, "check.query"},
		{"dns bad type", policy.Check{Type: "dns", Query: "a.test.", QueryType: "BOGUS"}, ok, "check.query_type"},
		{"dns bad rcode", policy.Check{Type: "dns", Query: "a.test.", ExpectRcode: "MAYBE"}, ok, "check.expect_rcode"},
		{"nothing to probe", policy.Check{Type: "http"}, policy.Endpoint{Name: "e"}, "nothing to probe"},
		{"bad address", policy.Check{Type: "http"}, policy.Endpoint{Name: "e", Addresses: []string{"10.0.0"}}, "addresses[0]"},
		{"bad check_address", policy.Check{Type: "http"}, policy.Endpoint{Name: "e", CheckAddress: "h:99999"}, "check_address"},
		{"bad check_url", policy.Check{Type: "http"}, policy.Endpoint{Name: "e", CheckURL: "ftp://x/"}, "check_url"},
		{"check_url on tcp", policy.Check{Type: "tcp", Port: 1}, policy.Endpoint{Name: "e", CheckURL: "http://x/"}, "check_url"},
	}
	p := newTestProber(t, Config{}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := policy.Pool{Name: "www.example.test.", Check: tc.check, Endpoints: []policy.Endpoint{tc.ep}}
			_, err := p.compile(&pool, &pool.Endpoints[0])
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCompileTargets(t *testing.T) {
	p := newTestProber(t, Config{}, nil)
	tests := []struct {
		name      string
		check     policy.Check
		ep        policy.Endpoint
		wantAddrs []string
		wantReq   string // the request's first lines (http only)
	}{
		{"http defaults", policy.Check{Type: "http"}, policy.Endpoint{Addresses: []string{"127.0.0.1", "::1"}},
			[]string{"127.0.0.1:80", "[::1]:80"}, "GET / HTTP/1.1\r\nHost: www.example.test\r\n"},
		{"https port", policy.Check{Type: "https", Path: "/h"}, policy.Endpoint{Target: "alb.example.net."},
			[]string{"alb.example.net:443"}, "GET /h HTTP/1.1\r\nHost: www.example.test\r\n"},
		{"check host", policy.Check{Type: "http", Port: 8080, Host: "api.test"}, policy.Endpoint{Addresses: []string{"127.0.0.1"}},
			[]string{"127.0.0.1:8080"}, "GET / HTTP/1.1\r\nHost: api.test\r\n"},
		{"check_address", policy.Check{Type: "http", Port: 8080}, policy.Endpoint{Addresses: []string{"127.0.0.1"}, CheckAddress: "[::1]"},
			[]string{"[::1]:8080"}, ""},
		{"check_url", policy.Check{Type: "http", Port: 8080}, policy.Endpoint{CheckURL: "https://h.test/x?y=1"},
			[]string{"h.test:443"}, "GET /x?y=1 HTTP/1.1\r\nHost: h.test\r\n"},
		{"dns", policy.Check{Type: "dns", Query: "a.test"}, policy.Endpoint{Addresses: []string{"127.0.0.1"}},
			[]string{"127.0.0.1:53"}, ""},
		{"tcp", policy.Check{Type: "tcp", Port: 25}, policy.Endpoint{Target: "mx.test"},
			[]string{"mx.test:25"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ep.Name = "e"
			c := compileOne(t, p, tc.check, tc.ep)
			var addrs []string
			switch c := c.(type) {
			case *httpChecker:
				addrs = c.addrs
				if !strings.HasPrefix(string(c.request), tc.wantReq) {
					t.Errorf("request %q does not start with %q", c.request, tc.wantReq)
				}
				if (c.tls != nil) != (tc.check.Type == "https" || strings.HasPrefix(tc.ep.CheckURL, "https")) {
					t.Errorf("tls config %v for %s", c.tls, tc.name)
				}
			case *tcpChecker:
				addrs = c.addrs
			case *dnsChecker:
				addrs = c.addrs
				if q := c.query.Question[0]; q.Name != "a.test." {
					t.Errorf("query %s, want a.test.", q.Name)
				}
			}
			if diff := cmp.Diff(tc.wantAddrs, addrs); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileDefaultsAndKey(t *testing.T) {
	p := newTestProber(t, Config{}, nil)
	pool := policy.Pool{Name: "www.example.test.", Check: policy.Check{Type: "tcp", Port: 1},
		Endpoints: []policy.Endpoint{{Name: "e", Addresses: []string{"127.0.0.1"}, Weight: new(10)}}}
	jc, err := p.compile(&pool, &pool.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	if jc.interval != policy.DefaultCheckInterval.D() || jc.timeout != policy.DefaultCheckTimeout.D() ||
		jc.rise != policy.DefaultRise || jc.fall != policy.DefaultFall {
		t.Errorf("defaults: interval %s timeout %s rise %d fall %d", jc.interval, jc.timeout, jc.rise, jc.fall)
	}
	same := pool
	same.Endpoints = []policy.Endpoint{{Name: "e", Addresses: []string{"127.0.0.1"}, Weight: new(20), Priority: 3}}
	jc2, _ := p.compile(&same, &same.Endpoints[0])
	if jc2.key != jc.key {
		t.Error("weight and priority changed the probe key; they do not change probing")
	}
	other := pool
	other.Check.Interval = policy.Duration(time.Second)
	jc3, _ := p.compile(&other, &other.Endpoints[0])
	if jc3.key == jc.key {
		t.Error("a changed interval kept the probe key")
	}
}
