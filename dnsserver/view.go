package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// defaultTTL is used when neither a record nor its zone sets a TTL.
const defaultTTL = 3600

// view is everything the query path needs, compiled from one State. It is
// immutable once built: answers copy slices before changing them.
type view struct {
	zones map[string]*zoneView // canonical apex -> zone
	index uint64               // State.Index it was compiled from
	// flatTargets are the hostnames (canonical, sorted, unique) of every
	// endpoint that answers flattened, whether a candidate now or not,
	// so that a failover finds them resolved.
	flatTargets []string

	// memo holds replies of the fast path (see fast.go): key -> []byte.
	memo      sync.Map
	memoCount atomic.Int64
}

// zoneView is one compiled zone.
type zoneView struct {
	apex     string
	soa      *dns.SOA // with the serial of the State
	negSOA   *dns.SOA // TTL = min(SOA TTL, minimum), for negative answers
	nodes    map[string]*node
	transfer *transferRule
	notify   []string // host:port of secondaries to NOTIFY
}

// transferRule says who may transfer a zone.
type transferRule struct {
	allow []netip.Prefix
	keys  []string // canonical TSIG key names
}

// node is one owner name of a zone (empty non-terminals included).
type node struct {
	name  string
	sets  map[uint16][]dns.RR
	order []uint16 // types in the order they were added, for AXFR and ANY
	cut   bool     // NS below the apex: a delegation
	glue  []dns.RR // for a cut or the apex: addresses of in-zone NS targets
	pool  *poolView
	wild  *node // the "*" child, when there is one
}

// poolView is a pool's current answer, ready to serve.
type poolView struct {
	ttl      uint32
	policy   string
	choices  []choice // one per candidate endpoint
	weights  policy.PoolAnswer
	total    int
	a, aaaa  []dns.RR // failover and multivalue: every candidate's addresses
	cname    dns.RR   // failover and multivalue: used when no candidate has addresses
	multiple bool     // multivalue: shuffle per response
	// aFlat and aaaaFlat (failover and multivalue) are the clocks of the
	// flattened candidates whose addresses are in a and aaaa: the answer
	// TTL counts down with them.
	aFlat, aaaaFlat []*flatClock
	flat            bool             // some candidate is flattened
	now             func() time.Time // for the TTL of flattened answers
}

// choice is one endpoint's records.
type choice struct {
	a, aaaa []dns.RR
	cname   dns.RR
	flat    *flatClock // flattened: the expiry of a and aaaa; nil otherwise
}

// fixed reports whether the pool's answer is the same for every query
// (so that it may be memoized): not chosen at random, not flattened.
func (p *poolView) fixed() bool {
	return !p.multiple && p.policy != policy.PolicyWeighted && !p.flat
}

// compile builds the view of st, with the addresses of flattened
// hostname endpoints from flat (nil: none resolved yet). It fails,
// changing nothing, when the spec holds data that cannot be served.
func compile(st *policy.State, flat flatTable, now func() time.Time) (*view, error) {
	v := &view{zones: map[string]*zoneView{}, index: st.Index}
	if st.Spec == nil {
		return v, nil
	}
	for i := range st.Spec.Zones {
		z, err := compileZone(st, &st.Spec.Zones[i])
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", st.Spec.Zones[i].Name, err)
		}
		v.zones[z.apex] = z
	}
	targets := map[string]bool{}
	for i := range st.Spec.Pools {
		p := &st.Spec.Pools[i]
		name := policy.CanonicalName(p.Name)
		z := v.zoneOf(name)
		if z == nil {
			continue // published elsewhere (Route53)
		}
		n := z.ensure(name)
		if n.pool != nil {
			return nil, fmt.Errorf("pools[%d] %s: a second pool with this name", i, p.Name)
		}
		// A pool at a name with other data (the apex, say) answers A and
		// AAAA beside it; a CNAME cannot live beside other data (RFC
		// 1034 section 3.6.2), so its hostname endpoints are flattened.
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
			if len(n.sets[t]) > 0 {
				return nil, fmt.Errorf("pools[%d] %s: the name also holds %s records", i, p.Name, dns.TypeToString[t])
			}
		}
		besideData := len(n.sets) > 0
		pv, err := compilePool(st, p, name, besideData, flat, now)
		if err != nil {
			return nil, fmt.Errorf("pools[%d] %s: %w", i, p.Name, err)
		}
		for k := range p.Endpoints {
			if ep := &p.Endpoints[k]; flattened(ep, besideData) {
				targets[policy.CanonicalName(ep.Target)] = true
			}
		}
		n.pool = pv
	}
	for _, z := range v.zones {
		z.link()
	}
	for t := range targets {
		v.flatTargets = append(v.flatTargets, t)
	}
	slices.Sort(v.flatTargets)
	return v, nil
}

