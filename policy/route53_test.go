package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const route53Base = `
zones:
  - name: example.test.
    nameservers:
      - name: ns1.example.test.
        addresses: [127.0.0.1]
pools:
`

func loadRoute53Spec(t *testing.T, pools string) *Spec {
	t.Helper()
	s, err := LoadSpec([]byte(route53Base + pools))
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	return s
}

func w64(n int64) *int64 { return &n }

func TestRoute53GroupOf(t *testing.T) {
	failover := `
  - name: www.example.test.
    policy: failover
    ttl: 20
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: app.example.com}
    endpoints:
      - {name: use1, priority: 1, addresses: [198.51.100.1, 198.51.100.2, "2001:db8::1"]}
      - {name: euw1, priority: 2, addresses: [203.0.113.1]}
`
	weighted := `
  - name: api.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {hosted_zone_id: /hostedzone/Z111, ttl: 60, evaluate_target_health: true}
    endpoints:
      - {name: use1, weight: 70, target: my-alb-1.us-east-1.elb.amazonaws.com}
      - {name: euw1, weight: 30, target: dualstack.my-nlb-2.elb.eu-west-1.amazonaws.com}
      - {name: cdn, weight: 0, target: d111.cloudfront.net, alias_hosted_zone_id: Z2FDTNDATAQYW2}
`
	failoverALB := `
  - name: lb.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test., type: AAAA}
    endpoints:
      - {name: use1, priority: 1, target: dualstack.a-1.us-east-1.elb.amazonaws.com}
      - {name: local, priority: 2, addresses: ["2001:db8::9", 198.51.100.9]}
`
	cname := `
  - name: c.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com., record_name: c.example.com, type: CNAME, style: weighted}
    endpoints:
      - {name: a, priority: 1, target: a.example.net}
      - {name: b, priority: 2, target: b.example.net, weight: 5}
`
	down := func(names ...string) func(*Endpoint) bool {
		return func(ep *Endpoint) bool { return !slices.Contains(names, ep.Name) }
	}
	tests := []struct {
		name    string
		pools   string
		healthy func(*Endpoint) bool
		want    Route53Group
	}{
		{"simple failover: all healthy publishes the primary's IPv4 addresses", failover, down(),
			Route53Group{Pool: "www.example.test.", ZoneName: "example.com.", Name: "app.example.com.", Type: "A", Style: "simple",
				Sets: []Route53RecordSet{{TTL: 20, Values: []string{"198.51.100.1", "198.51.100.2"}}}}},
		{"simple failover: primary down publishes the secondary", failover, down("use1"),
			Route53Group{Pool: "www.example.test.", ZoneName: "example.com.", Name: "app.example.com.", Type: "A", Style: "simple",
				Sets: []Route53RecordSet{{TTL: 20, Values: []string{"203.0.113.1"}}}}},
		{"simple failover: all down fails open to the primary", failover, down("use1", "euw1"),
			Route53Group{Pool: "www.example.test.", ZoneName: "example.com.", Name: "app.example.com.", Type: "A", Style: "simple", FailOpen: true,
				Sets: []Route53RecordSet{{TTL: 20, Values: []string{"198.51.100.1", "198.51.100.2"}}}}},
		{"weighted: all healthy publishes configured weights as aliases", weighted, down(),
			Route53Group{Pool: "api.example.test.", HostedZoneID: "Z111", Name: "api.example.test.", Type: "A", Style: "weighted",
				Sets: []Route53RecordSet{
					{SetIdentifier: "use1", Weight: w64(70), Alias: &Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "my-alb-1.us-east-1.elb.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "euw1", Weight: w64(30), Alias: &Route53Alias{HostedZoneID: "Z2IFOLAFXWLO4F", DNSName: "dualstack.my-nlb-2.elb.eu-west-1.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "cdn", Weight: w64(0), Alias: &Route53Alias{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111.cloudfront.net.", EvaluateTargetHealth: true}},
				}}},
		{"weighted: one down weighs 0", weighted, down("use1"),
			Route53Group{Pool: "api.example.test.", HostedZoneID: "Z111", Name: "api.example.test.", Type: "A", Style: "weighted",
				Sets: []Route53RecordSet{
					{SetIdentifier: "use1", Weight: w64(0), Alias: &Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "my-alb-1.us-east-1.elb.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "euw1", Weight: w64(30), Alias: &Route53Alias{HostedZoneID: "Z2IFOLAFXWLO4F", DNSName: "dualstack.my-nlb-2.elb.eu-west-1.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "cdn", Weight: w64(0), Alias: &Route53Alias{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111.cloudfront.net.", EvaluateTargetHealth: true}},
				}}},
		{"weighted: all down fails open to configured weights, never all zero", weighted, down("use1", "euw1", "cdn"),
			Route53Group{Pool: "api.example.test.", HostedZoneID: "Z111", Name: "api.example.test.", Type: "A", Style: "weighted", FailOpen: true,
				Sets: []Route53RecordSet{
					{SetIdentifier: "use1", Weight: w64(70), Alias: &Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "my-alb-1.us-east-1.elb.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "euw1", Weight: w64(30), Alias: &Route53Alias{HostedZoneID: "Z2IFOLAFXWLO4F", DNSName: "dualstack.my-nlb-2.elb.eu-west-1.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "cdn", Weight: w64(0), Alias: &Route53Alias{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111.cloudfront.net.", EvaluateTargetHealth: true}},
				}}},
		{"weighted: only the weight-0 endpoint healthy fails open", weighted, down("use1", "euw1"),
			Route53Group{Pool: "api.example.test.", HostedZoneID: "Z111", Name: "api.example.test.", Type: "A", Style: "weighted", FailOpen: true,
				Sets: []Route53RecordSet{
					{SetIdentifier: "use1", Weight: w64(70), Alias: &Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "my-alb-1.us-east-1.elb.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "euw1", Weight: w64(30), Alias: &Route53Alias{HostedZoneID: "Z2IFOLAFXWLO4F", DNSName: "dualstack.my-nlb-2.elb.eu-west-1.amazonaws.com.", EvaluateTargetHealth: true}},
					{SetIdentifier: "cdn", Weight: w64(0), Alias: &Route53Alias{HostedZoneID: "Z2FDTNDATAQYW2", DNSName: "d111.cloudfront.net.", EvaluateTargetHealth: true}},
				}}},
		{"simple AAAA: healthy ALB primary publishes an alias", failoverALB, down(),
			Route53Group{Pool: "lb.example.test.", ZoneName: "example.test.", Name: "lb.example.test.", Type: "AAAA", Style: "simple",
				Sets: []Route53RecordSet{{Alias: &Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "dualstack.a-1.us-east-1.elb.amazonaws.com."}}}}},
		{"simple AAAA: ALB down publishes the secondary's IPv6 address", failoverALB, down("use1"),
			Route53Group{Pool: "lb.example.test.", ZoneName: "example.test.", Name: "lb.example.test.", Type: "AAAA", Style: "simple",
				Sets: []Route53RecordSet{{TTL: 30, Values: []string{"2001:db8::9"}}}}},
		{"weighted CNAME on a failover pool: the best tier weighs, others 0", cname, down(),
			Route53Group{Pool: "c.example.test.", ZoneName: "example.com.", Name: "c.example.com.", Type: "CNAME", Style: "weighted",
				Sets: []Route53RecordSet{
					{SetIdentifier: "a", Weight: w64(1), TTL: 30, Values: []string{"a.example.net."}},
					{SetIdentifier: "b", Weight: w64(0), TTL: 30, Values: []string{"b.example.net."}},
				}}},
		{"weighted CNAME on a failover pool: primary down shifts the whole weight", cname, down("a"),
			Route53Group{Pool: "c.example.test.", ZoneName: "example.com.", Name: "c.example.com.", Type: "CNAME", Style: "weighted",
				Sets: []Route53RecordSet{
					{SetIdentifier: "a", Weight: w64(0), TTL: 30, Values: []string{"a.example.net."}},
					{SetIdentifier: "b", Weight: w64(5), TTL: 30, Values: []string{"b.example.net."}},
				}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := loadRoute53Spec(t, tc.pools)
			got := Route53GroupOf(&s.Pools[0], tc.healthy)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("group (-want +got):\n%s", d)
			}
		})
	}
}

func TestState_Route53Groups(t *testing.T) {
	s := loadRoute53Spec(t, `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints:
      - {name: use1, priority: 1, addresses: [198.51.100.1]}
      - {name: euw1, priority: 2, addresses: [198.51.100.2]}
  - name: plain.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    endpoints:
      - {name: use1, addresses: [198.51.100.3]}
`)
	st := &State{Spec: s, Down: map[string]map[string]bool{"www.example.test.": {"use1": true}}}
	got := st.Route53Groups()
	if len(got) != 1 {
		t.Fatalf("got %d groups, want 1 (only pools with route53)", len(got))
	}
	if v := got[0].Sets[0].Values; !slices.Equal(v, []string{"198.51.100.2"}) {
		t.Errorf("values = %v, want the secondary's address (primary is down in State.Down)", v)
	}
	if (*State)(nil).Route53Groups() != nil {
		t.Error("nil state has groups")
	}
}

func TestELBHostedZone(t *testing.T) {
	for host, want := range map[string]string{
		"my-alb-1.us-east-1.elb.amazonaws.com":              "Z35SXDOTRQ7X7K",
		"dualstack.my-alb-1.eu-west-1.elb.amazonaws.com.":   "Z32O12XQLNTSW2",
		"my-nlb-1.elb.us-west-2.amazonaws.com":              "Z18D5FSROUN65G",
		"internal-x.ap-southeast-2.elb.amazonaws.com":       "Z1GM3OXH4ZPM65",
		"my-alb-1.mars-north-1.elb.amazonaws.com":           "",
		"www.example.net.":                                  "",
		"elb.amazonaws.com.":                                "",
		"MY-ALB.US-EAST-2.ELB.AMAZONAWS.COM":                "Z3AADJGX6KTTL2",
		"dualstack.my-nlb-2.elb.eu-central-1.amazonaws.com": "Z3F0SRJ5LGBH90",
	} {
		if got := ELBHostedZone(host); got != want {
			t.Errorf("ELBHostedZone(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestRoute53_normalize(t *testing.T) {
	s := loadRoute53Spec(t, `
  - name: API.example.test
    policy: weighted
    ttl: 45
    check: {type: tcp, port: 80}
    route53: {hosted_zone_id: " /hostedzone/Z42 ", adopt: true}
    endpoints:
      - {name: a, addresses: [198.51.100.1]}
`)
	want := &Route53{HostedZoneID: "Z42", RecordName: "api.example.test.", Type: "A", TTL: 45, Style: "weighted", Adopt: true}
	if d := cmp.Diff(want, s.Pools[0].Route53); d != "" {
		t.Errorf("normalized route53 (-want +got):\n%s", d)
	}
}

func TestValidate_route53(t *testing.T) {
	tests := []struct {
		name  string
		pools string
		want  []string // "path: message fragment"
	}{
		{"no zone", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {record_name: www.example.com}
    endpoints: [{name: a, addresses: [198.51.100.1]}]
`, []string{"pools[0].route53: hosted_zone_id or zone_name is required"}},
		{"bad id, record outside zone, bad type, bad style", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {hosted_zone_id: z-1, zone_name: example.com, record_name: www.example.org, type: MX, style: latency}
    endpoints: [{name: a, addresses: [198.51.100.1]}]
`, []string{
			`pools[0].route53.hosted_zone_id: "z-1" is not a hosted zone ID`,
			`pools[0].route53.record_name: "www.example.org." is outside the hosted zone "example.com."`,
			`pools[0].route53.type: "MX" is not a type Route 53 mode publishes`,
			`pools[0].route53.style: "latency" is not simple or weighted`,
		}},
		{"weighted pool with simple style, weight above 255", `
  - name: www.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test, style: simple}
    endpoints: [{name: a, weight: 300, addresses: [198.51.100.1]}]
`, []string{"pools[0].route53.style: a weighted pool publishes with style weighted"}},
		{"weight above 255 with style weighted", `
  - name: www.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints: [{name: a, weight: 300, addresses: [198.51.100.1]}]
`, []string{"pools[0].endpoints[0].weight: 300 is above 255"}},
		{"type A with a non-ELB target, unknown ELB region, IPv6 only", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints:
      - {name: a, target: web.example.net}
      - {name: b, target: x.mars-1.elb.amazonaws.com}
      - {name: c, addresses: ["2001:db8::1"]}
`, []string{
			"pools[0].endpoints[0].target: route53 type A needs addresses or a load balancer target",
			`pools[0].endpoints[1].target: no canonical hosted zone is known for load balancer region "mars-1"`,
			"pools[0].endpoints[2].addresses: route53 type A needs at least one IPv4 address",
		}},
		{"CNAME needs targets; alias zone is for A/AAAA; multivalue simple CNAME", `
  - name: www.example.test.
    policy: multivalue
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test, type: CNAME}
    endpoints:
      - {name: a, addresses: [198.51.100.1]}
      - {name: b, target: d1.cloudfront.net, alias_hosted_zone_id: Z2FDTNDATAQYW2}
`, []string{
			"pools[0].route53.type: a CNAME holds one value",
			"pools[0].endpoints[0]: route53 type CNAME publishes the endpoint's target",
			"pools[0].endpoints[1].alias_hosted_zone_id: only A and AAAA record sets are aliases",
		}},
		{"alias zone without route53", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    endpoints: [{name: a, target: d1.cloudfront.net, alias_hosted_zone_id: Z2FDTNDATAQYW2}]
`, []string{"pools[0].endpoints[0].alias_hosted_zone_id: only pools published to Route 53"}},
		{"two pools publish the same name and type", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: app.example.com}
    endpoints: [{name: a, addresses: [198.51.100.1]}]
  - name: www2.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: APP.example.com.}
    endpoints: [{name: a, addresses: [198.51.100.1]}]
`, []string{"pools[1].route53.record_name: app.example.com. A is already published by pools[0]"}},
		{"valid: CloudFront alias via alias_hosted_zone_id", `
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints: [{name: a, target: d1.cloudfront.net, alias_hosted_zone_id: Z2FDTNDATAQYW2}]
`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpec([]byte(route53Base + tc.pools))
			if err != nil {
				t.Fatal(err)
			}
			s.Normalize()
			got := problemsOf(t, Validate(s))
			var lines []string
			for _, p := range got {
				lines = append(lines, p.String())
			}
			if len(tc.want) == 0 && len(got) > 0 {
				t.Fatalf("unexpected problems:\n%s", strings.Join(lines, "\n"))
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.Contains(l, w)
				}
				if !found {
					t.Errorf("missing problem %q; got:\n%s", w, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

// BenchmarkState_Route53Groups computes the desired Route 53 record sets
// of 2,000 pools, which the reconciler does on every new State.
func BenchmarkState_Route53Groups(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "  - name: p%d.example.test.\n    policy: failover\n    check: {type: tcp, port: 80}\n    route53: {zone_name: example.test}\n    endpoints:\n", i)
		fmt.Fprintf(&sb, "      - {name: a, priority: 1, addresses: [198.51.100.%d, 198.51.100.%d]}\n      - {name: b, priority: 2, addresses: [203.0.113.%d]}\n", i%250+1, (i+1)%250+1, i%250+1)
	}
	s, err := LoadSpec([]byte(route53Base + sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	st := &State{Spec: s, Down: map[string]map[string]bool{"p7.example.test.": {"a": true}}}
	b.ReportAllocs()
	for b.Loop() {
		if len(st.Route53Groups()) != 2000 {
			b.Fatal("wrong number of groups")
		}
	}
}

func TestRoute53GroupFor_followsOverrides(t *testing.T) {
	s := loadRoute53Spec(t, `
  - name: api.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints:
      - {name: use1, weight: 70, addresses: [198.51.100.1]}
      - {name: euw1, weight: 30, addresses: [198.51.100.2]}
      - {name: spare, weight: 0, addresses: [198.51.100.3]}
  - name: www.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.test}
    endpoints:
      - {name: use1, priority: 1, addresses: [198.51.100.1]}
      - {name: euw1, priority: 2, addresses: [198.51.100.2]}
`)
	pin := func(ep string) *Override { return &Override{Kind: "pin", Endpoint: ep} }
	st := &State{Spec: s, PoolOverrides: map[string]PoolOverrides{
		"api.example.test.": {Pin: pin("spare")},
		"www.example.test.": {Pin: pin("euw1")},
	}}
	gs := st.Route53Groups()
	var ws []int64
	for _, set := range gs[0].Sets {
		ws = append(ws, *set.Weight)
	}
	if !slices.Equal(ws, []int64{0, 0, 1}) {
		t.Errorf("weights with spare (weight 0) pinned = %v, want [0 0 1]", ws)
	}
	if v := gs[1].Sets[0].Values; !slices.Equal(v, []string{"198.51.100.2"}) {
		t.Errorf("www pinned to euw1 publishes %v", v)
	}
}
