package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoad_DNS(t *testing.T) {
	cases := []struct {
		name string
		body string
		want DNS
	}{
		{"absent: the server's defaults", "", DNS{}},
		{"tsig keys only: the server's defaults", "dns:\n  tsig_keys: []\n", DNS{}},
		{"every field set", `dns:
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
    enabled: true
    rate: 20
    slip: 3
    ipv4_prefix_length: 32
    ipv6_prefix_length: 64
    exempt: [10.0.0.0/8, "2001:db8::/32", 198.51.100.7, "::ffff:203.0.113.9"]
    limit_loopback: true
    buckets: 1024
`, DNS{
			Resolver:          "127.0.0.1:5353",
			FlattenMinRefresh: 2 * time.Second, FlattenMaxRefresh: time.Minute, FlattenMaxStale: 30 * time.Minute,
			TCPInitialTimeout: time.Second, TCPIdleTimeout: 4 * time.Second,
			TCPReadTimeout: 500 * time.Millisecond, TCPWriteTimeout: 6 * time.Second,
			MaxTCPConns: 50, MaxTCPConnsPerClient: 5, TCPMaxQueries: 100,
			RateLimit: RateLimit{Rate: 20, Slip: 3, IPv4PrefixLength: 32, IPv6PrefixLength: 64,
				Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"),
					netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("203.0.113.9/32")},
				LimitLoopback: true, Buckets: 1024},
		}},
		{"rate limiting off", "dns:\n  rate_limit: {enabled: false}\n", DNS{RateLimit: RateLimit{Disabled: true}}},
		{"slip 0 drops every limited response", "dns:\n  rate_limit: {slip: 0}\n", DNS{RateLimit: RateLimit{Slip: -1}}},
		{"slip 1 truncates every one", "dns:\n  rate_limit: {slip: 1}\n", DNS{RateLimit: RateLimit{Slip: 1}}},
		{"per-client 0: no bound of its own", "dns:\n  max_tcp_conns_per_client: 0\n", DNS{MaxTCPConnsPerClient: -1}},
		{"per-client up to the default max", "dns:\n  max_tcp_conns_per_client: 1000\n", DNS{MaxTCPConnsPerClient: 1000}},
		{"max refresh alone above the default min", "dns:\n  flatten_max_refresh: 10s\n", DNS{FlattenMaxRefresh: 10 * time.Second}},
		{"a resolver by name", "dns:\n  resolver: resolver.example.test:53\n", DNS{Resolver: "resolver.example.test:53"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := loadYAML(t, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, rt.DNS, cmpopts.EquateComparable(netip.Prefix{})); d != "" {
				t.Errorf("DNS (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoad_DNSErrors(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []string // every one must appear in the error
	}{
		{"resolver without a port", "dns:\n  resolver: 127.0.0.1\n", []string{`dns.resolver: "127.0.0.1" is not a host:port`}},
		{"resolver on port 0", "dns:\n  resolver: 127.0.0.1:0\n", []string{"dns.resolver:", "must name a resolver's host and port"}},
		{"resolver without a host", "dns:\n  resolver: \":53\"\n", []string{"dns.resolver:"}},
		{"flatten timings too short", "dns:\n  flatten_min_refresh: 10ms\n  flatten_max_refresh: 0s\n  flatten_max_stale: -1s\n",
			[]string{"dns.flatten_min_refresh: must be at least 1s, got 10ms", "dns.flatten_max_refresh: must be at least 1s, got 0s",
				"dns.flatten_max_stale: must be at least 1s"}},
		{"max refresh below min refresh", "dns:\n  flatten_min_refresh: 1m\n  flatten_max_refresh: 30s\n",
			[]string{"dns.flatten_max_refresh: (30s) must not be below dns.flatten_min_refresh (1m0s)"}},
		{"min refresh above the default max", "dns:\n  flatten_min_refresh: 10m\n",
			[]string{"dns.flatten_max_refresh: (5m0s) must not be below dns.flatten_min_refresh (10m0s)"}},
		{"tcp timeouts too short", "dns:\n  tcp_initial_timeout: 1ms\n  tcp_idle_timeout: 0s\n  tcp_read_timeout: 99ms\n  tcp_write_timeout: -1s\n",
			[]string{"dns.tcp_initial_timeout: must be at least 100ms", "dns.tcp_idle_timeout: must be at least 100ms",
				"dns.tcp_read_timeout: must be at least 100ms", "dns.tcp_write_timeout: must be at least 100ms"}},
		{"connection bounds", "dns:\n  max_tcp_conns: 0\n  max_tcp_conns_per_client: -1\n  tcp_max_queries: -2\n",
			[]string{"dns.max_tcp_conns: must be at least 1, got 0", "dns.max_tcp_conns_per_client: must not be negative",
				"dns.tcp_max_queries: must not be negative"}},
		{"per-client above the total", "dns:\n  max_tcp_conns: 10\n  max_tcp_conns_per_client: 11\n",
			[]string{"dns.max_tcp_conns_per_client: (11) must not exceed dns.max_tcp_conns (10)"}},
		{"per-client above the default total", "dns:\n  max_tcp_conns_per_client: 1001\n",
			[]string{"dns.max_tcp_conns_per_client: (1001) must not exceed dns.max_tcp_conns (1000)"}},
		{"rate 0 points at enabled", "dns:\n  rate_limit: {rate: 0}\n", []string{"dns.rate_limit.rate: must be at least 1", "enabled: false"}},
		{"rate limit ranges, even when disabled", `dns:
  rate_limit:
    enabled: false
    rate: -5
    slip: 101
    ipv4_prefix_length: 33
    ipv6_prefix_length: 0
    buckets: 0
`, []string{"dns.rate_limit.rate: must be from 1 to 1000000000, got -5", "dns.rate_limit.slip: must be from 0 to 100, got 101",
			"dns.rate_limit.ipv4_prefix_length: must be from 1 to 32, got 33", "dns.rate_limit.ipv6_prefix_length: must be from 1 to 128, got 0",
			"dns.rate_limit.buckets: must be from 1 to 16777216, got 0"}},
		{"bad exempt entries", "dns:\n  rate_limit:\n    exempt: [10.0.0.0/8, nonsense, 10.1.2.3/8, \"fe80::1%eth0\"]\n",
			[]string{`dns.rate_limit.exempt[1]: "nonsense" is not an address or a prefix`,
				`dns.rate_limit.exempt[2]: "10.1.2.3/8" has bits set past its length: did you mean 10.0.0.0/8?`,
				`dns.rate_limit.exempt[3]: "fe80::1%eth0": an exempt address has no zone`}},
		{"unknown field with its line", "dns:\n  rate_limit:\n    ratio: 3\n", []string{"line 5", "ratio"}},
		{"store timeout too short", "raft:\n  store_timeout: 10ms\n", []string{"raft.store_timeout: must be at least 100ms, got 10ms"}},
		{"store timeout negative", "raft:\n  store_timeout: -1s\n", []string{"raft.store_timeout: must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := loadYAML(t, tc.body)
			if err == nil {
				t.Fatalf("no error; DNS = %+v", rt.DNS)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoad_StoreTimeout(t *testing.T) {
	rt, err := loadYAML(t, "raft:\n  store_timeout: 7s\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rt.Raft.StoreTimeout, 7*time.Second; got != want {
		t.Errorf("Raft.StoreTimeout = %v, want %v", got, want)
	}
	rt, err = loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if rt.Raft.StoreTimeout != 0 {
		t.Errorf("Raft.StoreTimeout = %v without the setting, want 0 (the cluster's default)", rt.Raft.StoreTimeout)
	}
}

// TestOverlay_DNS checks that flags (a second File) override single dns
// fields of the file and keep the others.
func TestOverlay_DNS(t *testing.T) {
	file, err := Parse([]byte("dns:\n  resolver: 127.0.0.1:53\n  tcp_max_queries: 5\n  rate_limit: {rate: 10, slip: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := Parse([]byte("dns:\n  tcp_max_queries: 7\n  rate_limit: {slip: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := Default()
	f.NodeID, f.DataDir = ptr("n1"), ptr("/tmp/d")
	f.Overlay(file)
	f.Overlay(flags)
	rt, err := f.Runtime()
	if err != nil {
		t.Fatal(err)
	}
	want := DNS{Resolver: "127.0.0.1:53", TCPMaxQueries: 7, RateLimit: RateLimit{Rate: 10, Slip: 1}}
	if d := cmp.Diff(want, rt.DNS); d != "" {
		t.Errorf("DNS (-want +got):\n%s", d)
	}
}
