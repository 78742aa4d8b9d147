package route53test

import (
	"encoding/xml"
	"fmt"
	"strconv"
)

// xmlns is the namespace of every request and response body of API version
// 2013-04-01.
const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

// Request bodies. Every element is a pointer so that absence can be told
// from an empty value; encoding/xml accepts children in any order (the Go SDK
// writes them alphabetically, not in the documented order).

type xmlChangeRequest struct {
	XMLName     xml.Name        `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch *xmlChangeBatch `xml:"ChangeBatch"`
}

type xmlChangeBatch struct {
	Comment *string     `xml:"Comment"`
	Changes *xmlChanges `xml:"Changes"`
}

type xmlChanges struct {
	Change []xmlChange `xml:"Change"`
}

type xmlChange struct {
	Action *string   `xml:"Action"`
	RRSet  *xmlRRSet `xml:"ResourceRecordSet"`
}

// xmlRRSet is a ResourceRecordSet in requests and responses. Nil fields are
// omitted when encoding; the field order is the documented element order.
type xmlRRSet struct {
	Name                    *string          `xml:"Name"`
	Type                    *string          `xml:"Type"`
	SetIdentifier           *string          `xml:"SetIdentifier"`
	Weight                  *string          `xml:"Weight"`
	Region                  *string          `xml:"Region"`
	GeoLocation             *xmlGeoLocation  `xml:"GeoLocation"`
	Failover                *string          `xml:"Failover"`
	MultiValueAnswer        *string          `xml:"MultiValueAnswer"`
	TTL                     *string          `xml:"TTL"`
	ResourceRecords         *xmlRecords      `xml:"ResourceRecords"`
	AliasTarget             *xmlAliasTarget  `xml:"AliasTarget"`
	HealthCheckID           *string          `xml:"HealthCheckId"`
	TrafficPolicyInstanceID *string          `xml:"TrafficPolicyInstanceId"`
	CIDRRoutingConfig       *xmlCIDRRouting  `xml:"CidrRoutingConfig"`
	GeoProximityLocation    *xmlGeoProximity `xml:"GeoProximityLocation"`
}

type xmlRecords struct {
	Record []xmlRecord `xml:"ResourceRecord"`
}

type xmlRecord struct {
	Value *string `xml:"Value"`
}

type xmlAliasTarget struct {
	HostedZoneID         *string `xml:"HostedZoneId"`
	DNSName              *string `xml:"DNSName"`
	EvaluateTargetHealth *string `xml:"EvaluateTargetHealth"`
}

type xmlGeoLocation struct {
	ContinentCode   *string `xml:"ContinentCode"`
	CountryCode     *string `xml:"CountryCode"`
	SubdivisionCode *string `xml:"SubdivisionCode"`
}

type xmlCIDRRouting struct {
	CollectionID *string `xml:"CollectionId"`
	LocationName *string `xml:"LocationName"`
}

type xmlGeoProximity struct {
	AWSRegion      *string         `xml:"AWSRegion"`
	LocalZoneGroup *string         `xml:"LocalZoneGroup"`
	Coordinates    *xmlCoordinates `xml:"Coordinates"`
	Bias           *string         `xml:"Bias"`
}

type xmlCoordinates struct {
	Latitude  *string `xml:"Latitude"`
	Longitude *string `xml:"Longitude"`
}

type xmlCreateZoneRequest struct {
	XMLName          xml.Name       `xml:"CreateHostedZoneRequest"`
	Name             *string        `xml:"Name"`
	CallerReference  *string        `xml:"CallerReference"`
	HostedZoneConfig *xmlZoneConfig `xml:"HostedZoneConfig"`
	VPC              *xmlVPC        `xml:"VPC"`
	DelegationSetID  *string        `xml:"DelegationSetId"`
}

type xmlZoneConfig struct {
	Comment     *string `xml:"Comment"`
	PrivateZone *string `xml:"PrivateZone"`
}

type xmlVPC struct {
	VPCRegion *string `xml:"VPCRegion"`
	VPCID     *string `xml:"VPCId"`
}

// Response bodies.

type xmlChangeInfo struct {
	ID          string  `xml:"Id"`
	Status      string  `xml:"Status"`
	SubmittedAt string  `xml:"SubmittedAt"`
	Comment     *string `xml:"Comment"`
}

type xmlHostedZone struct {
	ID                     string         `xml:"Id"`
	Name                   string         `xml:"Name"`
	CallerReference        string         `xml:"CallerReference"`
	Config                 *xmlZoneConfig `xml:"Config"`
	ResourceRecordSetCount int            `xml:"ResourceRecordSetCount"`
}

type xmlDelegationSet struct {
	NameServers []string `xml:"NameServers>NameServer"`
}

type xmlChangeResponse struct {
	XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type xmlGetChangeResponse struct {
	XMLName    xml.Name      `xml:"GetChangeResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type xmlCreateZoneResponse struct {
	XMLName       xml.Name          `xml:"CreateHostedZoneResponse"`
	Xmlns         string            `xml:"xmlns,attr"`
	HostedZone    xmlHostedZone     `xml:"HostedZone"`
	ChangeInfo    xmlChangeInfo     `xml:"ChangeInfo"`
	DelegationSet *xmlDelegationSet `xml:"DelegationSet"`
	VPC           *xmlVPC           `xml:"VPC"`
}

