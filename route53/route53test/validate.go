package route53test

import (
	"fmt"
	"slices"
	"strings"
)

// Request limits of ChangeResourceRecordSets (Route 53 DNSLimitations).
const (
	// MaxBatchRecords is the most ResourceRecord elements one request may
	// hold, UPSERT counting twice.
	MaxBatchRecords = 1000
	// MaxBatchValueChars is the most Value characters one request may hold,
	// UPSERT counting twice.
	MaxBatchValueChars = 32000
	// MaxWeightedSets is the most weighted record sets per name and type.
	MaxWeightedSets = 100
	// DefaultMaxRecordSetsPerZone is the default zone quota
	// (MAX_RRSETS_BY_ZONE).
	DefaultMaxRecordSetsPerZone = 10000
)

// recordTypes is the RRType enum of the API model.
var recordTypes = []string{"SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS", "TLSA", "SSHFP", "SVCB", "HTTPS"}

// latencyRegions is the ResourceRecordSetRegion enum of the API model.
var latencyRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-central-1", "eu-central-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-northeast-1", "ap-northeast-2",
	"ap-northeast-3", "eu-north-1", "sa-east-1", "cn-north-1", "cn-northwest-1", "ap-east-1", "me-south-1", "me-central-1",
	"ap-south-1", "ap-south-2", "af-south-1", "eu-south-1", "eu-south-2", "ap-southeast-4", "il-central-1", "ca-west-1",
	"ap-southeast-5", "mx-central-1", "ap-southeast-7", "us-gov-east-1", "us-gov-west-1", "ap-east-2", "ap-southeast-6",
	"eusc-de-east-1"}

var continents = []string{"AF", "AN", "AS", "EU", "OC", "NA", "SA"}

// violations collects constraint failures in the wording of AWS's request
// validation ("Value 'x' at 'path' failed to satisfy constraint: ...").
type violations []string

