package policy

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits checked by Validate. docs/spec.md gives the reasons.
const (
	// MaxTTL is the largest TTL a record or zone may have (RFC 2181
	// section 8: TTLs are 31-bit).
	MaxTTL = 2147483647
	// MinPoolTTL and MaxPoolTTL bound a pool's TTL: a pool exists to move
	// answers, so its TTL is at least 1 s and at most a day.
	MinPoolTTL = 1
	MaxPoolTTL = 86400
	// MaxSOAMinimum caps the negative-caching TTL (RFC 2308 section 5
	// suggests hours; resolvers cap it lower anyway).
	MaxSOAMinimum = 86400
	// MinPriority and MaxPriority bound an endpoint's failover priority.
	MinPriority = 1
	MaxPriority = 255
	// MaxWeight is the largest endpoint weight.
	MaxWeight = 1000
	// MaxRiseFall caps rise and fall: beyond it a verdict would take
	// minutes to flip at common intervals.
	MaxRiseFall = 100
	// MinCheckInterval and MaxCheckInterval bound a check's interval.
	MinCheckInterval = Duration(100 * time.Millisecond)
	MaxCheckInterval = Duration(time.Hour)
	// MaxEndpointNameLen caps an endpoint's name.
	MaxEndpointNameLen = 63
)

// Problem is one thing wrong with a spec: Path names the field the way it is
// written in YAML ("pools[0].endpoints[1].addresses[0]") and Message says
// what is wrong with it.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String formats p as "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError is a spec that parsed but breaks rules. It holds every
// problem found, broadly in the order of the spec.
type ValidationError struct {
	Problems []Problem
}

// Error lists every problem, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Validate checks every rule of a spec and returns a *ValidationError
// holding every problem, or nil. It expects a spec that Normalize has seen
// (LoadSpec does both); on any other spec it reports what is missing or
// relative as it stands. It never modifies s and never panics.
func Validate(s *Spec) error {
	v := &validator{s: s}
	v.spec()
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	s        *Spec
	problems []Problem
	// r53At maps "name type" of every record set published to Route 53
	// to the index of its pool.
	r53At map[string]int
}

