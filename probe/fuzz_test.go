package probe

import (
	"testing"

	"github.com/detour-dns/detour/policy"
)

// FuzzCompile feeds arbitrary check and endpoint fields to compile: it
// must return a checker or an error, never panic.
func FuzzCompile(f *testing.F) {
	f.Add("http", 80, "/health", "GET", "api.test", "X-A", "1", "ok", "", "a.test.", "A", "NOERROR", "127.0.0.1", "", "", "")
	f.Add("https", 0, "/", "", "", "", "", "", "^o", "", "", "", "", "alb.test.", "", "https://h.test/x")
	f.Add("dns", 53, "", "", "", "", "", "", "", "q.test", "TXT", "NXDOMAIN", "::1", "", "[::1]:5353", "")
	f.Add("tcp", 0, "", "", "", "", "", "", "", "", "", "", "10.0.0", "", "h:99999", "ftp://x")
	f.Fuzz(func(t *testing.T, typ string, port int, path, method, host, hname, hvalue, body, re,
		query, qtype, rcode, addr, target, checkAddr, checkURL string) {
		p, err := New(Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := policy.Check{Type: typ, Port: port, Path: path, Method: method, Host: host,
			ExpectBody: body, ExpectBodyRegex: re, Query: query, QueryType: qtype, ExpectRcode: rcode}
		if hname != "" {
			c.Headers = map[string]string{hname: hvalue}
		}
		ep := policy.Endpoint{Name: "e", Target: target, CheckAddress: checkAddr, CheckURL: checkURL}
		if addr != "" {
			ep.Addresses = []string{addr}
		}
		pool := policy.Pool{Name: "www.example.test.", Check: c, Endpoints: []policy.Endpoint{ep}}
		jc, err := p.compile(&pool, &pool.Endpoints[0])
		if err == nil && (jc.checker == nil || jc.interval <= 0 || jc.timeout <= 0) {
			t.Fatalf("compile accepted %+v / %+v but returned %+v", c, ep, jc)
		}
	})
}