func (v *violations) add(value, path, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func (v *violations) length(s, path string, lo, hi int) {
	if len(s) < lo {
		v.add(s, path, fmt.Sprintf("Member must have length greater than or equal to %d", lo))
	}
	if len(s) > hi {
		v.add(s, path, fmt.Sprintf("Member must have length less than or equal to %d", hi))
	}
}

func (v *violations) rang(n *int64, path string, lo, hi int64) {
	if n == nil {
		return
	}
	if *n < lo {
		v.add(fmt.Sprint(*n), path, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	}
	if *n > hi {
		v.add(fmt.Sprint(*n), path, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
}

func (v *violations) enum(s, path string, set []string) {
	if !slices.Contains(set, s) {
		v.add(s, path, "Member must satisfy enum value set: ["+strings.Join(set, ", ")+"]")
	}
}

// err turns the violations into one InvalidInput error, or nil.
func (v violations) err() *Error {
	if len(v) == 0 {
		return nil
	}
	noun := "error"
	if len(v) > 1 {
		noun = "errors"
	}
	return &Error{Status: 400, Code: "InvalidInput", Sender: true,
		Message: fmt.Sprintf("%d validation %s detected: %s", len(v), noun, strings.Join(v, "; "))}
}

// invalidInput is an InvalidInput error with a free-form message.
func invalidInput(format string, a ...any) *Error {
	return &Error{Status: 400, Code: "InvalidInput", Sender: true, Message: fmt.Sprintf(format, a...)}
}

// validateFields checks a decoded batch for what Route 53 rejects with
// InvalidInput before looking at the zone: ranges and enums of every field
// (all reported together), then the shape of each change (exactly one of
// alias / TTL+values, routing policy and SetIdentifier together). Enum and
// range wording follows AWS's generic request validation (Guess: Route 53
// uses it for these fields too).
func validateFields(b *ChangeBatch) *Error {
	var v violations
	if len(b.Changes) == 0 {
		v.add("[]", "changeBatch.changes", "Member must have length greater than or equal to 1")
	}
	if len(b.Comment) > 256 {
		v.length(b.Comment, "changeBatch.comment", 0, 256)
	}
	for i := range b.Changes {
		c := &b.Changes[i]
		p := fmt.Sprintf("changeBatch.changes.%d.member", i+1)
		v.enum(c.Action, p+".action", []string{ActionCreate, ActionDelete, ActionUpsert})
		r := &c.RecordSet
		p += ".resourceRecordSet"
		v.length(r.Name, p+".name", 1, 1024)
		v.enum(r.Type, p+".type", recordTypes)
		if r.SetIdentifier != "" {
			v.length(r.SetIdentifier, p+".setIdentifier", 1, 128)
		}
		v.rang(r.Weight, p+".weight", 0, 255)
		v.rang(r.TTL, p+".tTL", 0, 2147483647)
		if r.Region != "" {
			v.enum(r.Region, p+".region", latencyRegions)
		}
		if r.Failover != "" {
			v.enum(r.Failover, p+".failover", []string{"PRIMARY", "SECONDARY"})
		}
		if g := r.GeoLocation; g != nil {
			if g.ContinentCode != "" {
				v.length(g.ContinentCode, p+".geoLocation.continentCode", 2, 2)
			}
			if g.CountryCode != "" {
				v.length(g.CountryCode, p+".geoLocation.countryCode", 1, 2)
			}
			if g.SubdivisionCode != "" {
				v.length(g.SubdivisionCode, p+".geoLocation.subdivisionCode", 1, 3)
			}
		}
		for j, val := range r.ResourceRecords {
			v.length(val, fmt.Sprintf("%s.resourceRecords.%d.member.value", p, j+1), 0, 4000)
		}
		if a := r.AliasTarget; a != nil {
			v.length(a.HostedZoneID, p+".aliasTarget.hostedZoneId", 0, 32)
			v.length(a.DNSName, p+".aliasTarget.dNSName", 0, 1024)
		}
		if r.HealthCheckID != "" {
			v.length(r.HealthCheckID, p+".healthCheckId", 0, 64)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	for i := range b.Changes {
		if err := validateShape(&b.Changes[i]); err != nil {
			return err
		}
	}
	return nil
}

// describe is how Route 53 names a change in "Invalid request" messages.
func describe(c *Change) string {
	name := c.RecordSet.Name
	if n, err := canonicalName(name); err == nil {
		name = n
	}
	set := "null"
	if c.RecordSet.SetIdentifier != "" {
		set = c.RecordSet.SetIdentifier
	}
	return fmt.Sprintf("Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]", c.Action, name, c.RecordSet.Type, set)
}

// validateShape applies the per-change rules C12 and C13 of ROUTE53.md and
// the structure of GeoLocation.
func validateShape(c *Change) *Error {
	r := &c.RecordSet
	if r.ResourceRecords != nil && len(r.ResourceRecords) == 0 {
		return invalidXML("cvc-complex-type.2.4.b: The content of element 'ResourceRecords' is not complete. One of '{\"%s\":ResourceRecord}' is expected.", xmlns)
	}
	if r.TrafficPolicyInstanceID != "" {
		// Records of traffic policy instances are made by the traffic policy
		// API, which the stand-in does not implement.
		return invalidInput("Invalid request: the stand-in does not support TrafficPolicyInstanceId in %s", describe(c))
	}
	forms := 0
	if r.AliasTarget != nil {
		forms++
	}
	if r.TTL != nil || r.ResourceRecords != nil {
		forms++
	}
	const exactlyOne = "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found %s in %s"
	switch {
	case forms > 1:
		return invalidInput(exactlyOne, "more than one", describe(c))
	case forms == 0:
		return invalidInput(exactlyOne, "none", describe(c))
	case r.AliasTarget == nil && (r.TTL == nil || r.ResourceRecords == nil):
		// Guess: an incomplete TTL+ResourceRecords pair counts as none.
		return invalidInput(exactlyOne, "none", describe(c))
	}
	const policies = "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, or MultiValueAnswer], but found %s in %s"
	switch n := r.policyCount(); {
	case n > 1:
		return invalidInput(policies, "more than one", describe(c))
	case n == 1 && r.SetIdentifier == "":
		return invalidInput("Invalid request: Missing field 'SetIdentifier' in %s", describe(c))
	case n == 0 && r.SetIdentifier != "" && c.Action != ActionDelete:
		// A DELETE may leave out MultiValueAnswer (Terraform does, and AWS
		// accepts it); whether it matches is decided against the live set.
		return invalidInput(policies, "none", describe(c))
	}
	if g := r.GeoLocation; g != nil {
		switch {
		case g.ContinentCode != "" && (g.CountryCode != "" || g.SubdivisionCode != ""):
			return invalidInput("Invalid request: GeoLocation may not specify both a continent and a country in %s", describe(c))
		case g.ContinentCode == "" && g.CountryCode == "":
			return invalidInput("Invalid request: GeoLocation must specify a ContinentCode or a CountryCode in %s", describe(c))
		case g.ContinentCode != "" && !slices.Contains(continents, g.ContinentCode):
			return invalidInput("Invalid request: unknown continent code '%s' in %s", g.ContinentCode, describe(c))
		case g.SubdivisionCode != "" && g.CountryCode == "":
			return invalidInput("Invalid request: SubdivisionCode requires a CountryCode in %s", describe(c))
		}
	}
	if r.Failover != "" && r.AliasTarget != nil && !r.AliasTarget.EvaluateTargetHealth && c.Action != ActionDelete {
		// Guess: the Failover documentation says failover alias records
		// must set EvaluateTargetHealth to true; the stand-in enforces it.
		return invalidInput("Invalid request: failover alias records must set EvaluateTargetHealth to true in %s", describe(c))
	}
	return nil
}

// checkLimits applies the per-request limits (C10): at most MaxBatchRecords
// ResourceRecord elements and MaxBatchValueChars Value characters, UPSERT
// counting twice. Guess: an alias counts as one record and no characters,
// as ExternalDNS counts it (stricter than counting only ResourceRecord
// elements).
func checkLimits(b *ChangeBatch) *Error {
	records, chars := 0, 0
	for _, c := range b.Changes {
		n, m := len(c.RecordSet.ResourceRecords), 0
		for _, v := range c.RecordSet.ResourceRecords {
			m += len(v)
		}
		if c.RecordSet.AliasTarget != nil {
			n = 1
		}
		if c.Action == ActionUpsert {
			n, m = 2*n, 2*m
		}
		records += n
		chars += m
	}
	var msgs []string
	if records > MaxBatchRecords {
		msgs = append(msgs, fmt.Sprintf("Number of records limit of %d exceeded.", MaxBatchRecords))
	}
	if chars > MaxBatchValueChars {
		msgs = append(msgs, fmt.Sprintf("RDATA character limit of %d exceeded.", MaxBatchValueChars))
	}
	if len(msgs) > 0 {
		return invalidChangeBatch(msgs)
	}
	return nil
}

// invalidChangeBatch is Route 53's InvalidChangeBatch error with its list of
// messages.
func invalidChangeBatch(msgs []string) *Error {
	return &Error{Status: 400, Code: "InvalidChangeBatch", Sender: true, Message: strings.Join(msgs, "; "), Messages: msgs}
}