// flattened reports whether ep answers with its target's addresses
// instead of a CNAME: it has a target and no addresses, and either asks
// for it (flatten: true) or its pool's name holds other data (the zone
// apex), where a CNAME is not allowed.
func flattened(ep *policy.Endpoint, besideData bool) bool {
	return ep.Target != "" && len(ep.Addresses) == 0 && (ep.Flatten || besideData)
}

// zoneOf returns the most specific zone holding the canonical name.
func (v *view) zoneOf(name string) *zoneView {
	for off := 0; ; {
		if z, ok := v.zones[name[off:]]; ok {
			return z
		}
		if name[off:] == "." {
			return nil
		}
		next, end := dns.NextLabel(name, off)
		if end {
			if z, ok := v.zones["."]; ok {
				return z
			}
			return nil
		}
		off = next
	}
}

// absName turns a record owner ("@", "www", "*.dev" or absolute) into a
// canonical absolute name inside apex.
func absName(owner, apex string) string {
	switch {
	case owner == "@" || owner == "":
		return apex
	case strings.HasSuffix(owner, "."):
		return strings.ToLower(owner)
	case apex == ".":
		return strings.ToLower(owner) + "."
	default:
		return strings.ToLower(owner) + "." + apex
	}
}

func compileZone(st *policy.State, zs *policy.Zone) (*zoneView, error) {
	apex := policy.CanonicalName(zs.Name)
	z := &zoneView{apex: apex, nodes: map[string]*node{}}
	ttl := zs.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      dns.Fqdn(strings.ToLower(zs.SOA.MName)),
		Mbox:    dns.Fqdn(strings.ToLower(zs.SOA.RName)),
		Serial:  st.ZoneSerials[apex],
		Refresh: zs.SOA.Refresh,
		Retry:   zs.SOA.Retry,
		Expire:  zs.SOA.Expire,
		Minttl:  zs.SOA.Minimum,
	}
	z.soa = soa
	z.negSOA = dns.Copy(soa).(*dns.SOA)
	z.negSOA.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	z.add(soa)
	for i, ns := range zs.Nameservers {
		target := dns.Fqdn(strings.ToLower(ns.Name))
		if _, ok := dns.IsDomainName(target); !ok {
			return nil, fmt.Errorf("nameservers[%d]: %q is not a domain name", i, ns.Name)
		}
		z.add(&dns.NS{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ttl}, Ns: target})
		for j, a := range ns.Addresses {
			rr, err := addrRR(target, ttl, a)
			if err != nil {
				return nil, fmt.Errorf("nameservers[%d].addresses[%d]: %w", i, j, err)
			}
			if !policy.InZone(target, apex) {
				return nil, fmt.Errorf("nameservers[%d]: glue for %s, which is outside the zone", i, target)
			}
			z.add(rr)
		}
	}
	for i, r := range zs.Records {
		owner := absName(r.Name, apex)
		if !policy.InZone(owner, apex) {
			return nil, fmt.Errorf("records[%d]: %s is outside the zone", i, owner)
		}
		rttl := ttl
		if r.TTL != nil {
			rttl = *r.TTL
		}
		for j, val := range r.Values {
			rr, err := parseRR(owner, rttl, r.Type, val, apex)
			if err != nil {
				return nil, fmt.Errorf("records[%d].values[%d]: %w", i, j, err)
			}
			z.add(rr)
		}
	}
	if zs.Transfer != nil {
		tr := &transferRule{}
		for i, a := range zs.Transfer.Allow {
			p, err := parsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("transfer.allow[%d]: %w", i, err)
			}
			tr.allow = append(tr.allow, p)
		}
		for _, k := range zs.Transfer.Keys {
			tr.keys = append(tr.keys, policy.CanonicalName(k))
		}
		z.transfer = tr
		for i, n := range zs.Transfer.Notify {
			hp, err := notifyAddr(n)
			if err != nil {
				return nil, fmt.Errorf("transfer.notify[%d]: %w", i, err)
			}
			z.notify = append(z.notify, hp)
		}
	}
	return z, nil
}