type xmlGetZoneResponse struct {
	XMLName       xml.Name          `xml:"GetHostedZoneResponse"`
	Xmlns         string            `xml:"xmlns,attr"`
	HostedZone    xmlHostedZone     `xml:"HostedZone"`
	DelegationSet *xmlDelegationSet `xml:"DelegationSet"`
	VPCs          *[]xmlVPC         `xml:"VPCs>VPC"`
}

type xmlListZonesByNameResponse struct {
	XMLName          xml.Name        `xml:"ListHostedZonesByNameResponse"`
	Xmlns            string          `xml:"xmlns,attr"`
	HostedZones      []xmlHostedZone `xml:"HostedZones>HostedZone"`
	DNSName          *string         `xml:"DNSName"`
	HostedZoneID     *string         `xml:"HostedZoneId"`
	IsTruncated      bool            `xml:"IsTruncated"`
	NextDNSName      *string         `xml:"NextDNSName"`
	NextHostedZoneID *string         `xml:"NextHostedZoneId"`
	MaxItems         string          `xml:"MaxItems"`
}

type xmlListRRSetsResponse struct {
	XMLName              xml.Name   `xml:"ListResourceRecordSetsResponse"`
	Xmlns                string     `xml:"xmlns,attr"`
	ResourceRecordSets   []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated          bool       `xml:"IsTruncated"`
	NextRecordName       *string    `xml:"NextRecordName"`
	NextRecordType       *string    `xml:"NextRecordType"`
	NextRecordIdentifier *string    `xml:"NextRecordIdentifier"`
	MaxItems             string     `xml:"MaxItems"`
}

type xmlErrorResponse struct {
	XMLName   xml.Name    `xml:"ErrorResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Error     xmlErrorDoc `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type xmlErrorDoc struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type xmlInvalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	Xmlns     string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

// timeFormat is how SubmittedAt is written: ISO 8601, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func changeInfoXML(ci ChangeInfo) xmlChangeInfo {
	x := xmlChangeInfo{
		ID:          "/change/" + ci.ID,
		Status:      ci.Status,
		SubmittedAt: ci.SubmittedAt.UTC().Format(timeFormat),
	}
	if ci.Comment != "" {
		x.Comment = ptr(ci.Comment)
	}
	return x
}

func zoneXML(z Zone) xmlHostedZone {
	x := xmlHostedZone{
		ID:                     "/hostedzone/" + z.ID,
		Name:                   z.Name,
		CallerReference:        z.CallerReference,
		Config:                 &xmlZoneConfig{PrivateZone: ptr(strconv.FormatBool(z.Private))},
		ResourceRecordSetCount: z.RecordSetCount,
	}
	if z.Comment != "" {
		x.Config.Comment = ptr(z.Comment)
	}
	return x
}

