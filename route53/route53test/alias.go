package route53test

import "fmt"

// elbZones holds the canonical hosted zone IDs that AWS publishes for
// Elastic Load Balancing, per region: [0] for Application and Classic Load
// Balancers (host names *.<region>.elb.amazonaws.com), [1] for Network Load
// Balancers (*.elb.<region>.amazonaws.com).
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

// Canonical hosted zones of other alias targets.
const (
	cloudFrontZone        = "Z2FDTNDATAQYW2"
	globalAcceleratorZone = "Z2BJ6XQ5FK7U4H"
)

// isCanonicalZone reports whether id is one of the AWS canonical zones above.
func isCanonicalZone(id string) bool {
	if id == cloudFrontZone || id == globalAcceleratorZone {
		return true
	}
	for _, ids := range elbZones {
		if ids[0] == id || ids[1] == id {
			return true
		}
	}
	return false
}

// canonicalZoneOf returns the AWS canonical hosted zone that serves the host
// name n (an ALB/CLB, NLB, CloudFront or Global Accelerator name, with or
// without the "dualstack." prefix), or "".
func canonicalZoneOf(n domainName) string {
	l := n.labels
	if len(l) > 0 && l[0] == "dualstack" {
		l = l[1:]
	}
	k := len(l)
	switch {
	case k >= 5 && l[k-3] == "elb" && l[k-2] == "amazonaws" && l[k-1] == "com":
		if ids, ok := elbZones[l[k-4]]; ok {
			return ids[0]
		}
	case k >= 5 && l[k-4] == "elb" && l[k-2] == "amazonaws" && l[k-1] == "com":
		if ids, ok := elbZones[l[k-3]]; ok {
			return ids[1]
		}
	case k >= 3 && l[k-2] == "cloudfront" && l[k-1] == "net":
		return cloudFrontZone
	case k >= 2 && l[k-2] == "awsglobalaccelerator" && l[k-1] == "com":
		return globalAcceleratorZone
	}
	return ""
}

// checkAliasLocked validates the alias target of r, which is being created or
// upserted at position pos of a batch on zone w.z (A2-A4). The target zone
// must be an AWS canonical zone whose host names include the target, or a
// zone of this server that holds the target name; a same-zone target must
// exist in the working copy at this point of the batch and, as octoDNS
// observed, must not be touched again later in the batch. It returns the
// messages for InvalidChangeBatch.
func (s *Server) checkAliasLocked(w *working, r *RecordSet, later []Change) []string {
	a := r.AliasTarget
	target, err := parseName(a.DNSName)
	if err != nil {
		return []string{err.Error()}
	}
	tname := target.String()
	notWithin := fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the alias target name does not lie within the target zone", tname, r.Type, a.HostedZoneID)
	notFound := fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but that target was not found", tname, r.Type, a.HostedZoneID)
	if isCanonicalZone(a.HostedZoneID) {
		// The stand-in cannot know which load balancers exist: a name in
		// the zone's domain is accepted.
		if canonicalZoneOf(target) != a.HostedZoneID {
			return []string{notWithin}
		}
		return nil
	}
	tz, ok := s.zones[a.HostedZoneID]
	if !ok {
		return []string{notWithin, notFound}
	}
	if !target.within(tz.dname) {
		return []string{notWithin}
	}
	var sets map[key]RecordSet
	if tz == w.z {
		sets = w.node(tname)
	} else {
		sets = tz.names[tname]
	}
	found := false
	for k := range sets {
		if k.typ == r.Type {
			found = true
			break
		}
	}
	if found && tz == w.z {
		for _, c := range later {
			if n, err := canonicalName(c.RecordSet.Name); err == nil && n == tname && c.RecordSet.Type == r.Type {
				found = false
				break
			}
		}
	}
	if !found {
		return []string{notFound}
	}
	return nil
}
