package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	old := mustLoad(t, readExample(t))

	t.Run("identical specs", func(t *testing.T) {
		if got := Diff(old, mustLoad(t, readExample(t))); len(got) != 0 {
			t.Errorf("Diff = %v, want none", got)
		}
	})

	t.Run("a bit of everything", func(t *testing.T) {
		s := parseExample(t)
		s.Zones[0].TTL = 600
		s.Zones[0].SOA.Minimum = 60
		s.Zones[0].Nameservers[2].Addresses = []string{"127.0.0.4"}
		s.Zones[0].Nameservers = append(s.Zones[0].Nameservers, Nameserver{Name: "ns.other.test."})
		s.Zones[0].Records[2].Values = []string{"198.51.100.26"} // mail A
		s.Zones[0].Records = s.Zones[0].Records[:3]              // drop docs CNAME
		s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "ftp", Type: "A", Values: []string{"198.51.100.21"}})
		s.Zones = append(s.Zones, Zone{Name: "other.test.", Nameservers: []Nameserver{{Name: "ns.other.test.", Addresses: []string{"127.0.0.9"}}},
			Records: []Record{{Name: "@", Type: "TXT", Values: []string{"hi"}}}})
		w := 50
		s.Pools[1].Endpoints[0].Weight = &w
		s.Pools[1].Endpoints[1].Addresses = []string{"127.0.0.22"}
		s.Pools[0].Check.Interval = Duration(time.Second)
		s.Pools[0].TTL = 30
		s.Pools[0].Endpoints = append(s.Pools[0].Endpoints, Endpoint{Name: "ap-south-1", Priority: 3, Target: "alb.example.net"})
		s.Pools = s.Pools[:2] // drop all.example.test.
		s.Pools = append(s.Pools, Pool{Name: "new.example.test.", Policy: "multivalue", Check: Check{Type: "tcp", Port: 443},
			Endpoints: []Endpoint{{Name: "a", Addresses: []string{"127.0.0.31"}}}})
		s.Normalize()
		if err := Validate(s); err != nil {
			t.Fatalf("changed spec is invalid: %v", err)
		}

		var got []string
		for _, c := range Diff(old, s) {
			got = append(got, c.String())
		}
		want := []string{
			"change zone example.test.: ttl 300 -> 600; soa.minimum 30 -> 60; nameserver ns.other.test. added; nameserver ns3.example.test. addresses [127.0.0.3] -> [127.0.0.4]",
			"remove record docs.example.test. CNAME",
			"add record ftp.example.test. A: values [198.51.100.21]",
			"change record mail.example.test. A: values [198.51.100.25] -> [198.51.100.26]",
			"add zone other.test.: 1 nameserver, 1 record set",
			"add record other.test. TXT: values [hi]",
			"remove pool all.example.test.: 3 endpoints",
			"change endpoint api.example.test./eu-west-1: addresses [127.0.0.12] -> [127.0.0.22]",
			"change endpoint api.example.test./us-east-1: weight 70 -> 50",
			"add pool new.example.test.: multivalue, tcp check, 1 endpoint",
			"change pool www.example.test.: ttl 20 -> 30; check.interval 500ms -> 1s",
			"add endpoint www.example.test./ap-south-1: priority 3, weight 1, target alb.example.net.",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Diff (-want +got):\n%s", diff)
		}
		// Deterministic: the same inputs give the same list.
		if again := Diff(old, s); !cmp.Equal(Diff(old, s), again) {
			t.Error("Diff is not deterministic")
		}
	})

	t.Run("from and to nothing", func(t *testing.T) {
		add := Diff(nil, old)
		rm := Diff(old, nil)
		if len(add) != len(rm) || len(add) == 0 {
			t.Fatalf("add %d changes, remove %d", len(add), len(rm))
		}
		for i := range add {
			if add[i].Op != OpAdd || rm[i].Op != OpRemove || add[i].Name != rm[i].Name || add[i].Kind != rm[i].Kind {
				t.Errorf("change %d: add %v, remove %v", i, add[i], rm[i])
			}
		}
		if !strings.HasPrefix(add[0].String(), "add zone example.test.") {
			t.Errorf("first change %v", add[0])
		}
	})

	t.Run("check fields and headers", func(t *testing.T) {
		a := mustLoad(t, []byte(fullSpec))
		b := mustLoad(t, []byte(fullSpec))
		b.Pools[0].Check.Headers = map[string]string{"X-Probe": "v2", "Accept": "text/plain"}
		b.Pools[0].Check.ExpectStatus = []StatusRange{{200, 299}}
		b.Zones[0].Transfer.Allow = nil
		got := Diff(a, b)
		want := []Change{
			{OpChange, KindZone, "example.test.", "transfer.allow [127.0.0.0/8 ::1] -> []"},
			{OpChange, KindPool, "www.example.test.", "check.headers {X-Probe=detour} -> {Accept=text/plain X-Probe=v2}; check.expect_status [200 3xx 401-403] -> [2xx]"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Diff (-want +got):\n%s", diff)
		}
	})
}

func ExampleDiff() {
	old, _ := LoadSpec([]byte(`
zones:
  - name: example.test.
    nameservers: [{name: ns1, addresses: [127.0.0.1]}]
pools:
  - name: api.example.test.
    policy: weighted
    check: {type: tcp, port: 443}
    endpoints:
      - {name: us-east-1, weight: 70, addresses: [127.0.0.11]}
      - {name: eu-west-1, weight: 30, addresses: [127.0.0.12]}
`))
	new, _ := LoadSpec([]byte(`
zones:
  - name: example.test.
    nameservers: [{name: ns1, addresses: [127.0.0.1]}]
    records:
      - {name: www, type: CNAME, values: [api]}
pools:
  - name: api.example.test.
    policy: weighted
    check: {type: tcp, port: 443, interval: 2s}
    endpoints:
      - {name: us-east-1, weight: 50, addresses: [127.0.0.11]}
      - {name: eu-west-1, weight: 50, addresses: [127.0.0.12]}
`))
	for _, c := range Diff(old, new) {
		fmt.Println(c)
	}
	// Output:
	// add record www.example.test. CNAME: values [api.example.test.]
	// change pool api.example.test.: check.interval 5s -> 2s; check.timeout 2s -> 1s
	// change endpoint api.example.test./eu-west-1: weight 30 -> 50
	// change endpoint api.example.test./us-east-1: weight 70 -> 50
}
