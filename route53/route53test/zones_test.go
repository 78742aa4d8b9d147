package route53test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/google/go-cmp/cmp"
)

// Z1: CreateHostedZone returns the fully qualified name and a prefixed ID,
// and the zone starts with its apex NS and SOA record sets.
func TestZ1_CreateHostedZoneHoldsApexNSAndSOA(t *testing.T) {
	s := start(t, Options{})
	c := client(t, s, ClientOptions{})
	out, err := c.CreateHostedZone(t.Context(), &awsr53.CreateHostedZoneInput{
		Name: aws.String("Example.Test"), CallerReference: aws.String("ref-1"),
		HostedZoneConfig: &types.HostedZoneConfig{Comment: aws.String("made by a test")},
	})
	if err != nil {
		t.Fatalf("CreateHostedZone: %v", err)
	}
	hz := out.HostedZone
	if got := aws.ToString(hz.Name); got != "example.test." {
		t.Errorf("Name = %q, want example.test.", got)
	}
	if id := aws.ToString(hz.Id); !strings.HasPrefix(id, "/hostedzone/Z") || len(id) != len("/hostedzone/")+14 {
		t.Errorf("Id = %q, want /hostedzone/Z + 13 characters", id)
	}
	if got := aws.ToInt64(hz.ResourceRecordSetCount); got != 2 {
		t.Errorf("ResourceRecordSetCount = %d, want 2", got)
	}
	if hz.Config == nil || hz.Config.PrivateZone || aws.ToString(hz.Config.Comment) != "made by a test" {
		t.Errorf("Config = %+v, want public with the comment", hz.Config)
	}
	if got := aws.ToString(out.Location); got != s.URL()+"/2013-04-01/hostedzone/"+bareID(*hz.Id) {
		t.Errorf("Location = %q", got)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/C") {
		t.Errorf("ChangeInfo = %+v, want a PENDING /change/C… ", out.ChangeInfo)
	}
	if out.DelegationSet == nil || len(out.DelegationSet.NameServers) != 4 {
		t.Fatalf("DelegationSet = %+v, want 4 name servers", out.DelegationSet)
	}
	sets := listAll(t, c, *hz.Id, 0)
	if diff := cmp.Diff([]string{"example.test. NS", "example.test. SOA"}, ids(sets)); diff != "" {
		t.Fatalf("record sets (-want +got):\n%s", diff)
	}
	ns := sets[0]
	if diff := cmp.Diff(values(ns), sortedCopy(out.DelegationSet.NameServers)); diff != "" {
		t.Errorf("apex NS values differ from the delegation set:\n%s", diff)
	}
	if aws.ToInt64(ns.TTL) != 172800 || aws.ToInt64(sets[1].TTL) != 900 {
		t.Errorf("TTLs = %d, %d; want 172800 (NS) and 900 (SOA)", aws.ToInt64(ns.TTL), aws.ToInt64(sets[1].TTL))
	}

	t.Run("caller reference reused", func(t *testing.T) {
		_, err := c.CreateHostedZone(t.Context(), &awsr53.CreateHostedZoneInput{Name: aws.String("other.test"), CallerReference: aws.String("ref-1")})
		var dup *types.HostedZoneAlreadyExists
		if !errors.As(err, &dup) {
			t.Fatalf("error = %v, want HostedZoneAlreadyExists", err)
		}
		if len(s.Zones()) != 1 {
			t.Errorf("zones = %d, want 1", len(s.Zones()))
		}
	})
	t.Run("bad name", func(t *testing.T) {
		_, err := c.CreateHostedZone(t.Context(), &awsr53.CreateHostedZoneInput{Name: aws.String("a..test"), CallerReference: aws.String("ref-2")})
		var bad *types.InvalidDomainName
		if !errors.As(err, &bad) {
			t.Fatalf("error = %v, want InvalidDomainName", err)
		}
	})
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sortStrings(c)
	return c
}

