package route53test

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Change actions, as Route 53 spells them.
const (
	ActionCreate = "CREATE"
	ActionDelete = "DELETE"
	ActionUpsert = "UPSERT"
)

// Change statuses reported by GetChange.
const (
	StatusPending = "PENDING"
	StatusInsync  = "INSYNC"
)

// RecordSet is one resource record set as the stand-in stores and returns
// it. Optional fields use nil (pointers, slices) or "" for "absent". Names
// read back from the server are canonical: lower case, fully qualified, with
// \ooo escapes.
type RecordSet struct {
	Name          string
	Type          string
	SetIdentifier string
	// Weight, Region, Failover, GeoLocation, MultiValueAnswer,
	// CIDRRoutingConfig and GeoProximityLocation choose the routing policy;
	// at most one is set, and only together with SetIdentifier.
	Weight               *int64
	Region               string
	Failover             string
	GeoLocation          *GeoLocation
	MultiValueAnswer     *bool
	CIDRRoutingConfig    *CIDRRoutingConfig
	GeoProximityLocation *GeoProximityLocation
	// TTL and ResourceRecords (the values) describe a plain record set;
	// AliasTarget an alias. ResourceRecords nil means the element was absent,
	// empty non-nil means it was present with no values.
	TTL                     *int64
	ResourceRecords         []string
	AliasTarget             *AliasTarget
	HealthCheckID           string
	TrafficPolicyInstanceID string
}

// AliasTarget is the target of an alias record set. HostedZoneID is the
// target's hosted zone (an AWS canonical zone such as an ELB region's, or a
// zone of this server); DNSName is canonicalised when stored.
type AliasTarget struct {
	HostedZoneID         string
	DNSName              string
	EvaluateTargetHealth bool
}

// GeoLocation is the location of a geolocation record set; CountryCode "*"
// is the default location.
type GeoLocation struct {
	ContinentCode   string
	CountryCode     string
	SubdivisionCode string
}

// CIDRRoutingConfig names the CIDR location of an IP-based record set.
type CIDRRoutingConfig struct {
	CollectionID string
	LocationName string
}

// GeoProximityLocation is the location of a geoproximity record set.
// Coordinates are kept as the decimal strings the client sent.
type GeoProximityLocation struct {
	AWSRegion      string
	LocalZoneGroup string
	Latitude       string
	Longitude      string
	Bias           *int64
}

// Change is one entry of a change batch.
type Change struct {
	Action    string
	RecordSet RecordSet
}

// ChangeBatch is the body of a ChangeResourceRecordSets request.
type ChangeBatch struct {
	Comment string
	Changes []Change
}

// ChangeInfo describes a submitted change, as GetChange reports it. ID is
// bare ("C…"), without the "/change/" prefix used on the wire.
type ChangeInfo struct {
	ID          string
	Status      string
	SubmittedAt time.Time
	Comment     string
}

// Zone describes a hosted zone. ID is bare ("Z…"), without the
// "/hostedzone/" prefix used on the wire; Name is canonical.
type Zone struct {
	ID              string
	Name            string
	CallerReference string
	Comment         string
	Private         bool
	RecordSetCount  int
	NameServers     []string
}

// ZoneConfig holds the optional settings of a zone created with
// Server.CreateZone. The zero value makes a public zone with a generated
// caller reference.
type ZoneConfig struct {
	CallerReference string
	Comment         string
	Private         bool
}

// Error is an error answer of the API: the HTTP status, the error code
// (InvalidChangeBatch, InvalidInput, NoSuchHostedZone, Throttling, ...), its
// message, and for InvalidChangeBatch the list of messages, one per problem.
// Server methods that apply changes out of band return it too.
type Error struct {
	Status   int
	Code     string
	Message  string
	Messages []string
	// Sender is false for faults of the service itself (5xx).
	Sender bool
}

// Error returns the code and message(s).
func (e *Error) Error() string {
	if len(e.Messages) > 0 {
		return fmt.Sprintf("route53test: %s: [%s]", e.Code, strings.Join(e.Messages, ", "))
	}
	return fmt.Sprintf("route53test: %s: %s", e.Code, e.Message)
}

// key is the identity of a record set: name, type and set identifier.
type key struct {
	name, typ, setID string
}

func (r *RecordSet) key() key { return key{r.Name, r.Type, r.SetIdentifier} }

// clone returns a deep copy of r.
func (r RecordSet) clone() RecordSet {
	c := r
	if r.Weight != nil {
		c.Weight = ptr(*r.Weight)
	}
	if r.TTL != nil {
		c.TTL = ptr(*r.TTL)
	}
	if r.MultiValueAnswer != nil {
		c.MultiValueAnswer = ptr(*r.MultiValueAnswer)
	}
	if r.ResourceRecords != nil {
		c.ResourceRecords = slices.Clone(r.ResourceRecords)
	}
	if r.AliasTarget != nil {
		c.AliasTarget = ptr(*r.AliasTarget)
	}
	if r.GeoLocation != nil {
		c.GeoLocation = ptr(*r.GeoLocation)
	}
	if r.CIDRRoutingConfig != nil {
		c.CIDRRoutingConfig = ptr(*r.CIDRRoutingConfig)
	}
	if r.GeoProximityLocation != nil {
		g := *r.GeoProximityLocation
		if g.Bias != nil {
			g.Bias = ptr(*g.Bias)
		}
		c.GeoProximityLocation = &g
	}
	return c
}

// policy names the routing policy of r, "" for a simple record set. The
// names match the wording of Route 53's messages ("a non-weighted set").
func (r *RecordSet) policy() string {
	switch {
	case r.Weight != nil:
		return "weighted"
	case r.Region != "":
		return "latency"
	case r.Failover != "":
		return "failover"
	case r.GeoLocation != nil:
		return "geolocation"
	case r.MultiValueAnswer != nil:
		// Its presence chooses the policy, as policyCount counts it.
		return "multivalue answer"
	case r.CIDRRoutingConfig != nil:
		return "IP-based"
	case r.GeoProximityLocation != nil:
		return "geoproximity"
	}
	return ""
}

// policyCount counts the routing policy fields that are set. A
// MultiValueAnswer of false counts: Route 53 treats the element's presence
// as the choice.
func (r *RecordSet) policyCount() int {
	n := 0
	for _, set := range []bool{r.Weight != nil, r.Region != "", r.Failover != "", r.GeoLocation != nil,
		r.MultiValueAnswer != nil, r.CIDRRoutingConfig != nil, r.GeoProximityLocation != nil} {
		if set {
			n++
		}
	}
	return n
}

func ptr[T any](v T) *T { return &v }
