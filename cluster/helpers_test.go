package cluster

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/detour-dns/detour/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSpec returns a small spec whose content depends on v, so that every
// version differs: one zone with a record, and pools pools of three
// endpoints each.
func testSpec(v, pools int) *policy.Spec {
	ttl := uint32(300)
	s := &policy.Spec{Zones: []policy.Zone{{
		Name: "example.test.",
		TTL:  300,
		SOA: policy.SOA{
			MName: "ns1.example.test.", RName: "hostmaster.example.test.",
			Refresh: 3600, Retry: 600, Expire: 1209600, Minimum: 30,
		},
		Nameservers: []policy.Nameserver{{Name: "ns1.example.test.", Addresses: []string{"127.0.0.1"}}},
		Records: []policy.Record{
			{Name: "@", Type: "TXT", Values: []string{fmt.Sprintf("version=%d", v)}},
			{Name: "mail", Type: "A", TTL: &ttl, Values: []string{"198.51.100.25"}},
		},
	}}}
	w := 70
	for i := range pools {
		s.Pools = append(s.Pools, policy.Pool{
			Name:        fmt.Sprintf("pool%d.example.test.", i),
			Policy:      policy.PolicyFailover,
			TTL:         20,
			WhenAllDown: policy.AllDownServeAll,
			Check: policy.Check{
				Type: policy.CheckHTTP, Port: 18080, Path: "/healthz",
				ExpectStatus: []policy.StatusRange{{Lo: 200, Hi: 299}},
				Interval:     policy.Duration(500e6), Timeout: policy.Duration(400e6), Rise: 2, Fall: 3,
			},
			Endpoints: []policy.Endpoint{
				{Name: "us-east-1", Priority: 1, Weight: &w, Addresses: []string{"198.51.100.11"}},
				{Name: "eu-west-1", Priority: 2, Addresses: []string{"198.51.100.12", "2001:db8::12"}},
				{Name: "ap-south-1", Priority: 3, Target: "lb.ap-south-1.example.org."},
			},
		})
	}
	return s
}