// parsePrefix reads "127.0.0.1/32" or a bare address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// notifyAddr reads "127.0.0.1", "127.0.0.1:5300", "[::1]:53" or
// "host:port"; port 53 is the default.
func notifyAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	if h, p, err := net.SplitHostPort(s); err == nil && h != "" && p != "" {
		return s, nil
	}
	if _, ok := dns.IsDomainName(s); ok && s != "" {
		return net.JoinHostPort(strings.TrimSuffix(s, "."), "53"), nil
	}
	return "", fmt.Errorf("%q is not an address, address:port or host:port", s)
}

func addrRR(owner string, ttl uint32, s string) (dns.RR, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IP address", s)
	}
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: ttl}
	if a.Is4() || a.Is4In6() {
		hdr.Rrtype = dns.TypeA
		return &dns.A{Hdr: hdr, A: a.Unmap().AsSlice()}, nil
	}
	hdr.Rrtype = dns.TypeAAAA
	return &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}, nil
}

// parseRR reads one value of a spec record. The types a spec may hold
// are read with policy's rdata parsers (the ones validation uses, so what
// validates is what is served); names in them may be relative to the
// zone apex. Any other type goes through the zone-file parser.
func parseRR(owner string, ttl uint32, typ, val, apex string) (dns.RR, error) {
	t, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return nil, fmt.Errorf("unknown record type %q", typ)
	}
	hdr := dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	host := func(h string) string {
		if h == "." {
			return h
		}
		return policy.AbsName(h, apex)
	}
	switch t {
	case dns.TypeSOA:
		return nil, fmt.Errorf("SOA records come from the zone's soa block")
	case dns.TypeA:
		a, err := policy.ParseA(val)
		if err != nil {
			return nil, err
		}
		return &dns.A{Hdr: hdr, A: a.AsSlice()}, nil
	case dns.TypeAAAA:
		a, err := policy.ParseAAAA(val)
		if err != nil {
			return nil, err
		}
		return &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}, nil
	case dns.TypeCNAME:
		h, err := policy.ParseHost(val)
		if err != nil {
			return nil, err
		}
		return &dns.CNAME{Hdr: hdr, Target: host(h)}, nil
	case dns.TypeNS:
		h, err := policy.ParseHost(val)
		if err != nil {
			return nil, err
		}
		return &dns.NS{Hdr: hdr, Ns: host(h)}, nil
	case dns.TypeMX:
		pref, h, err := policy.ParseMX(val)
		if err != nil {
			return nil, err
		}
		return &dns.MX{Hdr: hdr, Preference: pref, Mx: host(h)}, nil
	case dns.TypeSRV:
		prio, weight, port, h, err := policy.ParseSRV(val)
		if err != nil {
			return nil, err
		}
		return &dns.SRV{Hdr: hdr, Priority: prio, Weight: weight, Port: port, Target: host(h)}, nil
	case dns.TypeCAA:
		flags, tag, value, err := policy.ParseCAA(val)
		if err != nil {
			return nil, err
		}
		return &dns.CAA{Hdr: hdr, Flag: flags, Tag: strings.ToLower(tag), Value: value}, nil
	case dns.TypeTXT:
		txt, err := policy.ParseTXT(val)
		if err != nil {
			return nil, err
		}
		for i := range txt {
			txt[i] = escapeTXT(txt[i])
		}
		return &dns.TXT{Hdr: hdr, Txt: txt}, nil
	}
	zp := dns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s\n", owner, ttl, dns.TypeToString[t], val)), apex, "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%s %q: %w", typ, val, err)
	}
	if !ok || rr == nil {
		return nil, fmt.Errorf("%s %q: no record", typ, val)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("%s %q: more than one record", typ, val)
	}
	lowerNames(rr)
	return rr, nil
}

