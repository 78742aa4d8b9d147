package dnsserver

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Response rate limiting (RRL) of UDP replies, after NSD's and BIND's: a
// server that answers spoofed queries is an amplifier aimed at the
// spoofed source, so identical responses to one client network are
// limited to Rate a second. Past the limit most responses are dropped and
// every Slip-th is sent truncated (TC=1, no records), so that a real
// client behind that network, which is not spoofed, retries over TCP and
// gets its answer, while a victim of spoofing receives less than the
// attacker sends. TCP replies are never limited: a TCP client has proven
// its address with the handshake.
//
// A token bucket is kept per (client prefix, response kind, name) in a
// fixed-size table of sharded slots. The kinds are those of NSD: positive
// answers keyed by qname and qtype, NODATA and ANY by qname, wildcard
// answers and NXDOMAIN by the zone (random names under a zone share one
// bucket), referrals by the delegation point, errors (REFUSED, FORMERR,
// SERVFAIL, ...) by the prefix alone. A slot taken by another key is
// reused for the new one (a fresh, full bucket); an attacker who wants
// to reset a victim's bucket has to land on its slot among Buckets,
// without knowing the per-process hash seed.
//
// Cost: the Handler classifies each reply (the memoized replies carry
// their class), and the UDP loop reads the clock once per batch of
// datagrams; a limited check is a hash, one uncontended shard lock and
// no allocation.

// RateLimit configures response rate limiting of UDP replies. The zero
// value turns it on with NSD's defaults (200 responses a second per
// bucket, slip 2, /24 and /56 client prefixes) for every client that is
// not a loopback address.
type RateLimit struct {
	// Disabled turns response rate limiting off.
	Disabled bool
	// Rate is how many responses a second one bucket (client prefix,
	// response kind, name) may send; a bucket holds at most one second
	// of them, so a quiet client may burst that many at once (default
	// 200, NSD's rrl-ratelimit).
	Rate int
	// Slip: every Slip-th response over the limit is sent truncated
	// (TC=1, the question only) and the others are dropped, starting
	// with a truncated one. 0 means the default 2 (NSD's rrl-slip); 1
	// truncates every limited response; a negative value drops them all.
	Slip int
	// IPv4PrefixLen and IPv6PrefixLen are the client networks that
	// share buckets (defaults 24 and 56; 1-32 and 1-128).
	IPv4PrefixLen int
	IPv6PrefixLen int
	// Exempt lists client prefixes ("10.0.0.0/8", "2001:db8::/32") or
	// addresses that are never limited, for example monitoring or a
	// resolver farm of one's own.
	Exempt []string
	// LimitLoopback limits loopback clients too. By default they are
	// exempt: local tools, health checks and benchmarks on the node
	// itself are not spoofed.
	LimitLoopback bool
	// Buckets is the number of slots of the bucket table (default
	// 65536, about 2 MB); more slots keep more clients apart under a
	// flood from many prefixes.
	Buckets int
}

// RateLimitStats counts the UDP responses that rate limiting held back
// since the server started.
type RateLimitStats struct {
	// Dropped responses were not sent at all.
	Dropped uint64
	// Slipped responses were sent truncated (TC=1) instead.
	Slipped uint64
}

// RateLimitMetrics is an optional interface of a Config.Metrics: when it
// is implemented, ObserveRateLimited is called once per response that
// rate limiting dropped ("drop") or sent truncated ("slip"). It must be
// safe for concurrent use and must not block.
type RateLimitMetrics interface {
	ObserveRateLimited(action string)
}

// RRL defaults, as NSD's.
const (
	defaultRRLRate    = 200
	defaultRRLSlip    = 2
	defaultRRLV4      = 24
	defaultRRLV6      = 56
	defaultRRLBuckets = 1 << 16
	rrlShards         = 64
	tokenUnit         = 1000          // one response, in thousandths, so that refill is exact per millisecond
	maxRRLRate        = 1_000_000_000 // responses a second; more is no limit at all
)

// Response kinds of rate limiting; 0 is "not classified" (never limited).
const (
	rrlPositive uint8 = iota + 1
	rrlNodata
	rrlNXDomain
	rrlReferral
	rrlWildcard
	rrlAny
	rrlError
)