func (v *validator) addf(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// owner is something that lives at a name of a zone: a static record set or
// the glue of a nameserver.
type owner struct {
	path string
	typ  string
}

func (v *validator) spec() {
	s := v.s
	if s == nil {
		v.addf("", "the spec is missing")
		return
	}
	if len(s.Zones) == 0 {
		v.addf("zones", "at least one zone is required")
	}
	zoneAt := map[string]int{}
	// static maps every owner name of every zone to what lives there.
	static := map[string][]owner{}
	var delegations []string
	for i := range s.Zones {
		z := &s.Zones[i]
		p := fmt.Sprintf("zones[%d]", i)
		ok := v.zoneName(p+".name", z.Name)
		if ok {
			if first, dup := zoneAt[z.Name]; dup {
				v.addf(p+".name", "zone %q is already defined at zones[%d]", z.Name, first)
				// Check the copy on its own, so that its records are
				// not reported again as clashing with the first.
				var ignored []string
				v.zone(p, z, false, map[string][]owner{}, &ignored)
				continue
			}
			zoneAt[z.Name] = i
		}
		v.zone(p, z, ok, static, &delegations)
	}
	v.delegated(static, delegations)
	v.settings(s.Settings)
	poolAt := map[string]int{}
	for i := range s.Pools {
		v.pool(fmt.Sprintf("pools[%d]", i), &s.Pools[i], poolAt, i, static, delegations)
	}
}

func (v *validator) zoneName(path, name string) bool {
	switch {
	case name == "":
		v.addf(path, "a zone name is required")
	case name == ".":
		v.addf(path, "detour does not serve the root zone")
	default:
		if err := ValidName(name); err != nil {
			v.addf(path, "%v", err)
		} else if IsWildcard(name) {
			v.addf(path, "%q: a zone name cannot be a wildcard", name)
		} else if !strings.HasSuffix(name, ".") {
			v.addf(path, "%q is not absolute (it must end with a dot)", name)
		} else {
			return true
		}
	}
	return false
}

// absHost checks a name that must be an absolute host name; what names the
// field in the message when it is missing.
func (v *validator) absHost(path, name, what string) bool {
	if name == "" {
		v.addf(path, "%s is required", what)
		return false
	}
	if err := checkHost(name); err != nil {
		v.addf(path, "%v", err)
		return false
	}
	if !strings.HasSuffix(name, ".") {
		v.addf(path, "%q is not absolute (it must end with a dot)", name)
		return false
	}
	return true
}

func (v *validator) zone(p string, z *Zone, nameOK bool, static map[string][]owner, delegations *[]string) {
	if z.TTL < 1 || z.TTL > MaxTTL {
		v.addf(p+".ttl", "%d is outside 1..%d", z.TTL, MaxTTL)
	}
	v.soa(p+".soa", &z.SOA)

	// Nameservers.
	if len(z.Nameservers) == 0 {
		v.addf(p+".nameservers", "at least one nameserver is required")
	}
	nsAt := map[string]int{}
	for k := range z.Nameservers {
		ns := &z.Nameservers[k]
		np := fmt.Sprintf("%s.nameservers[%d]", p, k)
		if !v.absHost(np+".name", ns.Name, "a nameserver name") {
			v.addrs(np+".addresses", ns.Addresses)
			continue
		}
		if first, dup := nsAt[ns.Name]; dup {
			v.addf(np+".name", "%q is already listed at nameservers[%d]", ns.Name, first)
		}
		nsAt[ns.Name] = k
		if nameOK {
			inZone := InZone(ns.Name, z.Name)
			switch {
			case inZone && len(ns.Addresses) == 0:
				v.addf(np+".addresses", "%q is inside zone %q, so it needs glue addresses", ns.Name, z.Name)
			case !inZone && len(ns.Addresses) > 0:
				v.addf(np+".addresses", "%q is outside zone %q, so it must not have glue addresses (its own zone serves them)", ns.Name, z.Name)
			}
			if inZone && len(ns.Addresses) > 0 {
				static[ns.Name] = append(static[ns.Name], owner{np + ".addresses", "glue"})
			}
		}
		v.addrs(np+".addresses", ns.Addresses)
	}

	// Records.
	type key struct{ name, typ string }
	setAt := map[key]int{}
	for j := range z.Records {
		r := &z.Records[j]
		rp := fmt.Sprintf("%s.records[%d]", p, j)
		nameOK2 := v.ownerName(rp+".name", r.Name, z, nameOK)
		typeOK := slices.Contains(RecordTypes(), r.Type)
		if !typeOK {
			if r.Type == "" {
				v.addf(rp+".type", "a record type is required (one of %s)", strings.Join(RecordTypes(), ", "))
			} else {
				v.addf(rp+".type", "%q is not a supported record type (one of %s)", r.Type, strings.Join(RecordTypes(), ", "))
			}
		}
		if r.TTL != nil && *r.TTL > MaxTTL {
			v.addf(rp+".ttl", "%d is outside 0..%d", *r.TTL, MaxTTL)
		}
		if len(r.Values) == 0 {
			v.addf(rp+".values", "at least one value is required")
		}
		if typeOK {
			seen := map[string]int{}
			for k, val := range r.Values {
				vp := fmt.Sprintf("%s.values[%d]", rp, k)
				if err := checkValue(r.Type, val); err != nil {
					v.addf(vp, "%v", err)
					continue
				}
				if first, dup := seen[val]; dup {
					v.addf(vp, "%q repeats values[%d]", val, first)
				}
				seen[val] = k
			}
		}
		if !nameOK2 || !typeOK {
			continue
		}
		switch {
		case r.Type == TypeCNAME && len(r.Values) > 1:
			v.addf(rp+".values", "a CNAME has exactly one value, found %d", len(r.Values))
		case r.Type == TypeNS && nameOK && r.Name == z.Name:
			v.addf(rp+".type", "NS records at the zone apex come from nameservers; list them there")
		}
		if r.Type == TypeCNAME && nameOK && r.Name == z.Name {
			v.addf(rp+".name", "a CNAME cannot be at the zone apex %q (the apex holds SOA and NS records)", z.Name)
		}
		if r.Type == TypeNS && nameOK && r.Name != z.Name {
			*delegations = append(*delegations, r.Name)
		}
		k := key{r.Name, r.Type}
		if first, dup := setAt[k]; dup {
			v.addf(rp, "%s %s is already defined at %s.records[%d]; merge their values into one record", r.Name, r.Type, p, first)
			continue
		}
		setAt[k] = j
		static[r.Name] = append(static[r.Name], owner{rp, r.Type})
	}
	// CNAME exclusivity among the static records of this zone, and one
	// source for the addresses of an in-zone nameserver.
	for j := range z.Records {
		r := &z.Records[j]
		rp := fmt.Sprintf("%s.records[%d]", p, j)
		if r.Type == TypeA || r.Type == TypeAAAA {
			for _, o := range static[r.Name] {
				if o.typ == "glue" {
					v.addf(rp+".name", "%q is a nameserver with glue addresses at %s; give its addresses in one place", r.Name, o.path)
				}
			}
		}
		if r.Type != TypeCNAME {
			continue
		}
		for _, o := range static[r.Name] {
			if o.path != rp {
				v.addf(rp+".name", "%q has a CNAME and also %s at %s; a CNAME owner holds no other record", r.Name, o.typ, o.path)
			}
		}
	}
	if z.Transfer != nil {
		v.transfer(p+".transfer", z.Transfer)
	}
}

// ownerName checks a record's owner name; zoneOK says z.Name is usable.
func (v *validator) ownerName(path, name string, z *Zone, zoneOK bool) bool {
	if name == "" {
		v.addf(path, "a record name is required (\"@\" for the zone apex)")
		return false
	}
	if err := ValidName(name); err != nil {
		v.addf(path, "%v", err)
		return false
	}
	if !strings.HasSuffix(name, ".") {
		v.addf(path, "%q is not absolute (it must end with a dot)", name)
		return false
	}
	if !zoneOK {
		return true
	}
	if !InZone(name, z.Name) {
		v.addf(path, "%q is outside zone %q", name, z.Name)
		return false
	}
	if other := v.s.ZoneFor(name); other != nil && other.Name != z.Name {
		v.addf(path, "%q belongs to zone %q, which this spec also serves; put the record there", name, other.Name)
		return false
	}
	return true
}

// delegated reports records that a delegation (an NS record below an apex)
// hides: only glue addresses may live below a delegation point.
func (v *validator) delegated(static map[string][]owner, delegations []string) {
	if len(delegations) == 0 {
		return
	}
	names := make([]string, 0, len(static))
	for n := range static {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, d := range delegations {
			for _, o := range static[n] {
				if n == d && o.typ != TypeNS {
					v.addf(o.path, "%q is delegated by an NS record, so it holds no %s record", n, o.typ)
				}
				if n != d && InZone(n, d) && o.typ != TypeA && o.typ != TypeAAAA && o.typ != "glue" {
					v.addf(o.path, "%q is below the delegation %q, so it holds no %s record (only glue A/AAAA)", n, d, o.typ)
				}
			}
		}
	}
}

func (v *validator) soa(p string, soa *SOA) {
	v.absHost(p+".mname", soa.MName, "mname (the primary nameserver)")
	if soa.RName == "" {
		v.addf(p+".rname", "rname (the contact mailbox, like hostmaster.example.test.) is required")
	} else if strings.Contains(soa.RName, "@") {
		v.addf(p+".rname", "%q: write the mailbox as a name (hostmaster.example.test. for hostmaster@example.test); a local part with a dot is not supported", soa.RName)
	} else if err := ValidName(soa.RName); err != nil {
		v.addf(p+".rname", "%v", err)
	} else if IsWildcard(soa.RName) || !strings.HasSuffix(soa.RName, ".") {
		v.addf(p+".rname", "%q is not an absolute mailbox name like hostmaster.example.test.", soa.RName)
	}
	for _, f := range []struct {
		name string
		val  uint32
	}{{"refresh", soa.Refresh}, {"retry", soa.Retry}, {"expire", soa.Expire}, {"minimum", soa.Minimum}} {
		if f.val < 1 || f.val > MaxTTL {
			v.addf(p+"."+f.name, "%d is outside 1..%d", f.val, MaxTTL)
		}
	}
	if soa.Expire > 0 && uint64(soa.Expire) < uint64(soa.Refresh)+uint64(soa.Retry) {
		v.addf(p+".expire", "%d is shorter than refresh + retry (%d): secondaries would drop the zone before they retry", soa.Expire, uint64(soa.Refresh)+uint64(soa.Retry))
	}
	if soa.Minimum > MaxSOAMinimum {
		v.addf(p+".minimum", "%d is above %d (a day of negative caching)", soa.Minimum, MaxSOAMinimum)
	}
}

func (v *validator) transfer(p string, t *Transfer) {
	for i, a := range t.Allow {
		ap := fmt.Sprintf("%s.allow[%d]", p, i)
		if strings.Contains(a, "/") {
			pr, err := netip.ParsePrefix(a)
			if err != nil {
				v.addf(ap, "%q is not an IP address or CIDR prefix", a)
			} else if pr.Masked() != pr {
				v.addf(ap, "%q has host bits set; did you mean %s?", a, pr.Masked())
			}
			continue
		}
		if ip, err := netip.ParseAddr(a); err != nil || ip.Zone() != "" {
			v.addf(ap, "%q is not an IP address or CIDR prefix", a)
		}
	}
	for i, k := range t.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", p, i)
		if err := checkHost(k); err != nil {
			v.addf(kp, "TSIG key name: %v", err)
		}
	}
	for i, n := range t.Notify {
		np := fmt.Sprintf("%s.notify[%d]", p, i)
		if ip, err := netip.ParseAddr(n); err == nil && ip.Zone() == "" {
			continue
		}
		if err := checkHostPort(n, true); err != nil {
			v.addf(np, "%q is not an IP address or host:port: %v", n, err)
		}
	}
}

