package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/detour-dns/detour/policy"
)

// DefaultMaxTCPConns is the DNS server's default bound on concurrent TCP
// connections, against which dns.max_tcp_conns_per_client is checked.
const DefaultMaxTCPConns = 1000

// Bounds of the dns section's settings.
const (
	maxRateLimitRate    = 1_000_000_000
	maxRateLimitSlip    = 100
	maxRateLimitBuckets = 1 << 24 // about 512 MB
	minTCPTimeout       = 100 * time.Millisecond
	minFlattenRefresh   = time.Second
)

// DNSServerFile holds the DNS server's hardening and flattening settings
// of the dns section. It is inlined in DNSFile: its fields sit beside
// tsig_keys. Every field is optional; unset means the server's default.
type DNSServerFile struct {
	// Resolver is the host:port of the recursive resolver that flattened
	// targets are resolved through (default: the first nameserver of
	// /etc/resolv.conf).
	Resolver *string `yaml:"resolver"`
	// FlattenMinRefresh and FlattenMaxRefresh bound how often a flattened
	// target is resolved again (defaults 5s and 5m); FlattenMaxStale is
	// how long past its TTL the last good answer is served while the
	// resolver fails (default 1h).
	FlattenMinRefresh *policy.Duration `yaml:"flatten_min_refresh"`
	FlattenMaxRefresh *policy.Duration `yaml:"flatten_max_refresh"`
	FlattenMaxStale   *policy.Duration `yaml:"flatten_max_stale"`
	// TCPInitialTimeout, TCPIdleTimeout, TCPReadTimeout and
	// TCPWriteTimeout close silent, slow and stuck TCP connections
	// (defaults 5s or the idle timeout when shorter, 10s, 3s, 10s).
	TCPInitialTimeout *policy.Duration `yaml:"tcp_initial_timeout"`
	TCPIdleTimeout    *policy.Duration `yaml:"tcp_idle_timeout"`
	TCPReadTimeout    *policy.Duration `yaml:"tcp_read_timeout"`
	TCPWriteTimeout   *policy.Duration `yaml:"tcp_write_timeout"`
	// MaxTCPConns bounds concurrent TCP connections (default 1000);
	// MaxTCPConnsPerClient bounds those of one client address (default
	// 100, or max_tcp_conns when smaller; 0 means no bound of its own).
	MaxTCPConns          *int `yaml:"max_tcp_conns"`
	MaxTCPConnsPerClient *int `yaml:"max_tcp_conns_per_client"`
	// TCPMaxQueries is how many queries one TCP connection may send
	// before the server closes it (default 0: no limit).
	TCPMaxQueries *int `yaml:"tcp_max_queries"`
	// RateLimit configures response rate limiting of UDP replies.
	RateLimit *RateLimitFile `yaml:"rate_limit"`
}

// RateLimitFile is the dns.rate_limit section: response rate limiting of
// UDP replies (see dnsserver.RateLimit).
type RateLimitFile struct {
	// Enabled turns rate limiting on (default true).
	Enabled *bool `yaml:"enabled"`
	// Rate is how many identical responses a second one client network
	// may receive (default 200).
	Rate *int `yaml:"rate"`
	// Slip: every Slip-th limited response is sent truncated and the
	// others are dropped (default 2; 1 truncates them all, 0 drops them
	// all).
	Slip *int `yaml:"slip"`
	// IPv4PrefixLength and IPv6PrefixLength are the client networks that
	// share buckets (defaults 24 and 56).
	IPv4PrefixLength *int `yaml:"ipv4_prefix_length"`
	IPv6PrefixLength *int `yaml:"ipv6_prefix_length"`
	// Exempt lists client prefixes or addresses that are never limited.
	Exempt []string `yaml:"exempt"`
	// LimitLoopback limits loopback clients too (default false).
	LimitLoopback *bool `yaml:"limit_loopback"`
	// Buckets is the number of slots of the bucket table (default 65536).
	Buckets *int `yaml:"buckets"`
}

// DNS holds the DNS server settings of a Runtime. Its zero value, and the
// zero value of each field, means the DNS server's defaults.
type DNS struct {
	// Resolver is the host:port flattened targets are resolved through;
	// "" means the first nameserver of /etc/resolv.conf.
	Resolver string
	// FlattenMinRefresh, FlattenMaxRefresh and FlattenMaxStale time the
	// refresh of flattened targets.
	FlattenMinRefresh, FlattenMaxRefresh, FlattenMaxStale time.Duration
	// TCPInitialTimeout, TCPIdleTimeout, TCPReadTimeout and
	// TCPWriteTimeout bound TCP connections.
	TCPInitialTimeout, TCPIdleTimeout, TCPReadTimeout, TCPWriteTimeout time.Duration
	// MaxTCPConns bounds concurrent TCP connections.
	MaxTCPConns int
	// MaxTCPConnsPerClient bounds one client's; -1 means no bound of its
	// own (only MaxTCPConns), 0 the server's default.
	MaxTCPConnsPerClient int
	// TCPMaxQueries is the number of queries per TCP connection; 0 means
	// no limit.
	TCPMaxQueries int
	// RateLimit is response rate limiting of UDP replies.
	RateLimit RateLimit
}

