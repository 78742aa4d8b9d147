package daemon

import (
	"log/slog"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/dnsserver"
	"github.com/detour-dns/detour/internal/metrics"
)

// The node's metrics count rate-limited responses.
var _ dnsserver.RateLimitMetrics = (*metrics.Metrics)(nil)

// dnsServerConfig maps the node's runtime config onto the DNS server's
// Config: listen address, NSID, TSIG keys, and the hardening and
// flattening settings of the dns section. Zero values keep the server's
// defaults; m (may be nil) observes queries and rate-limited responses.
func dnsServerConfig(rt config.Runtime, log *slog.Logger, m dnsserver.Metrics) dnsserver.Config {
	d := rt.DNS
	rl := d.RateLimit
	cfg := dnsserver.Config{
		Addr:                 rt.DNSAddr,
		NodeID:               rt.NodeID,
		TSIGKeys:             rt.TSIGKeys,
		Logger:               log,
		Metrics:              m,
		Resolver:             d.Resolver,
		FlattenMinRefresh:    d.FlattenMinRefresh,
		FlattenMaxRefresh:    d.FlattenMaxRefresh,
		FlattenMaxStale:      d.FlattenMaxStale,
		TCPInitialTimeout:    d.TCPInitialTimeout,
		TCPIdleTimeout:       d.TCPIdleTimeout,
		TCPReadTimeout:       d.TCPReadTimeout,
		TCPWriteTimeout:      d.TCPWriteTimeout,
		MaxTCPConns:          d.MaxTCPConns,
		MaxTCPConnsPerClient: d.MaxTCPConnsPerClient,
		TCPMaxQueries:        d.TCPMaxQueries,
		RateLimit: dnsserver.RateLimit{
			Disabled:      rl.Disabled,
			Rate:          rl.Rate,
			Slip:          rl.Slip,
			IPv4PrefixLen: rl.IPv4PrefixLength,
			IPv6PrefixLen: rl.IPv6PrefixLength,
			LimitLoopback: rl.LimitLoopback,
			Buckets:       rl.Buckets,
		},
	}
	for _, p := range rl.Exempt {
		cfg.RateLimit.Exempt = append(cfg.RateLimit.Exempt, p.String())
	}
	return cfg
}
