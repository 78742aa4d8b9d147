package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Route53 is a pool's Route53 mode: the leader publishes the pool's
// decisions as record sets in an Amazon Route 53 hosted zone. The pool is
// still served by detour's own DNS servers; both may run at once.
type Route53 struct {
	// HostedZoneID names the hosted zone ("Z1D633PJN98FT9"; a
	// "/hostedzone/" prefix is dropped). Give it, ZoneName, or both.
	HostedZoneID string `yaml:"hosted_zone_id,omitempty" json:"hosted_zone_id,omitempty"`
	// ZoneName names the hosted zone by its name; the publisher looks it
	// up and accepts only a zone of exactly that name.
	ZoneName string `yaml:"zone_name,omitempty" json:"zone_name,omitempty"`
	// RecordName is the published owner name, fully qualified; it
	// defaults to the pool's name.
	RecordName string `yaml:"record_name,omitempty" json:"record_name,omitempty"`
	// Type is A, AAAA or CNAME; it defaults to A.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// TTL of the published plain record sets, in seconds (alias record
	// sets have none); it defaults to the pool's TTL.
	TTL uint32 `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Style is simple (one record set holding the pool's current answer)
	// or weighted (one weighted record set per endpoint). It defaults to
	// weighted for weighted pools and simple for the others.
	Style string `yaml:"style,omitempty" json:"style,omitempty"`
	// Adopt lets the publisher take over record sets at RecordName of
	// Type that use another routing policy (it deletes them); without it
	// such a name is refused and left alone.
	Adopt bool `yaml:"adopt,omitempty" json:"adopt,omitempty"`
	// EvaluateTargetHealth is set on alias record sets, so that Route 53
	// also checks the load balancer's own target health.
	EvaluateTargetHealth bool `yaml:"evaluate_target_health,omitempty" json:"evaluate_target_health,omitempty"`
}

// Route53 publishing styles.
const (
	Route53StyleSimple   = "simple"
	Route53StyleWeighted = "weighted"
)

// Route53MaxWeight is the largest weight Route 53 takes; endpoints of a
// pool published with style weighted must not exceed it.
const Route53MaxWeight = 255

// Route53Types returns the record types a pool may publish to Route 53.
// The slice is the caller's.
func Route53Types() []string { return []string{TypeA, TypeAAAA, TypeCNAME} }

// elbZones holds the canonical hosted zone IDs of Elastic Load Balancing
// per region: [0] for Application and Classic Load Balancers
// (*.<region>.elb.amazonaws.com), [1] for Network Load Balancers
// (*.elb.<region>.amazonaws.com).
var elbZones = map[string][2]string{
	"us-east-1":      {"Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"},
	"us-east-2":      {"Z3AADJGX6KTTL2", "ZLMOA37VPKANP"},
	"us-west-1":      {"Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"},
	"us-west-2":      {"Z1H1FL5HABSF5", "Z18D5FSROUN65G"},
	"ca-central-1":   {"ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"},
	"ap-east-1":      {"Z3DQVH9N71FHZ0", "Z12Y7K3UBGUAD1"},
	"ap-south-1":     {"ZP97RAFLXTNZK", "ZVDDRBQ08TROA"},
	"ap-northeast-1": {"Z14GRHDCWA56QT", "Z31USIVHYNEOWT"},
	"ap-northeast-2": {"ZWKZPGTI48KDX", "ZIBE1TIR4HY56"},
	"ap-northeast-3": {"Z5LXEXXYW11ES", "Z1GWIQ4HH19I5X"},
	"ap-southeast-1": {"Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"},
	"ap-southeast-2": {"Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"},
	"ap-southeast-3": {"Z08888821HLRG5A9ZRTER", "Z01971771FYVNCOVWJU1G"},
	"eu-central-1":   {"Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"},
	"eu-central-2":   {"Z06391101F2ZOEP8P5EB3", "Z02239872DOALSIDCX66S"},
	"eu-west-1":      {"Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"},
	"eu-west-2":      {"ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"},
	"eu-west-3":      {"Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"},
	"eu-north-1":     {"Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"},
	"eu-south-1":     {"Z3ULH7SSC9OV64", "Z23146JA1KNAFP"},
	"eu-south-2":     {"Z0956581394HF5D5LXGAP", "Z1011216NVTVYADP1SSV"},
	"sa-east-1":      {"Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"},
	"me-central-1":   {"Z08230872XQRWHG2XF6I", "Z00282643NTTLPANJJG2P"},
	"me-south-1":     {"ZS929ML54UICD", "Z3QSRYVP46NYYV"},
	"af-south-1":     {"Z268VQBMOI5EKX", "Z203XCE67M25HM"},
	"us-gov-west-1":  {"Z33AYJ8TM3BH4J", "ZMG1MZ2THAWF1"},
	"us-gov-east-1":  {"Z166TLBEWOO7G0", "Z1ZSMQQ6Q24QQ8"},
}

// ELBRegion reports whether host (a load balancer's DNS name, with or
// without a "dualstack." prefix and a trailing dot) lies under
// elb.amazonaws.com, and if so which region it names and whether it is a
// Network Load Balancer.
func ELBRegion(host string) (region string, nlb, ok bool) {
	l := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(l) > 0 && l[0] == "dualstack" {
		l = l[1:]
	}
	k := len(l)
	switch {
	case k >= 5 && l[k-3] == "elb" && l[k-2] == "amazonaws" && l[k-1] == "com":
		return l[k-4], false, true // name.<region>.elb.amazonaws.com
	case k >= 5 && l[k-4] == "elb" && l[k-2] == "amazonaws" && l[k-1] == "com":
		return l[k-3], true, true // name.elb.<region>.amazonaws.com
	}
	return "", false, false
}

// ELBHostedZone returns the canonical hosted zone ID that Route 53 alias
// records must name for the load balancer host, derived from the region in
// its name, or "" when host is not a load balancer name of a known region.
func ELBHostedZone(host string) string {
	region, nlb, ok := ELBRegion(host)
	if !ok {
		return ""
	}
	ids, ok := elbZones[region]
	if !ok {
		return ""
	}
	if nlb {
		return ids[1]
	}
	return ids[0]
}

// Route53AliasZone returns the hosted zone an endpoint of a pool that
// publishes A or AAAA records is aliased into: its AliasHostedZoneID, or
// the canonical zone of its load balancer target, or "" when the endpoint
// publishes plain records.
func Route53AliasZone(ep *Endpoint) string {
	if ep.Target == "" {
		return ""
	}
	if ep.AliasHostedZoneID != "" {
		return ep.AliasHostedZoneID
	}
	return ELBHostedZone(ep.Target)
}

// Route53Group is what one pool should publish to Route 53 in one State:
// every record set at Name of Type. The publisher owns exactly these
// (Name, Type) record sets; a weighted group is changed as a whole.
type Route53Group struct {
	// Pool is the pool's name.
	Pool string
	// HostedZoneID and ZoneName name the hosted zone as the spec does
	// (either may be empty).
	HostedZoneID string
	ZoneName     string
	// Name is the owner name, canonical (lower case, trailing dot); Type
	// is A, AAAA or CNAME; Style is simple or weighted.
	Name  string
	Type  string
	Style string
	// Adopt allows taking over record sets of another routing policy.
	Adopt bool
	// FailOpen reports that no endpoint qualified, so the sets publish
	// every endpoint as if healthy: Route 53 cannot answer NODATA for a
	// published name, so Route53 mode always fails open.
	FailOpen bool
	// Sets are the record sets: one for simple, one per endpoint (in spec
	// order) for weighted.
	Sets []Route53RecordSet
}

// Route53RecordSet is one desired record set.
type Route53RecordSet struct {
	// SetIdentifier is the endpoint's name in a weighted group, "" for
	// simple.
	SetIdentifier string
	// Weight is set in a weighted group (0..Route53MaxWeight).
	Weight *int64
	// TTL and Values describe a plain record set (values sorted, in
	// presentation form); Alias an alias record set, which has no TTL.
	TTL    uint32
	Values []string
	Alias  *Route53Alias
}

// Route53Alias is the target of an alias record set.
type Route53Alias struct {
	// HostedZoneID is the target's hosted zone (a load balancer region's
	// canonical zone, or the endpoint's alias_hosted_zone_id).
	HostedZoneID string
	// DNSName is the target host, canonical.
	DNSName              string
	EvaluateTargetHealth bool
}

// Route53Groups returns the Route 53 record sets of every pool of s that
// has route53 set, in spec order. Each follows the pool's answer in s
// (State.PoolAnswer), the same answer detour's DNS servers give.
func (s *State) Route53Groups() []Route53Group {
	if s == nil || s.Spec == nil {
		return nil
	}
	var out []Route53Group
	for i := range s.Spec.Pools {
		p := &s.Spec.Pools[i]
		if p.Route53 == nil {
			continue
		}
		out = append(out, Route53GroupFor(p, s.PoolAnswer(p)))
	}
	return out
}

// Route53GroupOf decides what pool p (normalized, with route53 set)
// publishes given which endpoints are healthy: Route53GroupFor of
// AnswerPool.
func Route53GroupOf(p *Pool, healthy func(ep *Endpoint) bool) Route53Group {
	return Route53GroupFor(p, AnswerPool(p, healthy))
}

// Route53GroupFor decides what pool p (normalized, with route53 set)
// publishes when the pool answers a.
//
// Style simple publishes one record set from the answer: an alias to the
// first answered endpoint when that endpoint is a load balancer (or has
// alias_hosted_zone_id), else every address of the type's family of the
// answered endpoints; a CNAME holds the first answered endpoint's target.
// Style weighted publishes one record set per endpoint, SetIdentifier the
// endpoint's name, weighing the endpoint's weight (at least 1) while it is
// part of the answer and 0 otherwise. When the answer is empty or every weight would
// be 0, both styles publish as if every endpoint were healthy, so a
// weighted group never ends all zero by accident (Route 53 would then
// spread traffic evenly, unhealthy endpoints included), and Route 53 mode
// always fails open (it cannot answer NODATA for a published name).
func Route53GroupFor(p *Pool, a PoolAnswer) Route53Group {
	r := p.Route53
	g := Route53Group{Pool: p.Name, HostedZoneID: r.HostedZoneID, ZoneName: r.ZoneName,
		Name: CanonicalName(r.RecordName), Type: r.Type, Style: r.Style, Adopt: r.Adopt}
	if r.RecordName == "" {
		g.Name = CanonicalName(p.Name)
	}
	if len(a.Endpoints) == 0 {
		a = AnswerPool(p, func(*Endpoint) bool { return true })
		a.AllDown = true
	}
	g.FailOpen = a.AllDown
	if r.Style == Route53StyleWeighted {
		// An answered endpoint weighs the answer's weight (a weighted
		// pool's), else its own, and never 0: a pinned endpoint of
		// weight 0 still takes the traffic.
		in := make(map[string]int64, len(a.Endpoints))
		for i, ep := range a.Endpoints {
			w := weightOf(ep)
			if len(a.Weights) == len(a.Endpoints) {
				w = a.Weights[i]
			}
			in[ep.Name] = int64(max(1, w))
		}
		weights := make([]int64, len(p.Endpoints))
		total := int64(0)
		for i := range p.Endpoints {
			weights[i] = in[p.Endpoints[i].Name]
			total += weights[i]
		}
		if total == 0 {
			g.FailOpen = true
			for i := range p.Endpoints {
				weights[i] = int64(weightOf(&p.Endpoints[i]))
			}
		}
		for i := range p.Endpoints {
			ep := &p.Endpoints[i]
			set := route53Set(r, ep, []*Endpoint{ep})
			set.SetIdentifier = ep.Name
			set.Weight = &weights[i]
			g.Sets = append(g.Sets, set)
		}
		return g
	}
	if len(a.Endpoints) > 0 {
		g.Sets = []Route53RecordSet{route53Set(r, a.Endpoints[0], a.Endpoints)}
	}
	return g
}

// route53Set builds a record set for the endpoints eps, whose first is
// first: an alias when first is aliased (A/AAAA), a CNAME to first's
// target, or the addresses of the type's family of every non-aliased
// endpoint of eps.
func route53Set(r *Route53, first *Endpoint, eps []*Endpoint) Route53RecordSet {
	if r.Type == TypeCNAME {
		return Route53RecordSet{TTL: r.TTL, Values: []string{first.Target}}
	}
	if z := Route53AliasZone(first); z != "" {
		return Route53RecordSet{Alias: &Route53Alias{HostedZoneID: z, DNSName: CanonicalName(first.Target), EvaluateTargetHealth: r.EvaluateTargetHealth}}
	}
	set := Route53RecordSet{TTL: r.TTL}
	for _, ep := range eps {
		if Route53AliasZone(ep) != "" {
			continue
		}
		for _, a := range ep.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.Is4() != (r.Type == TypeA) {
				continue
			}
			if s := ip.String(); !slices.Contains(set.Values, s) {
				set.Values = append(set.Values, s)
			}
		}
	}
	slices.Sort(set.Values)
	return set
}

// normalize applies the defaults of a pool's route53 block; p's own
// defaults must be applied first.
func (r *Route53) normalize(p *Pool) {
	r.HostedZoneID = bareZoneID(r.HostedZoneID)
	r.ZoneName = FQDN(strings.TrimSpace(r.ZoneName))
	r.RecordName = FQDN(strings.TrimSpace(r.RecordName))
	if r.RecordName == "" {
		r.RecordName = p.Name
	}
	r.Type = strings.ToUpper(strings.TrimSpace(r.Type))
	if r.Type == "" {
		r.Type = TypeA
	}
	if r.TTL == 0 {
		r.TTL = p.TTL
	}
	r.Style = strings.ToLower(strings.TrimSpace(r.Style))
	if r.Style == "" {
		r.Style = Route53StyleSimple
		if p.Policy == PolicyWeighted {
			r.Style = Route53StyleWeighted
		}
	}
}

// bareZoneID trims id and drops a "/hostedzone/" prefix.
func bareZoneID(id string) string {
	id = strings.TrimSpace(id)
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return id
}

var zoneIDRE = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)

// route53 checks pool p's route53 block (pp is the pool's path). r53At
// maps "name type" to the index of the pool that publishes it.
func (v *validator) route53(pp string, p *Pool, i int, r53At map[string]int) {
	if p.Route53 == nil {
		for k := range p.Endpoints {
			if p.Endpoints[k].AliasHostedZoneID != "" {
				v.addf(fmt.Sprintf("%s.endpoints[%d].alias_hosted_zone_id", pp, k), "only pools published to Route 53 (route53:) use alias_hosted_zone_id")
			}
		}
		return
	}
	r := p.Route53
	rp := pp + ".route53"
	if r.HostedZoneID == "" && r.ZoneName == "" {
		v.addf(rp, "hosted_zone_id or zone_name is required")
	}
	if r.HostedZoneID != "" && !zoneIDRE.MatchString(r.HostedZoneID) {
		v.addf(rp+".hosted_zone_id", "%q is not a hosted zone ID (1 to 32 upper-case letters and digits, like Z1D633PJN98FT9)", r.HostedZoneID)
	}
	zoneOK := false
	if r.ZoneName != "" {
		zoneOK = v.zoneName(rp+".zone_name", r.ZoneName)
	}
	nameOK := false
	switch {
	case r.RecordName == "":
		v.addf(rp+".record_name", "a record name is required")
	case ValidName(r.RecordName) != nil:
		v.addf(rp+".record_name", "%v", ValidName(r.RecordName))
	case IsWildcard(r.RecordName):
		v.addf(rp+".record_name", "%q: a published name cannot be a wildcard", r.RecordName)
	case !strings.HasSuffix(r.RecordName, "."):
		v.addf(rp+".record_name", "%q is not absolute (it must end with a dot)", r.RecordName)
	case zoneOK && !InZone(r.RecordName, r.ZoneName):
		v.addf(rp+".record_name", "%q is outside the hosted zone %q", r.RecordName, r.ZoneName)
	case zoneOK && r.Type == TypeCNAME && equalFold(r.RecordName, r.ZoneName):
		v.addf(rp+".record_name", "a CNAME cannot be at the zone apex %q", r.ZoneName)
	default:
		nameOK = true
	}
	typeOK := slices.Contains(Route53Types(), r.Type)
	if !typeOK {
		v.addf(rp+".type", "%q is not a type Route 53 mode publishes (A, AAAA or CNAME)", r.Type)
	}
	if nameOK && typeOK {
		k := CanonicalName(r.RecordName) + " " + r.Type
		if first, dup := r53At[k]; dup {
			v.addf(rp+".record_name", "%s %s is already published by pools[%d]", r.RecordName, r.Type, first)
		} else {
			r53At[k] = i
		}
	}
	if r.TTL < MinPoolTTL || r.TTL > MaxPoolTTL {
		v.addf(rp+".ttl", "%d is outside %d..%d", r.TTL, MinPoolTTL, MaxPoolTTL)
	}
	switch r.Style {
	case Route53StyleSimple:
		if p.Policy == PolicyWeighted {
			v.addf(rp+".style", "a weighted pool publishes with style weighted (one record set per endpoint); simple cannot carry weights")
		}
		if p.Policy == PolicyMultivalue && r.Type == TypeCNAME {
			v.addf(rp+".type", "a CNAME holds one value, so a multivalue pool cannot publish it with style simple")
		}
	case Route53StyleWeighted:
		anyWeight := false
		for k := range p.Endpoints {
			w := weightOf(&p.Endpoints[k])
			if w > Route53MaxWeight {
				v.addf(fmt.Sprintf("%s.endpoints[%d].weight", pp, k), "%d is above %d, the largest weight Route 53 takes (this pool publishes with style weighted)", w, Route53MaxWeight)
			}
			anyWeight = anyWeight || w > 0
		}
		if len(p.Endpoints) > 0 && !anyWeight {
			v.addf(pp+".endpoints", "style weighted needs at least one endpoint with a weight above 0")
		}
	default:
		v.addf(rp+".style", "%q is not simple or weighted", r.Style)
	}
	if !typeOK {
		return
	}
	for k := range p.Endpoints {
		e := &p.Endpoints[k]
		ep := fmt.Sprintf("%s.endpoints[%d]", pp, k)
		if e.AliasHostedZoneID != "" {
			switch {
			case !zoneIDRE.MatchString(e.AliasHostedZoneID):
				v.addf(ep+".alias_hosted_zone_id", "%q is not a hosted zone ID (1 to 32 upper-case letters and digits)", e.AliasHostedZoneID)
			case e.Target == "":
				v.addf(ep+".alias_hosted_zone_id", "an alias needs a target")
			case r.Type == TypeCNAME:
				v.addf(ep+".alias_hosted_zone_id", "only A and AAAA record sets are aliases (this pool publishes CNAME)")
			}
		}
		switch r.Type {
		case TypeCNAME:
			if e.Target == "" {
				v.addf(ep, "route53 type CNAME publishes the endpoint's target, and this endpoint has none")
			}
		default:
			if e.Target != "" {
				if Route53AliasZone(e) != "" {
					continue
				}
				if region, _, ok := ELBRegion(e.Target); ok {
					v.addf(ep+".target", "no canonical hosted zone is known for load balancer region %q; set alias_hosted_zone_id", region)
				} else {
					v.addf(ep+".target", "route53 type %s needs addresses or a load balancer target (*.elb.amazonaws.com); for another target set alias_hosted_zone_id or publish type CNAME", r.Type)
				}
				continue
			}
			has := false
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() == (r.Type == TypeA) {
					has = true
				}
			}
			if !has && len(e.Addresses) > 0 {
				v.addf(ep+".addresses", "route53 type %s needs at least one %s address", r.Type, map[bool]string{true: "IPv4", false: "IPv6"}[r.Type == TypeA])
			}
		}
	}
}