// rrsetXML encodes a stored record set for a listing.
func rrsetXML(r RecordSet) xmlRRSet {
	x := xmlRRSet{Name: ptr(r.Name), Type: ptr(r.Type)}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return ptr(s)
	}
	x.SetIdentifier = opt(r.SetIdentifier)
	if r.Weight != nil {
		x.Weight = ptr(strconv.FormatInt(*r.Weight, 10))
	}
	x.Region = opt(r.Region)
	if g := r.GeoLocation; g != nil {
		x.GeoLocation = &xmlGeoLocation{opt(g.ContinentCode), opt(g.CountryCode), opt(g.SubdivisionCode)}
	}
	x.Failover = opt(r.Failover)
	if r.MultiValueAnswer != nil {
		x.MultiValueAnswer = ptr(strconv.FormatBool(*r.MultiValueAnswer))
	}
	if r.TTL != nil {
		x.TTL = ptr(strconv.FormatInt(*r.TTL, 10))
	}
	if r.ResourceRecords != nil {
		x.ResourceRecords = &xmlRecords{}
		for _, v := range r.ResourceRecords {
			x.ResourceRecords.Record = append(x.ResourceRecords.Record, xmlRecord{ptr(v)})
		}
	}
	if a := r.AliasTarget; a != nil {
		x.AliasTarget = &xmlAliasTarget{ptr(a.HostedZoneID), ptr(a.DNSName), ptr(strconv.FormatBool(a.EvaluateTargetHealth))}
	}
	x.HealthCheckID = opt(r.HealthCheckID)
	x.TrafficPolicyInstanceID = opt(r.TrafficPolicyInstanceID)
	if c := r.CIDRRoutingConfig; c != nil {
		x.CIDRRoutingConfig = &xmlCIDRRouting{ptr(c.CollectionID), ptr(c.LocationName)}
	}
	if g := r.GeoProximityLocation; g != nil {
		x.GeoProximityLocation = &xmlGeoProximity{AWSRegion: opt(g.AWSRegion), LocalZoneGroup: opt(g.LocalZoneGroup)}
		if g.Latitude != "" || g.Longitude != "" {
			x.GeoProximityLocation.Coordinates = &xmlCoordinates{ptr(g.Latitude), ptr(g.Longitude)}
		}
		if g.Bias != nil {
			x.GeoProximityLocation.Bias = ptr(strconv.FormatInt(*g.Bias, 10))
		}
	}
	return x
}

// invalidXML is the error Route 53's schema validation gives.
func invalidXML(format string, a ...any) *Error {
	return &Error{Status: 400, Code: "InvalidInput", Sender: true,
		Message: "Invalid XML ; " + fmt.Sprintf(format, a...)}
}

// decodeBatch turns the wire form of a change batch into the model. It stops
// at the first problem that Route 53's XML schema check would report
// (a missing required element, a malformed number or boolean); range and
// consistency checks come later (validateBatch).
func decodeBatch(x *xmlChangeBatch) (ChangeBatch, *Error) {
	var b ChangeBatch
	if x == nil {
		return b, invalidXML("cvc-complex-type.2.4.b: The content of element 'ChangeResourceRecordSetsRequest' is not complete. One of '{\"%s\":ChangeBatch}' is expected.", xmlns)
	}
	if x.Comment != nil {
		b.Comment = *x.Comment
	}
	if x.Changes == nil {
		return b, invalidXML("cvc-complex-type.2.4.b: The content of element 'ChangeBatch' is not complete. One of '{\"%s\":Changes}' is expected.", xmlns)
	}
	for _, xc := range x.Changes.Change {
		var c Change
		if xc.Action == nil {
			return b, invalidXML("cvc-complex-type.2.4.a: Invalid content was found in element 'Change'. One of '{\"%s\":Action}' is expected.", xmlns)
		}
		c.Action = *xc.Action
		if xc.RRSet == nil {
			return b, invalidXML("cvc-complex-type.2.4.b: The content of element 'Change' is not complete. One of '{\"%s\":ResourceRecordSet}' is expected.", xmlns)
		}
		rs, err := decodeRRSet(xc.RRSet)
		if err != nil {
			return b, err
		}
		c.RecordSet = rs
		b.Changes = append(b.Changes, c)
	}
	return b, nil
}