// escapeTXT writes a character string (raw octets, as policy.ParseTXT
// returns them) in the escaped form that miekg/dns keeps in dns.TXT and
// reads back when packing: backslash and double quote escaped, octets
// outside printable ASCII as \DDD.
func escapeTXT(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c < ' ' || c > '~' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lowerNames lower-cases the domain names inside the data of common types,
// so that CNAME chasing and glue lookups match.
func lowerNames(rr dns.RR) {
	switch r := rr.(type) {
	case *dns.CNAME:
		r.Target = strings.ToLower(r.Target)
	case *dns.NS:
		r.Ns = strings.ToLower(r.Ns)
	case *dns.MX:
		r.Mx = strings.ToLower(r.Mx)
	case *dns.SRV:
		r.Target = strings.ToLower(r.Target)
	}
}

// ensure returns the node of name, creating it and its empty non-terminal
// ancestors down from the apex.
func (z *zoneView) ensure(name string) *node {
	if n, ok := z.nodes[name]; ok {
		return n
	}
	n := &node{name: name, sets: map[uint16][]dns.RR{}}
	z.nodes[name] = n
	if name != z.apex {
		next, end := dns.NextLabel(name, 0)
		if !end {
			z.ensure(name[next:])
		}
	}
	return n
}

// add puts rr into its node's RRset.
func (z *zoneView) add(rr dns.RR) {
	n := z.ensure(rr.Header().Name)
	t := rr.Header().Rrtype
	if _, ok := n.sets[t]; !ok {
		n.order = append(n.order, t)
	}
	for _, old := range n.sets[t] {
		if dns.IsDuplicate(old, rr) {
			return
		}
	}
	n.sets[t] = append(n.sets[t], rr)
}

// link marks delegations, attaches glue and wildcard children.
func (z *zoneView) link() {
	for name, n := range z.nodes {
		if name != z.apex && len(n.sets[dns.TypeNS]) > 0 {
			n.cut = true
		}
		if strings.HasPrefix(name, "*.") {
			if parent, ok := z.nodes[name[2:]]; ok {
				parent.wild = n
			}
		}
	}
	for name, n := range z.nodes {
		if !n.cut && name != z.apex {
			continue
		}
		for _, rr := range n.sets[dns.TypeNS] {
			target := rr.(*dns.NS).Ns
			if !policy.InZone(target, z.apex) {
				continue
			}
			if t, ok := z.nodes[target]; ok {
				n.glue = append(n.glue, t.sets[dns.TypeA]...)
				n.glue = append(n.glue, t.sets[dns.TypeAAAA]...)
			}
		}
	}
}

// compilePool builds the answer of pool p at name. A flattened endpoint
// (see flattened) answers with the addresses flat holds for its target,
// and with nothing (so NODATA when it is the pool's only candidate) until
// its target has been resolved; other hostname endpoints answer a CNAME.
func compilePool(st *policy.State, p *policy.Pool, name string, besideData bool, flat flatTable, now func() time.Time) (*poolView, error) {
	ans := st.PoolAnswer(p)
	pv := &poolView{ttl: p.TTL, policy: ans.Policy, weights: ans, total: ans.TotalWeight(), now: now}
	if pv.ttl == 0 {
		pv.ttl = 60
	}
	for _, ep := range ans.Endpoints {
		var c choice
		for j, a := range ep.Addresses {
			rr, err := addrRR(name, pv.ttl, a)
			if err != nil {
				return nil, fmt.Errorf("endpoint %s addresses[%d]: %w", ep.Name, j, err)
			}
			if rr.Header().Rrtype == dns.TypeA {
				c.a = append(c.a, rr)
			} else {
				c.aaaa = append(c.aaaa, rr)
			}
		}
		if ep.Target != "" && len(ep.Addresses) == 0 {
			target := dns.Fqdn(strings.ToLower(ep.Target))
			if _, ok := dns.IsDomainName(target); !ok {
				return nil, fmt.Errorf("endpoint %s: target %q is not a domain name", ep.Name, ep.Target)
			}
			if flattened(ep, besideData) {
				pv.flat = true
				f := flat[target]
				c.flat = f.clock
				if c.flat == nil {
					c.flat = &flatClock{} // not resolved yet: no addresses
				}
				for _, a := range f.a {
					c.a = append(c.a, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: pv.ttl}, A: a.AsSlice()})
				}
				for _, a := range f.aaaa {
					c.aaaa = append(c.aaaa, &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: pv.ttl}, AAAA: a.AsSlice()})
				}
			} else {
				c.cname = &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: pv.ttl}, Target: target}
			}
		}
		pv.choices = append(pv.choices, c)
	}
	if ans.Policy != policy.PolicyWeighted {
		for _, c := range pv.choices {
			pv.a = appendUnique(pv.a, c.a)
			pv.aaaa = appendUnique(pv.aaaa, c.aaaa)
			if c.flat != nil && len(c.a) > 0 {
				pv.aFlat = append(pv.aFlat, c.flat)
			}
			if c.flat != nil && len(c.aaaa) > 0 {
				pv.aaaaFlat = append(pv.aaaaFlat, c.flat)
			}
			if pv.cname == nil && c.cname != nil {
				pv.cname = c.cname
			}
		}
		if len(pv.a) > 0 || len(pv.aaaa) > 0 {
			pv.cname = nil
		}
		pv.multiple = ans.Policy == policy.PolicyMultivalue
	}
	return pv, nil
}

func appendUnique(dst, src []dns.RR) []dns.RR {
	for _, rr := range src {
		if !slices.ContainsFunc(dst, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			dst = append(dst, rr)
		}
	}
	return dst
}
