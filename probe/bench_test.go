package probe

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/detour-dns/detour/policy"
)

// BenchmarkHTTPCheck measures one http probe (fresh connection, request,
// response, judge) against an in-process server on loopback; the figure
// includes the server's work.
func BenchmarkHTTPCheck(b *testing.B) {
	srv := newBackend(b, false)
	p, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pool := policy.Pool{Name: "www.example.test.", Check: policy.Check{Type: "http", Port: srv.port(b), Path: "/health", ExpectBody: "healthy"},
		Endpoints: []policy.Endpoint{{Name: "e", Addresses: []string{"127.0.0.1"}}}}
	jc, err := p.compile(&pool, &pool.Endpoints[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), time.Second)
		if r := jc.checker.check(ctx); !r.OK {
			b.Fatalf("probe failed: %+v", r)
		}
		cancel()
	}
}

// BenchmarkTCPCheck measures one tcp probe (connect and reset).
func BenchmarkTCPCheck(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pool := policy.Pool{Name: "www.example.test.", Check: policy.Check{Type: "tcp", Port: l.Addr().(*net.TCPAddr).Port},
		Endpoints: []policy.Endpoint{{Name: "e", Addresses: []string{"127.0.0.1"}}}}
	jc, err := p.compile(&pool, &pool.Endpoints[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), time.Second)
		if r := jc.checker.check(ctx); !r.OK {
			b.Fatalf("probe failed: %+v", r)
		}
		cancel()
	}
}
