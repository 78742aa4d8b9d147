package policy

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Spec.Normalize. docs/spec.md lists them with their
// reasons; change both together.
const (
	// DefaultZoneTTL is a zone's TTL when the spec gives none, in seconds.
	DefaultZoneTTL = 3600
	// DefaultSOARefresh, DefaultSOARetry, DefaultSOAExpire and
	// DefaultSOAMinimum are the SOA timers, in seconds (RFC 1912 section
	// 2.2 ranges; the minimum is the negative-caching TTL of RFC 2308).
	DefaultSOARefresh = 3600
	DefaultSOARetry   = 600
	DefaultSOAExpire  = 1209600
	DefaultSOAMinimum = 300
	// DefaultPoolTTL is a pool's answer TTL, in seconds: short, so that
	// resolvers follow a failover quickly.
	DefaultPoolTTL = 30
	// DefaultWhenAllDown fails open, as DESIGN.md asks.
	DefaultWhenAllDown = AllDownServeAll
	// DefaultCheckInterval and DefaultCheckTimeout time the probes; the
	// timeout default is lowered to half the interval when the interval
	// is shorter than twice DefaultCheckTimeout.
	DefaultCheckInterval = Duration(5 * time.Second)
	DefaultCheckTimeout  = Duration(2 * time.Second)
	// DefaultRise and DefaultFall are the results in a row that flip a
	// node's verdict.
	DefaultRise = 2
	DefaultFall = 3
	// DefaultMethod and DefaultPath are used by http and https checks.
	DefaultMethod = "GET"
	DefaultPath   = "/"
	// DefaultQueryType and DefaultExpectRcode are used by dns checks.
	DefaultQueryType   = "A"
	DefaultExpectRcode = "NOERROR"
	// DefaultWeight and DefaultPriority are an endpoint's weight and
	// failover priority.
	DefaultWeight   = 1
	DefaultPriority = 1
	// DefaultNotifyPort is the port NOTIFY messages go to.
	DefaultNotifyPort = 53
)

// DefaultExpectStatus returns the status range an http or https check
// accepts when the spec gives none: any success or redirect.
func DefaultExpectStatus() StatusRange { return StatusRange{Lo: 200, Hi: 399} }

// DefaultCheckPort returns the port a check of type typ uses when the spec
// gives none, or 0 when the type has no default (tcp).
func DefaultCheckPort(typ string) int {
	switch typ {
	case CheckHTTP:
		return 80
	case CheckHTTPS:
		return 443
	case CheckDNS:
		return 53
	default:
		return 0
	}
}

// Normalize applies every default and puts every name into canonical form,
// in place; it is the one place where defaults live. Owner names, record
// values that hold names, nameserver names and SOA names are resolved
// against their zone as in a zone file ("www", "@", "*.dev", a name ending
// in a dot is absolute) and lower-cased. Pool names, endpoint targets and
// dns check queries are always fully qualified: the trailing dot is
// optional and never means "relative to a zone". Enumerations (policy,
// check type, when_all_down) are lower-cased and record types upper-cased.
//
// Normalize never fails and is idempotent: a value it cannot read is left
// as written, for Validate to report. It does not check anything.
func (s *Spec) Normalize() {
	if s == nil {
		return
	}
	for i := range s.Zones {
		s.Zones[i].normalize()
	}
	for i := range s.Pools {
		s.Pools[i].normalize()
	}
}

func (z *Zone) normalize() {
	z.Name = FQDN(strings.TrimSpace(z.Name))
	origin := z.Name
	if z.TTL == 0 {
		z.TTL = DefaultZoneTTL
	}
	for i := range z.Nameservers {
		ns := &z.Nameservers[i]
		ns.Name = AbsName(strings.TrimSpace(ns.Name), origin)
		for j, a := range ns.Addresses {
			ns.Addresses[j] = canonicalAddr(a)
		}
	}
	z.SOA.MName = AbsName(strings.TrimSpace(z.SOA.MName), origin)
	if z.SOA.MName == "" && len(z.Nameservers) > 0 {
		z.SOA.MName = z.Nameservers[0].Name
	}
	z.SOA.RName = AbsName(mailboxName(strings.TrimSpace(z.SOA.RName)), origin)
	if z.SOA.RName == "" && origin != "" {
		z.SOA.RName = AbsName("hostmaster", origin)
	}
	setDefault(&z.SOA.Refresh, DefaultSOARefresh)
	setDefault(&z.SOA.Retry, DefaultSOARetry)
	setDefault(&z.SOA.Expire, DefaultSOAExpire)
	setDefault(&z.SOA.Minimum, DefaultSOAMinimum)
	for i := range z.Records {
		r := &z.Records[i]
		r.Name = AbsName(strings.TrimSpace(r.Name), origin)
		r.Type = strings.ToUpper(strings.TrimSpace(r.Type))
		for j, v := range r.Values {
			r.Values[j] = normalizeValue(r.Type, v, origin)
		}
	}
	if t := z.Transfer; t != nil {
		for i, a := range t.Allow {
			t.Allow[i] = canonicalPrefix(a)
		}
		for i, k := range t.Keys {
			t.Keys[i] = FQDN(strings.TrimSpace(k))
		}
		for i, n := range t.Notify {
			t.Notify[i] = notifyAddr(n)
		}
	}
}