// rrlKindNames names the kinds in logs.
var rrlKindNames = [...]string{"", "positive", "nodata", "nxdomain", "referral", "wildcard", "any", "error"}

// rrlClass is what rate limiting needs to know of a reply: its kind (the
// top 8 bits) and the hash of the name (and type) that keys it (the low
// 56 bits). One word, so that the handler's result stays small.
type rrlClass uint64

// class makes the rrlClass of kind and the name hash name.
func class(kind uint8, name uint64) rrlClass {
	return rrlClass(uint64(kind)<<56 | name&(1<<56-1))
}

// kind returns the kind of c.
func (c rrlClass) kind() uint8 { return uint8(c >> 56) }

// verdict is the decision of rate limiting on one response.
type verdict uint8

const (
	rrlPass verdict = iota
	rrlDrop
	rrlSlip
)

// limiter is the bucket table of response rate limiting. It is safe for
// concurrent use.
type limiter struct {
	rate     int64 // tokens per millisecond, in tokenUnit per second
	burst    int64 // bucket size in tokens
	slip     int64
	v4mask   uint64 // applied to the low half of an IPv4-mapped address
	v6hi     uint64
	v6lo     uint64
	exempt   []masked128
	loopback bool
	seed     uint64
	mask     uint64 // slots per shard - 1
	shards   [rrlShards]rrlShard
	base     time.Time
	log      *slog.Logger
	metrics  RateLimitMetrics

	dropped, slipped atomic.Uint64
	nextLog          atomic.Int64 // ms since base before which no "limiting" line is logged
}

// rrlShard is one lock's share of the bucket table.
type rrlShard struct {
	mu    sync.Mutex
	slots []rrlSlot // guarded by mu
	_     [40]byte  // keep the locks of neighbouring shards on separate cache lines
}

// rrlSlot is one token bucket.
type rrlSlot struct {
	key     uint64 // 0: empty
	last    int64  // ms since base of the last refill
	tokens  int64  // in tokenUnit
	limited int64  // responses limited since the key took the slot
}