// RateLimit is the response rate limiting of a Runtime. Its zero value is
// on with the defaults; a zero field means its default.
type RateLimit struct {
	// Disabled turns rate limiting off (dns.rate_limit.enabled: false).
	Disabled bool
	// Rate is in responses a second per bucket.
	Rate int
	// Slip: 0 means the default (2), -1 drops every limited response
	// (slip: 0 in the file), 1 truncates every one, N every N-th.
	Slip int
	// IPv4PrefixLength and IPv6PrefixLength group clients.
	IPv4PrefixLength, IPv6PrefixLength int
	// Exempt holds the exempt client prefixes (an address is a /32 or
	// /128 prefix).
	Exempt []netip.Prefix
	// LimitLoopback limits loopback clients too.
	LimitLoopback bool
	// Buckets is the number of slots of the bucket table.
	Buckets int
}

// overlayDNS sets in f every dns hardening and flattening field that o
// sets (tsig_keys are overlaid by Overlay).
func overlayDNS(f *File, o File) {
	if o.DNS == nil {
		return
	}
	if f.DNS == nil {
		f.DNS = &DNSFile{}
	}
	d, s := &f.DNS.DNSServerFile, &o.DNS.DNSServerFile
	overlay(&d.Resolver, s.Resolver)
	overlay(&d.FlattenMinRefresh, s.FlattenMinRefresh)
	overlay(&d.FlattenMaxRefresh, s.FlattenMaxRefresh)
	overlay(&d.FlattenMaxStale, s.FlattenMaxStale)
	overlay(&d.TCPInitialTimeout, s.TCPInitialTimeout)
	overlay(&d.TCPIdleTimeout, s.TCPIdleTimeout)
	overlay(&d.TCPReadTimeout, s.TCPReadTimeout)
	overlay(&d.TCPWriteTimeout, s.TCPWriteTimeout)
	overlay(&d.MaxTCPConns, s.MaxTCPConns)
	overlay(&d.MaxTCPConnsPerClient, s.MaxTCPConnsPerClient)
	overlay(&d.TCPMaxQueries, s.TCPMaxQueries)
	if s.RateLimit == nil {
		return
	}
	if d.RateLimit == nil {
		d.RateLimit = &RateLimitFile{}
	}
	r, q := d.RateLimit, s.RateLimit
	overlay(&r.Rate, q.Rate)
	overlay(&r.Slip, q.Slip)
	overlay(&r.IPv4PrefixLength, q.IPv4PrefixLength)
	overlay(&r.IPv6PrefixLength, q.IPv6PrefixLength)
	overlay(&r.Buckets, q.Buckets)
	overlay(&r.Enabled, q.Enabled)
	overlay(&r.LimitLoopback, q.LimitLoopback)
	if q.Exempt != nil {
		r.Exempt = q.Exempt
	}
}