// checkHostPort checks "host:port" (or "[v6]:port"); host is an IP
// address or a host name. With needPort false, a bare host is accepted.
func checkHostPort(s string, needPort bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if needPort {
			return fmt.Errorf("want host:port")
		}
		host, port = s, ""
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if port != "" || needPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	if host == "" {
		return fmt.Errorf("the host is empty")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("the address %q has a zone", host)
		}
		return nil
	}
	return checkHost(host)
}

// addrs checks a list of IP addresses without repeats.
func (v *validator) addrs(p string, addrs []string) {
	seen := map[string]int{}
	for i, a := range addrs {
		ap := fmt.Sprintf("%s[%d]", p, i)
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			v.addf(ap, "%q is not an IP address", a)
			continue
		}
		if first, dup := seen[ip.String()]; dup {
			v.addf(ap, "%q repeats [%d]", a, first)
		}
		seen[ip.String()] = i
	}
}

func (v *validator) pool(pp string, p *Pool, poolAt map[string]int, i int, static map[string][]owner, delegations []string) {
	if p.Name == "" {
		v.addf(pp+".name", "a pool name (a fully qualified name like www.example.test.) is required")
	} else if err := ValidName(p.Name); err != nil {
		v.addf(pp+".name", "%v", err)
	} else if IsWildcard(p.Name) {
		v.addf(pp+".name", "%q: a pool name cannot be a wildcard", p.Name)
	} else if !strings.HasSuffix(p.Name, ".") {
		v.addf(pp+".name", "%q is not absolute (it must end with a dot)", p.Name)
	} else if first, dup := poolAt[p.Name]; dup {
		v.addf(pp+".name", "pool %q is already defined at pools[%d]", p.Name, first)
	} else {
		poolAt[p.Name] = i
		z := v.s.ZoneFor(p.Name)
		if z == nil {
			v.addf(pp+".name", "%q is outside every zone of the spec; pools outside the spec's zones are not supported yet", p.Name)
		} else {
			v.poolPlace(pp, p, z, static, delegations)
		}
	}

	switch p.Policy {
	case PolicyFailover, PolicyWeighted, PolicyMultivalue:
	case "":
		v.addf(pp+".policy", "a policy is required (failover, weighted or multivalue)")
	default:
		v.addf(pp+".policy", "%q is not a policy (failover, weighted or multivalue)", p.Policy)
	}
	if p.TTL < MinPoolTTL || p.TTL > MaxPoolTTL {
		v.addf(pp+".ttl", "%d is outside %d..%d", p.TTL, MinPoolTTL, MaxPoolTTL)
	}
	switch p.WhenAllDown {
	case AllDownServeAll, AllDownServeNone:
	default:
		v.addf(pp+".when_all_down", "%q is not serve_all or serve_none", p.WhenAllDown)
	}
	v.check(pp+".check", &p.Check)

	if len(p.Endpoints) == 0 {
		v.addf(pp+".endpoints", "at least one endpoint is required")
	}
	epAt := map[string]int{}
	anyWeight := false
	for k := range p.Endpoints {
		v.endpoint(fmt.Sprintf("%s.endpoints[%d]", pp, k), p, k, epAt)
		if w := p.Endpoints[k].Weight; w != nil && *w > 0 {
			anyWeight = true
		}
	}
	if p.Policy == PolicyWeighted && len(p.Endpoints) > 0 && !anyWeight {
		v.addf(pp+".endpoints", "a weighted pool needs at least one endpoint with a weight above 0")
	}
	if v.r53At == nil {
		v.r53At = map[string]int{}
	}
	v.route53(pp, p, i, v.r53At)
	v.failback(pp, p)
}

