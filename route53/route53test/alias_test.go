package route53test

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/google/go-cmp/cmp"
)

// raw sends a request without the SDK and returns the status, headers and
// body.
func raw(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// A1: an AliasTarget without EvaluateTargetHealth is invalid XML. The Go SDK
// always sends the element, so this request is written by hand.
func TestA1_AliasWithoutEvaluateTargetHealth(t *testing.T) {
	f := newFixture(t, Options{})
	body := `<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change>
<Action>CREATE</Action><ResourceRecordSet><Name>lb.example.test</Name><Type>A</Type>
<AliasTarget><HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId><DNSName>lb-1.us-east-1.elb.amazonaws.com</DNSName></AliasTarget>
</ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
	status, _, resp := raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID+"/rrset", body)
	if status != 400 {
		t.Fatalf("status = %d, want 400; body %s", status, resp)
	}
	var er xmlErrorResponse
	if err := xml.Unmarshal([]byte(resp), &er); err != nil {
		t.Fatalf("decode %s: %v", resp, err)
	}
	want := "Invalid XML ; cvc-complex-type.2.4.b: The content of element 'AliasTarget' is not complete. One of '{\"https://route53.amazonaws.com/doc/2013-04-01/\":EvaluateTargetHealth}' is expected."
	if er.Error.Code != "InvalidInput" || er.Error.Message != want || er.Error.Type != "Sender" {
		t.Errorf("error = %+v, want InvalidInput %q", er.Error, want)
	}
	if _, ok := f.s.RecordSet(f.zone.ID, "lb.example.test", "A", ""); ok {
		t.Errorf("record set created despite the error")
	}
	// The same request with the element succeeds.
	body = strings.Replace(body, "</DNSName>", "</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth>", 1)
	if status, _, resp := raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID+"/rrset", body); status != 200 {
		t.Errorf("with EvaluateTargetHealth: status %d, body %s", status, resp)
	}
}

// A2: the alias target is validated against its zone.
func TestA2_AliasTargetValidated(t *testing.T) {
	f := newFixture(t, Options{})
	other := zoneWith(t, f.s, "example.org")
	mustSubmit(t, f.c, other.ID, chg(create, rrA("www.example.org", 60, "198.51.100.1")))
	tests := []struct {
		name   string
		zoneID string
		target string
		want   []string
	}{
		{"ELB name in another region's zone", "Z35SXDOTRQ7X7K", "lb-1.eu-west-1.elb.amazonaws.com", []string{
			"Tried to create an alias that targets lb-1.eu-west-1.elb.amazonaws.com., type A in zone Z35SXDOTRQ7X7K, but the alias target name does not lie within the target zone"}},
		{"NLB name in the ALB zone", "Z35SXDOTRQ7X7K", "nlb-1.elb.us-east-1.amazonaws.com", []string{
			"Tried to create an alias that targets nlb-1.elb.us-east-1.amazonaws.com., type A in zone Z35SXDOTRQ7X7K, but the alias target name does not lie within the target zone"}},
		{"name outside a hosted zone", other.ID, "www.example.net", []string{
			"Tried to create an alias that targets www.example.net., type A in zone " + other.ID + ", but the alias target name does not lie within the target zone"}},
		{"missing target in a hosted zone", other.ID, "nope.example.org", []string{
			"Tried to create an alias that targets nope.example.org., type A in zone " + other.ID + ", but that target was not found"}},
		{"unknown zone", "ZUNKNOWNZONE00", "x.example.org", []string{
			"Tried to create an alias that targets x.example.org., type A in zone ZUNKNOWNZONE00, but the alias target name does not lie within the target zone",
			"Tried to create an alias that targets x.example.org., type A in zone ZUNKNOWNZONE00, but that target was not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.rejected(t, chg(create, alias("a.example.test", types.RRTypeA, tc.zoneID, tc.target, true)))
			wantBatchError(t, err, tc.want...)
		})
	}
	t.Run("existing target in another hosted zone", func(t *testing.T) {
		mustSubmit(t, f.c, f.zone.ID, chg(create, alias("a.example.test", types.RRTypeA, other.ID, "WWW.example.org", false)))
	})
}

// A3: load balancer, CloudFront and Global Accelerator names are accepted
// in their canonical hosted zones.
func TestA3_CanonicalHostedZones(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		host, zone string
	}{
		{"my-alb-123.us-east-1.elb.amazonaws.com", "Z35SXDOTRQ7X7K"},
		{"dualstack.my-alb-123.eu-west-1.elb.amazonaws.com", "Z32O12XQLNTSW2"},
		{"my-alb-123.eu-central-1.elb.amazonaws.com", "Z215JYRZR1TBD5"},
		{"my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com", "Z26RNL4JYFTOTI"},
		{"my-nlb-0123456789abcdef.elb.eu-west-1.amazonaws.com", "Z2IFOLAFXWLO4F"},
		{"d111111abcdef8.cloudfront.net", "Z2FDTNDATAQYW2"},
		{"a1234567890abcdef.awsglobalaccelerator.com", "Z2BJ6XQ5FK7U4H"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			dn, err := parseName(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if got := canonicalZoneOf(dn); got != tc.zone {
				t.Errorf("canonicalZoneOf(%s) = %q, want %q", tc.host, got, tc.zone)
			}
			name := "lb-" + strings.ReplaceAll(tc.zone, "Z", "z") + ".example.test"
			mustSubmit(t, f.c, f.zone.ID, chg(create, alias(name, types.RRTypeA, tc.zone, tc.host, true)))
		})
	}
	if dn, _ := parseName("lb.example.test"); canonicalZoneOf(dn) != "" {
		t.Errorf("an ordinary name maps to a canonical zone")
	}
}

// A4: a same-zone alias target must exist at that point of the batch, and
// must not be touched later in the batch.
func TestA4_SameZoneAliasTargetOrder(t *testing.T) {
	f := newFixture(t, Options{})
	target := rrA("origin.example.test", 60, "198.51.100.1")
	al := alias("www.example.test", types.RRTypeA, f.zone.ID, "origin.example.test", false)
	notFound := "Tried to create an alias that targets origin.example.test., type A in zone " + f.zone.ID + ", but that target was not found"

	wantBatchError(t, f.rejected(t, chg(create, al), chg(create, target)), notFound)
	mustSubmit(t, f.c, f.zone.ID, chg(create, target), chg(create, al))
	mustSubmit(t, f.c, f.zone.ID, chg(del, al))
	// The target exists, but an UPSERT of it later in the batch still fails.
	wantBatchError(t, f.rejected(t, chg(create, al), chg(upsert, rrA("origin.example.test", 60, "198.51.100.2"))), notFound)
	// Untouched, it is fine.
	mustSubmit(t, f.c, f.zone.ID, chg(create, al))
}

// A5: alias record sets list with their AliasTarget (DNS name lower case,
// fully qualified) and without TTL or values.
func TestA5_AliasListing(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, weighted(alias("app.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "My-ALB-1.US-EAST-1.elb.amazonaws.com", true), "use1", 10)))
	sets := listAll(t, f.c, f.zone.ID, 0)
	if len(sets) != 3 {
		t.Fatalf("listed %v", ids(sets))
	}
	got := sets[2]
	want := types.AliasTarget{HostedZoneId: aws.String("Z35SXDOTRQ7X7K"), DNSName: aws.String("my-alb-1.us-east-1.elb.amazonaws.com."), EvaluateTargetHealth: true}
	if diff := cmp.Diff(want, *got.AliasTarget, cmp.AllowUnexported(types.AliasTarget{})); diff != "" {
		t.Errorf("AliasTarget (-want +got):\n%s", diff)
	}
	if got.TTL != nil || got.ResourceRecords != nil {
		t.Errorf("alias listed with TTL %v and values %v", got.TTL, got.ResourceRecords)
	}
	if aws.ToInt64(got.Weight) != 10 || aws.ToString(got.SetIdentifier) != "use1" {
		t.Errorf("routing fields: weight %d id %q", aws.ToInt64(got.Weight), aws.ToString(got.SetIdentifier))
	}
}