// Z2: GetHostedZone of an unknown ID answers 404 NoSuchHostedZone; a public
// zone comes with its delegation set, a private one with its VPCs.
func TestZ2_GetHostedZone(t *testing.T) {
	s := start(t, Options{})
	c := client(t, s, ClientOptions{})
	pub := zoneWith(t, s, "example.test")

	t.Run("unknown id", func(t *testing.T) {
		_, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String("/hostedzone/ZNOSUCHZONE0001")})
		var nsz *types.NoSuchHostedZone
		if !errors.As(err, &nsz) {
			t.Fatalf("error = %v, want NoSuchHostedZone", err)
		}
		if got := aws.ToString(nsz.Message); got != "No hosted zone found with ID: ZNOSUCHZONE0001" {
			t.Errorf("message = %q", got)
		}
		wantStatus(t, err, 404)
	})
	t.Run("public zone, prefixed id", func(t *testing.T) {
		out, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String("/hostedzone/" + pub.ID)})
		if err != nil {
			t.Fatalf("GetHostedZone: %v", err)
		}
		if aws.ToString(out.HostedZone.Id) != "/hostedzone/"+pub.ID || aws.ToString(out.HostedZone.Name) != "example.test." {
			t.Errorf("HostedZone = %s %s", aws.ToString(out.HostedZone.Id), aws.ToString(out.HostedZone.Name))
		}
		if out.DelegationSet == nil || !cmp.Equal(out.DelegationSet.NameServers, pub.NameServers) {
			t.Errorf("DelegationSet = %+v, want %v", out.DelegationSet, pub.NameServers)
		}
		if len(out.VPCs) != 0 {
			t.Errorf("VPCs = %+v, want none", out.VPCs)
		}
	})
	t.Run("private zone", func(t *testing.T) {
		cr, err := c.CreateHostedZone(t.Context(), &awsr53.CreateHostedZoneInput{
			Name: aws.String("example.test"), CallerReference: aws.String("private-1"),
			HostedZoneConfig: &types.HostedZoneConfig{PrivateZone: true},
			VPC:              &types.VPC{VPCId: aws.String("vpc-0abc"), VPCRegion: types.VPCRegionEuWest1},
		})
		if err != nil {
			t.Fatalf("CreateHostedZone: %v", err)
		}
		out, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: cr.HostedZone.Id})
		if err != nil {
			t.Fatalf("GetHostedZone: %v", err)
		}
		if !out.HostedZone.Config.PrivateZone || out.DelegationSet != nil {
			t.Errorf("private zone: PrivateZone=%v DelegationSet=%+v", out.HostedZone.Config.PrivateZone, out.DelegationSet)
		}
		if len(out.VPCs) != 1 || aws.ToString(out.VPCs[0].VPCId) != "vpc-0abc" || out.VPCs[0].VPCRegion != types.VPCRegionEuWest1 {
			t.Errorf("VPCs = %+v", out.VPCs)
		}
	})
}

// Z3: names are case-insensitive, stored lower case and fully qualified;
// characters outside a-z0-9-_ come back as \ooo escapes.
func TestZ3_NamesAreCaseInsensitiveQualifiedAndEscaped(t *testing.T) {
	s := start(t, Options{})
	c := client(t, s, ClientOptions{})
	z := zoneWith(t, s, "example.test")

	mustSubmit(t, c, z.ID, chg(types.ChangeActionCreate, rrA("WWW.Example.Test", 60, "198.51.100.1")))
	mustSubmit(t, c, z.ID, chg(types.ChangeActionUpsert, rrA("www.example.test.", 120, "198.51.100.2")))
	mustSubmit(t, c, z.ID, chg(types.ChangeActionCreate, rrA("*.example.test", 60, "198.51.100.3")))

	sets := listAll(t, c, z.ID, 0)
	want := []string{"example.test. NS", "example.test. SOA", `\052.example.test. A`, "www.example.test. A"}
	if diff := cmp.Diff(want, ids(sets)); diff != "" {
		t.Fatalf("record sets (-want +got):\n%s", diff)
	}
	if got := values(sets[3]); !cmp.Equal(got, []string{"198.51.100.2"}) || aws.ToInt64(sets[3].TTL) != 120 {
		t.Errorf("www after UPSERT = %v TTL %d, want the upserted value", got, aws.ToInt64(sets[3].TTL))
	}
	// The escaped and the literal spelling name the same record set.
	_, err := submit(t, c, z.ID, chg(types.ChangeActionCreate, rrA(`\052.EXAMPLE.test`, 60, "198.51.100.3")))
	wantBatchError(t, err, `Tried to create resource record set [name='\052.example.test.', type='A'] but it already exists`)
	if _, ok := s.RecordSet(z.ID, "*.example.test", "A", ""); !ok {
		t.Errorf("RecordSet(*.example.test) not found")
	}
	_, err = submit(t, c, z.ID, chg(types.ChangeActionCreate, rrA("a..example.test", 60, "198.51.100.4")))
	wantBatchError(t, err, "FATAL problem: DomainLabelEmpty (Domain label is empty) encountered with 'a..example.test'")
}