func (p *Pool) normalize() {
	p.Name = FQDN(strings.TrimSpace(p.Name))
	p.Policy = strings.ToLower(strings.TrimSpace(p.Policy))
	if p.TTL == 0 {
		p.TTL = DefaultPoolTTL
	}
	p.WhenAllDown = strings.ToLower(strings.TrimSpace(p.WhenAllDown))
	p.Failback = strings.ToLower(strings.TrimSpace(p.Failback))
	if p.WhenAllDown == "" {
		p.WhenAllDown = DefaultWhenAllDown
	}
	p.Check.normalize()
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		if e.Priority == 0 {
			e.Priority = DefaultPriority
		}
		if e.Weight == nil {
			w := DefaultWeight
			e.Weight = &w
		}
		for j, a := range e.Addresses {
			e.Addresses[j] = canonicalAddr(a)
		}
		e.Target = FQDN(strings.TrimSpace(e.Target))
		e.AliasHostedZoneID = bareZoneID(e.AliasHostedZoneID)
	}
	if p.Route53 != nil {
		p.Route53.normalize(p)
	}
}

func (c *Check) normalize() {
	c.Type = strings.ToLower(strings.TrimSpace(c.Type))
	if c.Port == 0 {
		c.Port = DefaultCheckPort(c.Type)
	}
	if c.Interval == 0 {
		c.Interval = DefaultCheckInterval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultCheckTimeout, c.Interval/2)
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	switch c.Type {
	case CheckHTTP, CheckHTTPS:
		if c.Method == "" {
			c.Method = DefaultMethod
		}
		if c.Path == "" {
			c.Path = DefaultPath
		}
		if len(c.ExpectStatus) == 0 {
			c.ExpectStatus = []StatusRange{DefaultExpectStatus()}
		}
	case CheckDNS:
		c.Query = FQDN(strings.TrimSpace(c.Query))
		c.QueryType = strings.ToUpper(strings.TrimSpace(c.QueryType))
		if c.QueryType == "" {
			c.QueryType = DefaultQueryType
		}
		c.ExpectRcode = strings.ToUpper(strings.TrimSpace(c.ExpectRcode))
		if c.ExpectRcode == "" {
			c.ExpectRcode = DefaultExpectRcode
		}
	}
}

// mailboxName turns a mail address written as such
// ("hostmaster@example.test") into the name form of an SOA rname
// ("hostmaster.example.test."). A local part with a dot would need an
// escape, which names here do not support; it is left for validation.
func mailboxName(rname string) string {
	local, domain, ok := strings.Cut(rname, "@")
	if !ok || local == "" || domain == "" || strings.Contains(local, ".") || strings.Contains(domain, "@") {
		return rname
	}
	return local + "." + FQDN(domain)
}

func setDefault(v *uint32, d uint32) {
	if *v == 0 {
		*v = d
	}
}

// canonicalAddr spells an IP address canonically, or returns a as written.
func canonicalAddr(a string) string {
	if ip, err := netip.ParseAddr(strings.TrimSpace(a)); err == nil {
		return ip.String()
	}
	return a
}

// canonicalPrefix spells an address or prefix canonically, or returns a as
// written. Host bits are kept, for validation to report.
func canonicalPrefix(a string) string {
	t := strings.TrimSpace(a)
	if strings.Contains(t, "/") {
		if p, err := netip.ParsePrefix(t); err == nil {
			return p.String()
		}
		return a
	}
	return canonicalAddr(a)
}

// notifyAddr adds the default port to an IP address given without one.
func notifyAddr(n string) string {
	t := strings.TrimSpace(n)
	if ip, err := netip.ParseAddr(t); err == nil {
		return netip.AddrPortFrom(ip, DefaultNotifyPort).String()
	}
	if h, p, err := net.SplitHostPort(t); err == nil {
		if ip, err := netip.ParseAddr(h); err == nil {
			if port, err := strconv.ParseUint(p, 10, 16); err == nil {
				return netip.AddrPortFrom(ip, uint16(port)).String()
			}
		}
		return net.JoinHostPort(strings.ToLower(h), p)
	}
	return n
}

// RecordTTL returns the TTL that r is served with in z: its own TTL when
// the spec sets one, else the zone's.
func (z *Zone) RecordTTL(r *Record) uint32 {
	if r.TTL != nil {
		return *r.TTL
	}
	return z.TTL
}