func decodeRRSet(x *xmlRRSet) (RecordSet, *Error) {
	var r RecordSet
	missing := func(parent, child string) *Error {
		return invalidXML("cvc-complex-type.2.4.b: The content of element '%s' is not complete. One of '{\"%s\":%s}' is expected.", parent, xmlns, child)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if x.Name == nil {
		return r, missing("ResourceRecordSet", "Name")
	}
	if x.Type == nil {
		return r, missing("ResourceRecordSet", "Type")
	}
	r.Name, r.Type = *x.Name, *x.Type
	r.SetIdentifier = str(x.SetIdentifier)
	var err *Error
	if r.Weight, err = decodeInt(x.Weight); err != nil {
		return r, err
	}
	r.Region = str(x.Region)
	if g := x.GeoLocation; g != nil {
		r.GeoLocation = &GeoLocation{str(g.ContinentCode), str(g.CountryCode), str(g.SubdivisionCode)}
	}
	r.Failover = str(x.Failover)
	if x.MultiValueAnswer != nil {
		v, err := decodeBool(*x.MultiValueAnswer)
		if err != nil {
			return r, err
		}
		r.MultiValueAnswer = &v
	}
	if r.TTL, err = decodeInt(x.TTL); err != nil {
		return r, err
	}
	if x.ResourceRecords != nil {
		r.ResourceRecords = []string{}
		for _, rec := range x.ResourceRecords.Record {
			if rec.Value == nil {
				return r, missing("ResourceRecord", "Value")
			}
			r.ResourceRecords = append(r.ResourceRecords, *rec.Value)
		}
	}
	if a := x.AliasTarget; a != nil {
		switch {
		case a.HostedZoneID == nil:
			return r, missing("AliasTarget", "HostedZoneId")
		case a.DNSName == nil:
			return r, missing("AliasTarget", "DNSName")
		case a.EvaluateTargetHealth == nil:
			return r, missing("AliasTarget", "EvaluateTargetHealth")
		}
		eth, err := decodeBool(*a.EvaluateTargetHealth)
		if err != nil {
			return r, err
		}
		r.AliasTarget = &AliasTarget{HostedZoneID: *a.HostedZoneID, DNSName: *a.DNSName, EvaluateTargetHealth: eth}
	}
	r.HealthCheckID = str(x.HealthCheckID)
	r.TrafficPolicyInstanceID = str(x.TrafficPolicyInstanceID)
	if c := x.CIDRRoutingConfig; c != nil {
		if c.CollectionID == nil {
			return r, missing("CidrRoutingConfig", "CollectionId")
		}
		if c.LocationName == nil {
			return r, missing("CidrRoutingConfig", "LocationName")
		}
		r.CIDRRoutingConfig = &CIDRRoutingConfig{*c.CollectionID, *c.LocationName}
	}
	if g := x.GeoProximityLocation; g != nil {
		p := &GeoProximityLocation{AWSRegion: str(g.AWSRegion), LocalZoneGroup: str(g.LocalZoneGroup)}
		if g.Coordinates != nil {
			p.Latitude, p.Longitude = str(g.Coordinates.Latitude), str(g.Coordinates.Longitude)
		}
		if p.Bias, err = decodeInt(g.Bias); err != nil {
			return r, err
		}
		r.GeoProximityLocation = p
	}
	return r, nil
}

func decodeInt(p *string) (*int64, *Error) {
	if p == nil {
		return nil, nil
	}
	v, err := strconv.ParseInt(*p, 10, 64)
	if err != nil {
		return nil, invalidXML("cvc-datatype-valid.1.2.1: '%s' is not a valid value for 'integer'.", *p)
	}
	return &v, nil
}

func decodeBool(s string) (bool, *Error) {
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, invalidXML("cvc-datatype-valid.1.2.1: '%s' is not a valid value for 'boolean'.", s)
}