// Z4: ListHostedZonesByName lists in reversed-label order; dnsname is where
// the listing starts, not a filter; pages of at most 100.
func TestZ4_ListHostedZonesByName(t *testing.T) {
	s := start(t, Options{})
	c := client(t, s, ClientOptions{})
	for _, n := range []string{"www.example.test", "example.org", "example.test", "a.example.org"} {
		zoneWith(t, s, n)
	}
	priv, err := s.CreateZone("example.test", ZoneConfig{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	list := func(in *awsr53.ListHostedZonesByNameInput) *awsr53.ListHostedZonesByNameOutput {
		t.Helper()
		out, err := c.ListHostedZonesByName(t.Context(), in)
		if err != nil {
			t.Fatalf("ListHostedZonesByName: %v", err)
		}
		return out
	}
	names := func(zs []types.HostedZone) []string {
		var out []string
		for _, z := range zs {
			out = append(out, aws.ToString(z.Name))
		}
		return out
	}
	all := list(&awsr53.ListHostedZonesByNameInput{})
	want := []string{"example.org.", "a.example.org.", "example.test.", "example.test.", "www.example.test."}
	if diff := cmp.Diff(want, names(all.HostedZones)); diff != "" {
		t.Fatalf("all zones (-want +got):\n%s", diff)
	}
	if all.IsTruncated || all.NextDNSName != nil || all.NextHostedZoneId != nil || aws.ToInt32(all.MaxItems) != 100 {
		t.Errorf("untruncated listing: IsTruncated=%v Next=%v/%v MaxItems=%d", all.IsTruncated, all.NextDNSName, all.NextHostedZoneId, aws.ToInt32(all.MaxItems))
	}

	t.Run("dnsname is a start position", func(t *testing.T) {
		out := list(&awsr53.ListHostedZonesByNameInput{DNSName: aws.String("EXAMPLE.test")})
		if diff := cmp.Diff(want[2:], names(out.HostedZones)); diff != "" {
			t.Errorf("from example.test (-want +got):\n%s", diff)
		}
		if aws.ToString(out.DNSName) != "EXAMPLE.test" {
			t.Errorf("DNSName echo = %q", aws.ToString(out.DNSName))
		}
		// A name without a zone starts at the next zone.
		out = list(&awsr53.ListHostedZonesByNameInput{DNSName: aws.String("b.example.org")})
		if diff := cmp.Diff(want[2:], names(out.HostedZones)); diff != "" {
			t.Errorf("from b.example.org (-want +got):\n%s", diff)
		}
	})
	t.Run("pages with next name and id", func(t *testing.T) {
		var got []string
		in := &awsr53.ListHostedZonesByNameInput{MaxItems: aws.Int32(2)}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			out := list(in)
			got = append(got, names(out.HostedZones)...)
			if aws.ToInt32(out.MaxItems) != 2 {
				t.Errorf("MaxItems echo = %d", aws.ToInt32(out.MaxItems))
			}
			if !out.IsTruncated {
				if out.NextDNSName != nil || out.NextHostedZoneId != nil {
					t.Errorf("last page carries Next fields")
				}
				break
			}
			in = &awsr53.ListHostedZonesByNameInput{MaxItems: aws.Int32(2), DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paged zones (-want +got):\n%s", diff)
		}
	})
	t.Run("same name, start at an id", func(t *testing.T) {
		zs := list(&awsr53.ListHostedZonesByNameInput{DNSName: aws.String("example.test")}).HostedZones
		second := zs[1]
		out := list(&awsr53.ListHostedZonesByNameInput{DNSName: aws.String("example.test"), HostedZoneId: second.Id})
		if len(out.HostedZones) != 2 || aws.ToString(out.HostedZones[0].Id) != aws.ToString(second.Id) {
			t.Errorf("from %s: %v", aws.ToString(second.Id), names(out.HostedZones))
		}
		if aws.ToString(out.HostedZoneId) != bareID(*second.Id) {
			t.Errorf("HostedZoneId echo = %q", aws.ToString(out.HostedZoneId))
		}
		privSeen := false
		for _, z := range zs {
			if bareID(*z.Id) == priv.ID {
				privSeen = z.Config.PrivateZone
			}
		}
		if !privSeen {
			t.Errorf("private zone with the same name is not listed as private")
		}
	})
	t.Run("hostedzoneid without dnsname", func(t *testing.T) {
		_, err := c.ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{HostedZoneId: aws.String(priv.ID)})
		var inv *types.InvalidInput
		if !errors.As(err, &inv) {
			t.Fatalf("error = %v, want InvalidInput", err)
		}
	})
	t.Run("at most 100 per page", func(t *testing.T) {
		for i := range 100 {
			zoneWith(t, s, fmt.Sprintf("z%03d.example.net", i))
		}
		out := list(&awsr53.ListHostedZonesByNameInput{MaxItems: aws.Int32(500)})
		if len(out.HostedZones) != 100 || !out.IsTruncated || aws.ToInt32(out.MaxItems) != 500 {
			t.Errorf("got %d zones, truncated %v, MaxItems %d; want 100, true, 500", len(out.HostedZones), out.IsTruncated, aws.ToInt32(out.MaxItems))
		}
	})
}