// poolPlace checks that pool p fits in zone z: no clash with static
// records, not below a delegation.
func (v *validator) poolPlace(pp string, p *Pool, z *Zone, static map[string][]owner, delegations []string) {
	apex := p.Name == z.Name
	answersCNAME := false
	for _, e := range p.Endpoints {
		if e.Target != "" && !e.Flatten && !apex {
			answersCNAME = true
		}
	}
	for _, o := range static[p.Name] {
		switch {
		case o.typ == TypeA || o.typ == TypeAAAA || o.typ == TypeCNAME || o.typ == TypeNS || o.typ == "glue":
			v.addf(pp+".name", "%q is also the name of the %s record at %s; a pool owns the addresses of its name", p.Name, o.typ, o.path)
		case answersCNAME:
			v.addf(pp+".name", "%q answers with a CNAME (an endpoint has a target without flatten), so it cannot share its name with the %s record at %s", p.Name, o.typ, o.path)
		}
	}
	for _, d := range delegations {
		if d != p.Name && InZone(p.Name, d) {
			v.addf(pp+".name", "%q is below the delegation %q", p.Name, d)
		}
	}
}

var endpointNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (v *validator) endpoint(ep string, p *Pool, k int, epAt map[string]int) {
	e := &p.Endpoints[k]
	switch {
	case e.Name == "":
		v.addf(ep+".name", "an endpoint name (like us-east-1) is required")
	case len(e.Name) > MaxEndpointNameLen || !endpointNameRE.MatchString(e.Name):
		v.addf(ep+".name", "%q is not an endpoint name: 1 to %d letters, digits, '.', '_' and '-', starting with a letter or digit", e.Name, MaxEndpointNameLen)
	default:
		if first, dup := epAt[e.Name]; dup {
			v.addf(ep+".name", "endpoint %q is already defined at endpoints[%d]", e.Name, first)
		}
		epAt[e.Name] = k
	}
	if e.Priority < MinPriority || e.Priority > MaxPriority {
		v.addf(ep+".priority", "%d is outside %d..%d (the lowest number is preferred)", e.Priority, MinPriority, MaxPriority)
	}
	if e.Weight != nil && (*e.Weight < 0 || *e.Weight > MaxWeight) {
		v.addf(ep+".weight", "%d is outside 0..%d", *e.Weight, MaxWeight)
	}
	switch {
	case len(e.Addresses) == 0 && e.Target == "":
		v.addf(ep, "an endpoint needs addresses or a target")
	case len(e.Addresses) > 0 && e.Target != "":
		v.addf(ep, "an endpoint has addresses or a target, not both")
	}
	v.addrs(ep+".addresses", e.Addresses)
	if e.Target != "" {
		if err := checkHost(e.Target); err != nil {
			v.addf(ep+".target", "%v", err)
		} else if !strings.HasSuffix(e.Target, ".") {
			v.addf(ep+".target", "%q is not absolute (it must end with a dot)", e.Target)
		} else if e.Target == p.Name {
			v.addf(ep+".target", "%q is the pool's own name", e.Target)
		}
	}
	if e.Flatten && e.Target == "" {
		v.addf(ep+".flatten", "flatten needs a target")
	}
	if e.CheckAddress != "" {
		if err := checkHostPort(e.CheckAddress, false); err != nil {
			v.addf(ep+".check_address", "%q is not a host or host:port: %v", e.CheckAddress, err)
		}
	}
	if e.CheckURL != "" {
		if t := p.Check.Type; t != CheckHTTP && t != CheckHTTPS && t != "" {
			v.addf(ep+".check_url", "only http and https checks use check_url (this pool's check is %s)", t)
		}
		u, err := url.Parse(e.CheckURL)
		switch {
		case err != nil:
			v.addf(ep+".check_url", "%q is not a URL", e.CheckURL)
		case u.Scheme != "http" && u.Scheme != "https":
			v.addf(ep+".check_url", "%q is not an http or https URL", e.CheckURL)
		case u.Host == "":
			v.addf(ep+".check_url", "%q has no host", e.CheckURL)
		default:
			if err := checkHostPort(u.Host, false); err != nil {
				v.addf(ep+".check_url", "%q has a bad host: %v", e.CheckURL, err)
			}
		}
	}
}