// dnsRuntime validates the dns section's hardening and flattening
// settings (f nil: all defaults), reporting problems to bad.
func dnsRuntime(f *DNSFile, bad func(path, format string, args ...any)) DNS {
	var out DNS
	if f == nil {
		return out
	}
	s := f.DNSServerFile
	if s.Resolver != nil && *s.Resolver != "" {
		hp, err := parseHostPort(*s.Resolver)
		switch {
		case err != nil:
			bad("dns.resolver", "%v", err)
		case hp.unspecified || hp.port == 0:
			bad("dns.resolver", "%q must name a resolver's host and port, like 127.0.0.1:53", *s.Resolver)
		default:
			out.Resolver = *s.Resolver
		}
	}
	dur := func(path string, p *policy.Duration, min time.Duration, dst *time.Duration) {
		if p == nil {
			return
		}
		if d := p.D(); d < min {
			bad(path, "must be at least %s, got %s", min, p)
		} else {
			*dst = d
		}
	}
	dur("dns.flatten_min_refresh", s.FlattenMinRefresh, minFlattenRefresh, &out.FlattenMinRefresh)
	dur("dns.flatten_max_refresh", s.FlattenMaxRefresh, minFlattenRefresh, &out.FlattenMaxRefresh)
	dur("dns.flatten_max_stale", s.FlattenMaxStale, time.Second, &out.FlattenMaxStale)
	lo, hi := out.FlattenMinRefresh, out.FlattenMaxRefresh
	if lo == 0 {
		lo = 5 * time.Second
	}
	if hi == 0 {
		hi = 5 * time.Minute
	}
	if (out.FlattenMinRefresh != 0 || out.FlattenMaxRefresh != 0) && hi < lo {
		bad("dns.flatten_max_refresh", "(%s) must not be below dns.flatten_min_refresh (%s)", hi, lo)
	}
	dur("dns.tcp_initial_timeout", s.TCPInitialTimeout, minTCPTimeout, &out.TCPInitialTimeout)
	dur("dns.tcp_idle_timeout", s.TCPIdleTimeout, minTCPTimeout, &out.TCPIdleTimeout)
	dur("dns.tcp_read_timeout", s.TCPReadTimeout, minTCPTimeout, &out.TCPReadTimeout)
	dur("dns.tcp_write_timeout", s.TCPWriteTimeout, minTCPTimeout, &out.TCPWriteTimeout)

	maxConns := DefaultMaxTCPConns
	if p := s.MaxTCPConns; p != nil {
		if *p < 1 {
			bad("dns.max_tcp_conns", "must be at least 1, got %d", *p)
		} else {
			out.MaxTCPConns, maxConns = *p, *p
		}
	}
	if p := s.MaxTCPConnsPerClient; p != nil {
		switch {
		case *p < 0:
			bad("dns.max_tcp_conns_per_client", "must not be negative (0: no bound of its own), got %d", *p)
		case *p > maxConns:
			bad("dns.max_tcp_conns_per_client", "(%d) must not exceed dns.max_tcp_conns (%d)", *p, maxConns)
		case *p == 0:
			out.MaxTCPConnsPerClient = -1
		default:
			out.MaxTCPConnsPerClient = *p
		}
	}
	if p := s.TCPMaxQueries; p != nil {
		if *p < 0 {
			bad("dns.tcp_max_queries", "must not be negative (0: no limit), got %d", *p)
		} else {
			out.TCPMaxQueries = *p
		}
	}
	if s.RateLimit != nil {
		out.RateLimit = rateLimitRuntime(*s.RateLimit, bad)
	}
	return out
}

// rateLimitRuntime validates dns.rate_limit. The section is checked even
// when disabled.
func rateLimitRuntime(f RateLimitFile, bad func(path, format string, args ...any)) RateLimit {
	var out RateLimit
	if f.Enabled != nil {
		out.Disabled = !*f.Enabled
	}
	if f.LimitLoopback != nil {
		out.LimitLoopback = *f.LimitLoopback
	}
	num := func(path string, p *int, lo, hi int, dst *int) {
		if p == nil {
			return
		}
		if *p < lo || *p > hi {
			bad(path, "must be from %d to %d, got %d", lo, hi, *p)
			return
		}
		*dst = *p
	}
	if f.Rate != nil && *f.Rate == 0 {
		bad("dns.rate_limit.rate", "must be at least 1 (to turn rate limiting off, set dns.rate_limit.enabled: false)")
	} else {
		num("dns.rate_limit.rate", f.Rate, 1, maxRateLimitRate, &out.Rate)
	}
	num("dns.rate_limit.slip", f.Slip, 0, maxRateLimitSlip, &out.Slip)
	if f.Slip != nil && *f.Slip == 0 {
		out.Slip = -1 // drop every limited response
	}
	num("dns.rate_limit.ipv4_prefix_length", f.IPv4PrefixLength, 1, 32, &out.IPv4PrefixLength)
	num("dns.rate_limit.ipv6_prefix_length", f.IPv6PrefixLength, 1, 128, &out.IPv6PrefixLength)
	num("dns.rate_limit.buckets", f.Buckets, 1, maxRateLimitBuckets, &out.Buckets)
	for i, e := range f.Exempt {
		path := fmt.Sprintf("dns.rate_limit.exempt[%d]", i)
		if a, err := netip.ParseAddr(e); err == nil {
			if a.Zone() != "" {
				bad(path, "%q: an exempt address has no zone", e)
				continue
			}
			a = a.Unmap()
			out.Exempt = append(out.Exempt, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			bad(path, "%q is not an address or a prefix like 10.0.0.0/8", e)
		case p.Masked() != p:
			bad(path, "%q has bits set past its length: did you mean %s?", e, p.Masked())
		default:
			out.Exempt = append(out.Exempt, p)
		}
	}
	return out
}
