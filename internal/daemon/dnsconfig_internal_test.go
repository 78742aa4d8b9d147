package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/dnsserver"
	"github.com/detour-dns/detour/policy"
)

// nilState is a StateSource with no state, enough for dnsserver.New.
type nilState struct{}

func (nilState) Watch() (*policy.State, <-chan struct{}) { return nil, nil }

// TestDNSServerConfig checks that every dns setting of a node config file
// lands in the DNS server's Config, with the file's meanings translated
// (slip 0, per-client 0), and that the server accepts the result.
func TestDNSServerConfig(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want dnsserver.Config
	}{
		{"no dns section: the server's defaults", "", dnsserver.Config{}},
		{"every setting", `dns:
  resolver: 127.0.0.1:5353
  flatten_min_refresh: 2s
  flatten_max_refresh: 1m
  flatten_max_stale: 30m
  tcp_initial_timeout: 1s
  tcp_idle_timeout: 4s
  tcp_read_timeout: 500ms
  tcp_write_timeout: 6s
  max_tcp_conns: 50
  max_tcp_conns_per_client: 5
  tcp_max_queries: 100
  rate_limit:
    rate: 20
    slip: 3
    ipv4_prefix_length: 32
    ipv6_prefix_length: 64
    exempt: [10.0.0.0/8, 198.51.100.7]
    limit_loopback: true
    buckets: 1024
`, dnsserver.Config{
			Resolver:          "127.0.0.1:5353",
			FlattenMinRefresh: 2 * time.Second, FlattenMaxRefresh: time.Minute, FlattenMaxStale: 30 * time.Minute,
			TCPInitialTimeout: time.Second, TCPIdleTimeout: 4 * time.Second,
			TCPReadTimeout: 500 * time.Millisecond, TCPWriteTimeout: 6 * time.Second,
			MaxTCPConns: 50, MaxTCPConnsPerClient: 5, TCPMaxQueries: 100,
			RateLimit: dnsserver.RateLimit{Rate: 20, Slip: 3, IPv4PrefixLen: 32, IPv6PrefixLen: 64,
				Exempt: []string{"10.0.0.0/8", "198.51.100.7/32"}, LimitLoopback: true, Buckets: 1024},
		}},
		{"rate limiting off", "dns:\n  rate_limit: {enabled: false}\n", dnsserver.Config{RateLimit: dnsserver.RateLimit{Disabled: true}}},
		{"slip 0 drops every limited response", "dns:\n  rate_limit: {slip: 0}\n", dnsserver.Config{RateLimit: dnsserver.RateLimit{Slip: -1}}},
		{"per-client 0: only max_tcp_conns", "dns:\n  max_tcp_conns_per_client: 0\n", dnsserver.Config{MaxTCPConnsPerClient: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "node.yaml")
			body := "node_id: n1\ndata_dir: " + t.TempDir() + "\ndns_addr: 127.0.0.1:0\n" + tc.yaml
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			rt, err := config.Load(p, config.File{})
			if err != nil {
				t.Fatal(err)
			}
			got := dnsServerConfig(rt, nil, nil)
			want := tc.want
			want.Addr, want.NodeID = "127.0.0.1:0", "n1"
			if d := cmp.Diff(want, got, cmpopts.IgnoreFields(dnsserver.Config{}, "TSIGKeys")); d != "" {
				t.Errorf("dnsserver.Config (-want +got):\n%s", d)
			}
			if _, err := dnsserver.New(got, nilState{}); err != nil {
				t.Errorf("dnsserver.New refuses the mapped config: %v", err)
			}
		})
	}
}