// newLimiter validates cfg and returns its limiter, or nil when rate
// limiting is disabled.
func newLimiter(cfg RateLimit, log *slog.Logger, met Metrics) (*limiter, error) {
	if cfg.Disabled {
		return nil, nil
	}
	rate := cfg.Rate
	switch {
	case rate < 0:
		return nil, fmt.Errorf("dnsserver: rate limit: rate %d is negative", rate)
	case rate > maxRRLRate:
		return nil, fmt.Errorf("dnsserver: rate limit: rate %d is above %d", rate, maxRRLRate)
	case rate == 0:
		rate = defaultRRLRate
	}
	slip := cfg.Slip
	switch {
	case slip == 0:
		slip = defaultRRLSlip
	case slip < 0:
		slip = 0
	}
	v4, v6 := cfg.IPv4PrefixLen, cfg.IPv6PrefixLen
	if v4 == 0 {
		v4 = defaultRRLV4
	}
	if v6 == 0 {
		v6 = defaultRRLV6
	}
	if v4 < 1 || v4 > 32 {
		return nil, fmt.Errorf("dnsserver: rate limit: IPv4 prefix length %d is not in 1-32", v4)
	}
	if v6 < 1 || v6 > 128 {
		return nil, fmt.Errorf("dnsserver: rate limit: IPv6 prefix length %d is not in 1-128", v6)
	}
	buckets := cfg.Buckets
	switch {
	case buckets < 0:
		return nil, fmt.Errorf("dnsserver: rate limit: buckets %d is negative", buckets)
	case buckets == 0:
		buckets = defaultRRLBuckets
	}
	per := 1
	for per*rrlShards < buckets {
		per <<= 1
	}
	l := &limiter{
		rate: int64(rate), burst: int64(rate) * tokenUnit, slip: int64(slip),
		v4mask: ^uint64(0) << (32 - v4), loopback: cfg.LimitLoopback,
		seed: rand.Uint64() | 1, mask: uint64(per - 1), base: time.Now(), log: log,
	}
	l.v6hi, l.v6lo = prefixMask128(v6)
	for i, s := range cfg.Exempt {
		p, err := parseExempt(s)
		if err != nil {
			return nil, fmt.Errorf("dnsserver: rate limit: exempt[%d] %q: %w", i, s, err)
		}
		l.exempt = append(l.exempt, maskedPrefix(p))
	}
	for i := range l.shards {
		l.shards[i].slots = make([]rrlSlot, per)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if m, ok := met.(RateLimitMetrics); ok {
		l.metrics = m
	}
	return l, nil
}

// parseExempt reads a prefix or a single address.
func parseExempt(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or prefix")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// masked128 is a prefix as 128 bits and its netmask, IPv4 prefixes in
// their IPv4-mapped form.
type masked128 struct{ hi, lo, mhi, mlo uint64 }

// maskedPrefix returns p as a masked128.
func maskedPrefix(p netip.Prefix) masked128 {
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	b := p.Addr().As16()
	var m masked128
	m.mhi, m.mlo = prefixMask128(bits)
	m.hi = binary.BigEndian.Uint64(b[:8]) & m.mhi
	m.lo = binary.BigEndian.Uint64(b[8:]) & m.mlo
	return m
}

// prefixMask128 returns the two halves of an IPv6 netmask of n bits.
func prefixMask128(n int) (hi, lo uint64) {
	if n <= 0 {
		return 0, 0
	}
	if n >= 64 {
		return ^uint64(0), ^uint64(0) << (128 - n)
	}
	return ^uint64(0) << (64 - n), 0
}

// now returns the limiter's clock: milliseconds since it was made.
func (l *limiter) now() int64 { return time.Since(l.base).Milliseconds() }

// check charges one response of class c to a client at a, at time now
// (from l.now), and says whether to send it, drop it or send it
// truncated.
func (l *limiter) check(a netip.Addr, c rrlClass, now int64) verdict {
	if c.kind() == 0 {
		return rrlPass
	}
	hi, lo := addr128(a)
	if l.exempted(hi, lo) {
		return rrlPass
	}
	if hi == 0 && lo>>32 == 0xFFFF {
		lo &= l.v4mask
	} else {
		hi &= l.v6hi
		lo &= l.v6lo
	}
	key := mix64((hi^l.seed)*0x9e3779b97f4a7c15 + lo*0xc2b2ae3d27d4eb4f ^ uint64(c))
	key |= 1 // never 0, the empty slot
	sh := &l.shards[key>>58]
	sh.mu.Lock()
	s := &sh.slots[key&l.mask]
	if s.key != key {
		*s = rrlSlot{key: key, last: now, tokens: l.burst}
	} else if d := now - s.last; d >= 1000 { // a second refills any bucket (and d*rate cannot overflow)
		s.tokens = l.burst
		s.last = now
	} else if d > 0 {
		s.tokens = min(l.burst, s.tokens+d*l.rate)
		s.last = now
	}
	if s.tokens >= tokenUnit {
		s.tokens -= tokenUnit
		sh.mu.Unlock()
		return rrlPass
	}
	s.limited++
	n := s.limited
	sh.mu.Unlock()
	if next := l.nextLog.Load(); n == 1 && now >= next && l.nextLog.CompareAndSwap(next, now+1000) {
		l.log.Info("dns: rate limiting responses", "prefix", l.prefixOf(a).String(), "kind", rrlKindNames[c.kind()])
	}
	if l.slip > 0 && (n-1)%l.slip == 0 {
		l.slipped.Add(1)
		if l.metrics != nil {
			l.metrics.ObserveRateLimited("slip")
		}
		return rrlSlip
	}
	l.dropped.Add(1)
	if l.metrics != nil {
		l.metrics.ObserveRateLimited("drop")
	}
	return rrlDrop
}

// addr128 returns a as 128 bits, IPv4 in its IPv4-mapped form, so that
// exemptions and masks are integer operations.
func addr128(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, 0xFFFF<<32 | uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// exempted reports whether the client hi:lo (from addr128) is never
// limited: loopback (unless LimitLoopback) or in an Exempt prefix.
func (l *limiter) exempted(hi, lo uint64) bool {
	if hi == 0 && lo>>32 == 0xFFFF { // IPv4
		if !l.loopback && lo>>24&0xFF == 127 {
			return true
		}
	} else if !l.loopback && hi == 0 && lo == 1 { // ::1
		return true
	}
	for _, e := range l.exempt {
		if hi&e.mhi == e.hi && lo&e.mlo == e.lo {
			return true
		}
	}
	return false
}

// applies reports whether rate limiting applies to a client at a.
func (l *limiter) applies(a netip.Addr) bool {
	return !l.exempted(addr128(a))
}

// apply charges the UDP reply out of class c to a client at a and
// returns what to send: out itself, its truncated form (in place), or nil
// to drop it.
func (l *limiter) apply(out []byte, c rrlClass, a netip.Addr, now int64) []byte {
	switch l.check(a, c, now) {
	case rrlDrop:
		return nil
	case rrlSlip:
		return slipReply(out)
	}
	return out
}

// prefixOf returns the client network of a, for logs.
func (l *limiter) prefixOf(a netip.Addr) netip.Prefix {
	bits := 0
	a = a.Unmap()
	if a.Is4() {
		for m := l.v4mask << 32; m&(1<<63) != 0; m <<= 1 {
			bits++
		}
	} else {
		for m := l.v6hi; m&(1<<63) != 0 && bits < 64; m <<= 1 {
			bits++
		}
		for m := l.v6lo; bits >= 64 && m&(1<<63) != 0; m <<= 1 {
			bits++
		}
	}
	p, _ := a.Prefix(bits)
	return p
}

// stats returns the counters.
func (l *limiter) stats() RateLimitStats {
	return RateLimitStats{Dropped: l.dropped.Load(), Slipped: l.slipped.Load()}
}

// mix64 is a 64-bit finalizer (murmur3's fmix64): every input bit
// affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// classify returns the rate-limiting class of reply m, answered from view
// v: its kind and the hashed name that keys it (see the top of this
// file).
func (h *Handler) classify(v *view, m *dns.Msg) rrlClass {
	if len(m.Question) != 1 {
		return class(rrlError, 0)
	}
	q := m.Question[0]
	name := lower(q.Name)
	var z *zoneView
	if v != nil {
		z = v.zoneOf(name)
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		if z != nil {
			return class(rrlNXDomain, maphash.String(h.seed, z.apex))
		}
		return class(rrlNXDomain, maphash.String(h.seed, name))
	default:
		return class(rrlError, 0)
	}
	if z == nil { // NOTIFY acknowledged, or no zone: as an error
		return class(rrlError, 0)
	}
	if !m.Authoritative {
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				return class(rrlReferral, maphash.String(h.seed, lower(rr.Header().Name)))
			}
		}
	}
	if _, ok := z.nodes[name]; !ok {
		return class(rrlWildcard, maphash.String(h.seed, z.apex))
	}
	switch {
	case q.Qtype == dns.TypeANY:
		return class(rrlAny, maphash.String(h.seed, name))
	case len(m.Answer) == 0:
		return class(rrlNodata, maphash.String(h.seed, name))
	}
	return class(rrlPositive, mix64(maphash.String(h.seed, name)^uint64(q.Qtype)))
}

// slipReply turns the reply out into its truncated form, in place: the
// header (TC set, the counts of the answer, authority and additional
// sections zero) and the question. A client that gets it retries over
// TCP.
func slipReply(out []byte) []byte {
	if len(out) < 12 {
		return out
	}
	end := 12
	if binary.BigEndian.Uint16(out[4:]) == 1 {
		off := 12
		for off < len(out) {
			l := int(out[off])
			if l == 0 || l&0xC0 != 0 {
				if l&0xC0 != 0 {
					off++ // a pointer is two bytes
				}
				off++
				break
			}
			off += 1 + l
		}
		if off+4 <= len(out) {
			end = off + 4
		}
	}
	if end == 12 {
		binary.BigEndian.PutUint16(out[4:], 0)
	}
	out[2] |= 0x02 // TC
	clear(out[6:12])
	return out[:end]
}