// CheckTypes returns the check types, in a fixed order. The slice is the
// caller's.
func CheckTypes() []string { return []string{CheckHTTP, CheckHTTPS, CheckTCP, CheckDNS} }

// DNSQueryTypes returns the query types a dns check may send. The slice
// is the caller's.
func DNSQueryTypes() []string {
	return []string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "SOA"}
}

// DNSRcodes returns the response codes a dns check may expect. The slice
// is the caller's.
func DNSRcodes() []string {
	return []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
}

func (v *validator) check(cp string, c *Check) {
	switch {
	case c.Type == "":
		v.addf(cp+".type", "a check type is required (http, https, tcp or dns)")
	case !slices.Contains(CheckTypes(), c.Type):
		v.addf(cp+".type", "%q is not a check type (http, https, tcp or dns)", c.Type)
	}
	switch {
	case c.Port == 0 && c.Type == CheckTCP:
		v.addf(cp+".port", "a tcp check needs a port")
	case c.Port < 1 || c.Port > 65535:
		if c.Port != 0 || slices.Contains(CheckTypes(), c.Type) {
			v.addf(cp+".port", "%d is outside 1..65535", c.Port)
		}
	}
	if c.Interval < MinCheckInterval || c.Interval > MaxCheckInterval {
		v.addf(cp+".interval", "%s is outside %s..%s", c.Interval, MinCheckInterval, MaxCheckInterval)
	}
	switch {
	case c.Timeout <= 0:
		v.addf(cp+".timeout", "%s must be above 0", c.Timeout)
	case c.Timeout >= c.Interval:
		v.addf(cp+".timeout", "%s must be below the interval (%s)", c.Timeout, c.Interval)
	}
	if c.Rise < 1 || c.Rise > MaxRiseFall {
		v.addf(cp+".rise", "%d is outside 1..%d", c.Rise, MaxRiseFall)
	}
	if c.Fall < 1 || c.Fall > MaxRiseFall {
		v.addf(cp+".fall", "%d is outside 1..%d", c.Fall, MaxRiseFall)
	}
	if c.Quorum < 0 {
		v.addf(cp+".quorum", "%d is below 0 (0 means a majority of voters)", c.Quorum)
	}

	isHTTP := c.Type == CheckHTTP || c.Type == CheckHTTPS
	if isHTTP {
		switch {
		case c.Path == "":
			v.addf(cp+".path", "a path is required")
		case !strings.HasPrefix(c.Path, "/"):
			v.addf(cp+".path", "%q must start with '/'", c.Path)
		case strings.ContainsAny(c.Path, " \t\r\n"):
			v.addf(cp+".path", "%q holds a blank; escape it as %%20", c.Path)
		default:
			if _, err := url.ParseRequestURI(c.Path); err != nil {
				v.addf(cp+".path", "%q is not a request path", c.Path)
			}
		}
		if !isToken(c.Method) {
			v.addf(cp+".method", "%q is not an HTTP method (a token like GET or HEAD)", c.Method)
		}
		if c.Host != "" {
			if err := checkHostPort(c.Host, false); err != nil {
				v.addf(cp+".host", "%q is not a host or host:port: %v", c.Host, err)
			}
		}
		keys := make([]string, 0, len(c.Headers))
		for k := range c.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			hp := cp + ".headers." + k
			if !isToken(k) {
				v.addf(hp, "%q is not a header name", k)
			}
			if strings.ContainsAny(c.Headers[k], "\r\n\x00") {
				v.addf(hp, "a header value must not hold line breaks or NUL")
			}
		}
		if len(c.ExpectStatus) == 0 {
			v.addf(cp+".expect_status", "at least one status code or range is required")
		}
		for i, r := range c.ExpectStatus {
			if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
				v.addf(fmt.Sprintf("%s.expect_status[%d]", cp, i), "%d-%d is not a range inside 100-599", r.Lo, r.Hi)
			}
		}
		if c.ExpectBody != "" && c.ExpectBodyRegex != "" {
			v.addf(cp+".expect_body_regex", "give expect_body or expect_body_regex, not both")
		}
		if c.ExpectBodyRegex != "" {
			if _, err := regexp.Compile(c.ExpectBodyRegex); err != nil {
				v.addf(cp+".expect_body_regex", "%q does not compile: %v", c.ExpectBodyRegex, err)
			}
		}
		if c.TLSSkipVerify && c.Type == CheckHTTP {
			v.addf(cp+".tls_skip_verify", "only https checks use tls_skip_verify")
		}
	} else if slices.Contains(CheckTypes(), c.Type) {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"path", c.Path != ""}, {"method", c.Method != ""}, {"host", c.Host != ""},
			{"headers", len(c.Headers) > 0}, {"expect_status", len(c.ExpectStatus) > 0},
			{"expect_body", c.ExpectBody != ""}, {"expect_body_regex", c.ExpectBodyRegex != ""},
			{"tls_skip_verify", c.TLSSkipVerify},
		} {
			if f.set {
				v.addf(cp+"."+f.name, "only http and https checks use %s (this check is %s)", f.name, c.Type)
			}
		}
	}

	if c.Type == CheckDNS {
		if c.Query == "" {
			v.addf(cp+".query", "a dns check needs a query name")
		} else if err := checkHost(c.Query); err != nil {
			v.addf(cp+".query", "%v", err)
		}
		if !slices.Contains(DNSQueryTypes(), c.QueryType) {
			v.addf(cp+".query_type", "%q is not a query type (one of %s)", c.QueryType, strings.Join(DNSQueryTypes(), ", "))
		}
		if !slices.Contains(DNSRcodes(), c.ExpectRcode) {
			v.addf(cp+".expect_rcode", "%q is not a response code (one of %s)", c.ExpectRcode, strings.Join(DNSRcodes(), ", "))
		}
	} else if slices.Contains(CheckTypes(), c.Type) {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"query", c.Query != ""}, {"query_type", c.QueryType != ""},
			{"expect_rcode", c.ExpectRcode != ""}, {"expect_answer", c.ExpectAnswer != ""},
		} {
			if f.set {
				v.addf(cp+"."+f.name, "only dns checks use %s (this check is %s)", f.name, c.Type)
			}
		}
	}
}

// isToken reports whether s is an RFC 9110 token (an HTTP method or header
// name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
