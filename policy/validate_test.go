package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// parseExample returns the example spec as parsed, before Normalize.
func parseExample(t *testing.T) *Spec {
	t.Helper()
	s, err := ParseSpec(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return ve.Problems
}

func TestValidate_rules(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name     string
		mutate   func(s *Spec)
		wantPath string
		wantMsg  string
		// more is set when the mutation rightly causes other problems
		// too; otherwise exactly one problem is expected.
		more bool
	}{
		// Names.
		{"record outside its zone", func(s *Spec) { s.Zones[0].Records[2].Name = "mail.other.test." },
			"zones[0].records[2].name", `"mail.other.test." is outside zone "example.test."`, false},
		{"label longer than 63", func(s *Spec) { s.Zones[0].Records[2].Name = long63 + "a" },
			"zones[0].records[2].name", "has a label of 64 characters; the limit is 63", false},
		{"name longer than 255 octets", func(s *Spec) {
			s.Zones[0].Records[2].Name = long63 + "." + long63 + "." + long63 + "." + long63
		}, "zones[0].records[2].name", "octets long in wire format; the limit is 255", false},
		{"bad character", func(s *Spec) { s.Zones[0].Records[2].Name = "mail!" },
			"zones[0].records[2].name", `has the character '!' in label "mail!"`, false},
		{"space in a name", func(s *Spec) { s.Zones[0].Records[2].Name = "my mail" },
			"zones[0].records[2].name", `has the character ' '`, false},
		{"wildcard not leftmost", func(s *Spec) { s.Zones[0].Records[2].Name = "a.*.dev" },
			"zones[0].records[2].name", "has a wildcard '*' that is not the leftmost label", false},
		{"empty label", func(s *Spec) { s.Zones[0].Records[2].Name = "a..b" },
			"zones[0].records[2].name", "has an empty label", false},
		{"label starting with a hyphen", func(s *Spec) { s.Zones[0].Records[2].Name = "-mail" },
			"zones[0].records[2].name", `starts or ends with '-'`, false},
		{"record without a name", func(s *Spec) { s.Zones[0].Records[2].Name = "" },
			"zones[0].records[2].name", `a record name is required ("@" for the zone apex)`, false},
		{"zone without a name", func(s *Spec) { s.Zones[0].Name = "" },
			"zones[0].name", "a zone name is required", true},
		{"wildcard zone", func(s *Spec) { s.Zones[0].Name = "*.example.test." },
			"zones[0].name", "a zone name cannot be a wildcard", true},
		{"root zone", func(s *Spec) { s.Zones[0].Name = "." },
			"zones[0].name", "detour does not serve the root zone", true},
		{"duplicate zone", func(s *Spec) { s.Zones = append(s.Zones, s.Zones[0]) },
			"zones[1].name", `zone "example.test." is already defined at zones[0]`, false},
		{"record that belongs to a nested zone", func(s *Spec) {
			sub := Zone{Name: "sub.example.test.", SOA: s.Zones[0].SOA, Nameservers: []Nameserver{{Name: "ns1.example.test."}}}
			s.Zones = append(s.Zones, sub)
			s.Zones[0].Records[2].Name = "mail.sub"
		}, "zones[0].records[2].name", `belongs to zone "sub.example.test.", which this spec also serves`, false},
		{"no zones", func(s *Spec) { s.Zones = nil; s.Pools = nil },
			"zones", "at least one zone is required", false},

		// Record types and data.
		{"unsupported type", func(s *Spec) { s.Zones[0].Records[0].Type = "PTR" },
			"zones[0].records[0].type", `"PTR" is not a supported record type (one of A, AAAA, CNAME, MX, TXT, NS, SRV, CAA)`, false},
		{"missing type", func(s *Spec) { s.Zones[0].Records[0].Type = "" },
			"zones[0].records[0].type", "a record type is required", false},
		{"A with a short address", func(s *Spec) { s.Zones[0].Records[2].Values = []string{"1.2.3"} },
			"zones[0].records[2].values[0]", `"1.2.3" is not an IPv4 address`, false},
		{"A with an IPv6 address", func(s *Spec) { s.Zones[0].Records[2].Values = []string{"2001:db8::1"} },
			"zones[0].records[2].values[0]", `"2001:db8::1" is not an IPv4 address`, false},
		{"AAAA with an IPv4 address", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "v6", Type: "AAAA", Values: []string{"198.51.100.1"}})
		}, "zones[0].records[4].values[0]", `"198.51.100.1" is not an IPv6 address`, false},
		{"CNAME with two values", func(s *Spec) { s.Zones[0].Records[3].Values = []string{"a.example.test.", "b.example.test."} },
			"zones[0].records[3].values", "a CNAME has exactly one value, found 2", false},
		{"CNAME to a bad name", func(s *Spec) { s.Zones[0].Records[3].Values = []string{"www..example.test."} },
			"zones[0].records[3].values[0]", "has an empty label", false},
		{"CNAME to a wildcard", func(s *Spec) { s.Zones[0].Records[3].Values = []string{"*.example.test."} },
			"zones[0].records[3].values[0]", "is a wildcard, not a host name", false},
		{"MX without a preference", func(s *Spec) { s.Zones[0].Records[1].Values = []string{"mail.example.test."} },
			"zones[0].records[1].values[0]", `is not an MX value: want "preference host"`, false},
		{"MX preference too big", func(s *Spec) { s.Zones[0].Records[1].Values = []string{"70000 mail"} },
			"zones[0].records[1].values[0]", `preference "70000" is not a number from 0 to 65535`, false},
		{"TXT with an unclosed quote", func(s *Spec) { s.Zones[0].Records[0].Values = []string{`"v=spf1 -all`} },
			"zones[0].records[0].values[0]", "a quoted string is not closed", false},
		{"TXT string over 255 octets", func(s *Spec) { s.Zones[0].Records[0].Values = []string{`"` + strings.Repeat("x", 256) + `"`} },
			"zones[0].records[0].values[0]", "is 256 octets long; the limit is 255", false},
		{"SRV with three fields", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "_sip._tcp", Type: "SRV", Values: []string{"10 5060 sip"}})
		}, "zones[0].records[4].values[0]", `is not an SRV value: want "priority weight port target"`, false},
		{"CAA with an unquoted value holding a space", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "@", Type: "CAA", Values: []string{"0 issue ca example"}})
		}, "zones[0].records[4].values[0]", "a value with spaces or quotes must be quoted", false},
		{"CAA flags above 255", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "@", Type: "CAA", Values: []string{`256 issue "ca.example.net"`}})
		}, "zones[0].records[4].values[0]", `flags "256" is not a number from 0 to 255`, false},
		{"NS record at the apex", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "@", Type: "ns", Values: []string{"ns4.example.net."}})
		}, "zones[0].records[4].type", "NS records at the zone apex come from nameservers", false},
		{"record without values", func(s *Spec) { s.Zones[0].Records[2].Values = nil },
			"zones[0].records[2].values", "at least one value is required", false},
		{"repeated value", func(s *Spec) { s.Zones[0].Records[2].Values = []string{"198.51.100.25", "198.51.100.25"} },
			"zones[0].records[2].values[1]", `"198.51.100.25" repeats values[0]`, false},
		{"repeated record set", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "MAIL", Type: "a", Values: []string{"198.51.100.26"}})
		}, "zones[0].records[4]", "mail.example.test. A is already defined at zones[0].records[2]; merge their values", false},
		{"record TTL above 2^31-1", func(s *Spec) { s.Zones[0].Records[2].TTL = u32(MaxTTL + 1) },
			"zones[0].records[2].ttl", "2147483648 is outside 0..2147483647", false},
		{"record below a delegation", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records,
				Record{Name: "sub", Type: "NS", Values: []string{"ns.other.test."}},
				Record{Name: "x.sub", Type: "TXT", Values: []string{"hidden"}})
		}, "zones[0].records[5]", `"x.sub.example.test." is below the delegation "sub.example.test."`, false},

		// CNAME exclusivity.
		{"CNAME beside another record", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "docs", Type: "TXT", Values: []string{"x"}})
		}, "zones[0].records[3].name", `"docs.example.test." has a CNAME and also TXT at zones[0].records[4]; a CNAME owner holds no other record`, false},
		{"CNAME at the apex", func(s *Spec) { s.Zones[0].Records[3].Name = "@" },
			"zones[0].records[3].name", `a CNAME cannot be at the zone apex "example.test."`, true},
		{"CNAME at a pool's name", func(s *Spec) { s.Zones[0].Records[3].Name = "www" },
			"pools[0].name", `"www.example.test." is also the name of the CNAME record at zones[0].records[3]`, false},

		// Pools.
		{"pool outside every zone", func(s *Spec) { s.Pools[0].Name = "www.other.test." },
			"pools[0].name", `"www.other.test." is outside every zone of the spec; pools outside the spec's zones are not supported yet`, false},
		{"pool on a static A record", func(s *Spec) { s.Pools[0].Name = "mail.example.test" },
			"pools[0].name", `"mail.example.test." is also the name of the A record at zones[0].records[2]`, false},
		{"pool on a nameserver's glue", func(s *Spec) { s.Pools[0].Name = "ns1.example.test." },
			"pools[0].name", `is also the name of the glue record at zones[0].nameservers[0].addresses`, false},
		{"CNAME-answering pool beside a TXT record", func(s *Spec) {
			s.Pools[0].Endpoints[0].Addresses = nil
			s.Pools[0].Endpoints[0].Target = "alb.example.net"
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "www", Type: "TXT", Values: []string{"x"}})
		}, "pools[0].name", "answers with a CNAME (an endpoint has a target without flatten), so it cannot share its name with the TXT record at zones[0].records[4]", false},
		{"pool below a delegation", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "sub", Type: "NS", Values: []string{"ns.other.test."}})
			s.Pools[0].Name = "www.sub.example.test."
		}, "pools[0].name", `"www.sub.example.test." is below the delegation "sub.example.test."`, false},
		{"wildcard pool", func(s *Spec) { s.Pools[0].Name = "*.example.test." },
			"pools[0].name", "a pool name cannot be a wildcard", false},
		{"pool without a name", func(s *Spec) { s.Pools[0].Name = "" },
			"pools[0].name", "a pool name (a fully qualified name like www.example.test.) is required", false},
		{"duplicate pool", func(s *Spec) { s.Pools[1].Name = "WWW.example.test." },
			"pools[1].name", `pool "www.example.test." is already defined at pools[0]`, false},
		{"unknown policy", func(s *Spec) { s.Pools[0].Policy = "round-robin" },
			"pools[0].policy", `"round-robin" is not a policy (failover, weighted or multivalue)`, false},
		{"missing policy", func(s *Spec) { s.Pools[0].Policy = "" },
			"pools[0].policy", "a policy is required", false},
		{"pool TTL above a day", func(s *Spec) { s.Pools[0].TTL = 86401 },
			"pools[0].ttl", "86401 is outside 1..86400", false},
		{"bad when_all_down", func(s *Spec) { s.Pools[0].WhenAllDown = "serve_some" },
			"pools[0].when_all_down", `"serve_some" is not serve_all or serve_none`, false},
		{"pool without endpoints", func(s *Spec) { s.Pools[0].Endpoints = nil },
			"pools[0].endpoints", "at least one endpoint is required", false},

		// Endpoints.
		{"duplicate endpoint", func(s *Spec) { s.Pools[0].Endpoints[1].Name = "us-east-1" },
			"pools[0].endpoints[1].name", `endpoint "us-east-1" is already defined at endpoints[0]`, false},
		{"endpoint without a name", func(s *Spec) { s.Pools[0].Endpoints[1].Name = "" },
			"pools[0].endpoints[1].name", "an endpoint name (like us-east-1) is required", false},
		{"endpoint name with a slash", func(s *Spec) { s.Pools[0].Endpoints[1].Name = "eu/west" },
			"pools[0].endpoints[1].name", `"eu/west" is not an endpoint name`, false},
		{"priority above 255", func(s *Spec) { s.Pools[0].Endpoints[1].Priority = 256 },
			"pools[0].endpoints[1].priority", "256 is outside 1..255", false},
		{"negative priority", func(s *Spec) { s.Pools[0].Endpoints[1].Priority = -1 },
			"pools[0].endpoints[1].priority", "-1 is outside 1..255", false},
		{"weight above 1000", func(s *Spec) { s.Pools[1].Endpoints[0].Weight = weightp(1001) },
			"pools[1].endpoints[0].weight", "1001 is outside 0..1000", false},
		{"negative weight", func(s *Spec) { s.Pools[1].Endpoints[0].Weight = weightp(-5) },
			"pools[1].endpoints[0].weight", "-5 is outside 0..1000", false},
		{"weighted pool with all weights 0", func(s *Spec) {
			s.Pools[1].Endpoints[0].Weight = weightp(0)
			s.Pools[1].Endpoints[1].Weight = weightp(0)
		}, "pools[1].endpoints", "a weighted pool needs at least one endpoint with a weight above 0", false},
		{"endpoint with neither addresses nor target", func(s *Spec) { s.Pools[0].Endpoints[0].Addresses = nil },
			"pools[0].endpoints[0]", "an endpoint needs addresses or a target", false},
		{"endpoint with addresses and target", func(s *Spec) { s.Pools[0].Endpoints[0].Target = "alb.example.net." },
			"pools[0].endpoints[0]", "an endpoint has addresses or a target, not both", false},
		{"bad endpoint address", func(s *Spec) { s.Pools[0].Endpoints[1].Addresses = []string{"1.2.3"} },
			"pools[0].endpoints[1].addresses[0]", `"1.2.3" is not an IP address`, false},
		{"address with a zone", func(s *Spec) { s.Pools[0].Endpoints[1].Addresses = []string{"fe80::1%eth0"} },
			"pools[0].endpoints[1].addresses[0]", `"fe80::1%eth0" is not an IP address`, false},
		{"repeated address", func(s *Spec) { s.Pools[0].Endpoints[1].Addresses = []string{"127.0.0.12", "127.0.0.12"} },
			"pools[0].endpoints[1].addresses[1]", `"127.0.0.12" repeats [0]`, false},
		{"target is the pool itself", func(s *Spec) {
			s.Pools[0].Endpoints[1].Addresses = nil
			s.Pools[0].Endpoints[1].Target = "www.example.test"
		}, "pools[0].endpoints[1].target", `"www.example.test." is the pool's own name`, false},
		{"wildcard target", func(s *Spec) {
			s.Pools[0].Endpoints[1].Addresses = nil
			s.Pools[0].Endpoints[1].Target = "*.elb.example.net"
		}, "pools[0].endpoints[1].target", "is a wildcard, not a host name", false},
		{"flatten without a target", func(s *Spec) { s.Pools[0].Endpoints[1].Flatten = true },
			"pools[0].endpoints[1].flatten", "flatten needs a target", false},
		{"check_url not http", func(s *Spec) { s.Pools[0].Endpoints[1].CheckURL = "ftp://127.0.0.1/x" },
			"pools[0].endpoints[1].check_url", `"ftp://127.0.0.1/x" is not an http or https URL`, false},
		{"check_url on a tcp check", func(s *Spec) { s.Pools[1].Endpoints[1].CheckURL = "http://127.0.0.1/x" },
			"pools[1].endpoints[1].check_url", "only http and https checks use check_url (this pool's check is tcp)", false},
		{"check_address with a bad port", func(s *Spec) { s.Pools[0].Endpoints[1].CheckAddress = "127.0.0.1:http" },
			"pools[0].endpoints[1].check_address", `port "http" is not a number from 1 to 65535`, false},
		{"check_address with a bad host", func(s *Spec) { s.Pools[0].Endpoints[1].CheckAddress = "bad host" },
			"pools[0].endpoints[1].check_address", `"bad host" is not a host or host:port`, false},

		// Checks.
		{"unknown check type", func(s *Spec) { s.Pools[0].Check.Type = "icmp" },
			"pools[0].check.type", `"icmp" is not a check type (http, https, tcp or dns)`, false},
		{"port above 65535", func(s *Spec) { s.Pools[0].Check.Port = 70000 },
			"pools[0].check.port", "70000 is outside 1..65535", false},
		{"tcp check without a port", func(s *Spec) { s.Pools[1].Check.Port = 0 },
			"pools[1].check.port", "a tcp check needs a port", false},
		{"relative path", func(s *Spec) { s.Pools[0].Check.Path = "healthz" },
			"pools[0].check.path", `"healthz" must start with '/'`, false},
		{"method that is not a token", func(s *Spec) { s.Pools[0].Check.Method = "GE T" },
			"pools[0].check.method", `"GE T" is not an HTTP method`, false},
		{"body and body regex", func(s *Spec) { s.Pools[0].Check.ExpectBody = "ok"; s.Pools[0].Check.ExpectBodyRegex = "ok" },
			"pools[0].check.expect_body_regex", "give expect_body or expect_body_regex, not both", false},
		{"regex that does not compile", func(s *Spec) { s.Pools[0].Check.ExpectBodyRegex = "(ok" },
			"pools[0].check.expect_body_regex", `"(ok" does not compile`, false},
		{"status range built wrong in Go", func(s *Spec) { s.Pools[0].Check.ExpectStatus = []StatusRange{{300, 200}} },
			"pools[0].check.expect_status[0]", "300-200 is not a range inside 100-599", false},
		{"timeout equal to interval", func(s *Spec) { s.Pools[0].Check.Timeout = Duration(500 * time.Millisecond) },
			"pools[0].check.timeout", "500ms must be below the interval (500ms)", false},
		{"negative timeout", func(s *Spec) { s.Pools[0].Check.Timeout = Duration(-time.Second) },
			"pools[0].check.timeout", "-1s must be above 0", false},
		{"interval too short", func(s *Spec) {
			s.Pools[0].Check.Interval = Duration(50 * time.Millisecond)
			s.Pools[0].Check.Timeout = Duration(10 * time.Millisecond)
		}, "pools[0].check.interval", "50ms is outside 100ms..1h0m0s", false},
		{"rise below 1", func(s *Spec) { s.Pools[0].Check.Rise = -1 },
			"pools[0].check.rise", "-1 is outside 1..100", false},
		{"fall above 100", func(s *Spec) { s.Pools[0].Check.Fall = 101 },
			"pools[0].check.fall", "101 is outside 1..100", false},
		{"negative quorum", func(s *Spec) { s.Pools[0].Check.Quorum = -1 },
			"pools[0].check.quorum", "-1 is below 0 (0 means a majority of voters)", false},
		{"http field on a tcp check", func(s *Spec) { s.Pools[1].Check.Path = "/x" },
			"pools[1].check.path", "only http and https checks use path (this check is tcp)", false},
		{"dns field on an http check", func(s *Spec) { s.Pools[0].Check.Query = "x.example.test" },
			"pools[0].check.query", "only dns checks use query (this check is http)", false},
		{"dns check without a query", func(s *Spec) { s.Pools[1].Check.Type = "dns" },
			"pools[1].check.query", "a dns check needs a query name", false},
		{"dns check with a bad query type", func(s *Spec) {
			s.Pools[1].Check = Check{Type: "dns", Query: "probe.example.test", QueryType: "ANY"}
		}, "pools[1].check.query_type", `"ANY" is not a query type`, false},
		{"bad header name", func(s *Spec) { s.Pools[0].Check.Headers = map[string]string{"X Probe": "1"} },
			"pools[0].check.headers.X Probe", `"X Probe" is not a header name`, false},
		{"tls_skip_verify on http", func(s *Spec) { s.Pools[0].Check.TLSSkipVerify = true },
			"pools[0].check.tls_skip_verify", "only https checks use tls_skip_verify", false},

		// Zone TTL, SOA and nameservers.
		{"zone TTL above 2^31-1", func(s *Spec) { s.Zones[0].TTL = MaxTTL + 1 },
			"zones[0].ttl", "2147483648 is outside 1..2147483647", false},
		{"bad SOA mname", func(s *Spec) { s.Zones[0].SOA.MName = "ns 1" },
			"zones[0].soa.mname", `has the character ' '`, false},
		{"SOA rname as a mail address with a dotted local part", func(s *Spec) { s.Zones[0].SOA.RName = "host.master@example.test" },
			"zones[0].soa.rname", "write the mailbox as a name", false},
		{"SOA expire shorter than refresh + retry", func(s *Spec) { s.Zones[0].SOA.Expire = 1000 },
			"zones[0].soa.expire", "1000 is shorter than refresh + retry (4200)", false},
		{"SOA minimum above a day", func(s *Spec) { s.Zones[0].SOA.Minimum = 90000 },
			"zones[0].soa.minimum", "90000 is above 86400", false},
		{"SOA refresh above 2^31-1", func(s *Spec) { s.Zones[0].SOA.Refresh = MaxTTL + 1; s.Zones[0].SOA.Expire = 4294967295 },
			"zones[0].soa.refresh", "2147483648 is outside 1..2147483647", true},
		{"no nameservers", func(s *Spec) { s.Zones[0].Nameservers = nil },
			"zones[0].nameservers", "at least one nameserver is required", false},
		{"in-zone nameserver without glue", func(s *Spec) { s.Zones[0].Nameservers[0].Addresses = nil },
			"zones[0].nameservers[0].addresses", `"ns1.example.test." is inside zone "example.test.", so it needs glue addresses`, false},
		{"out-of-zone nameserver with glue", func(s *Spec) { s.Zones[0].Nameservers[0].Name = "ns1.other.test." },
			"zones[0].nameservers[0].addresses", `"ns1.other.test." is outside zone "example.test.", so it must not have glue addresses`, true},
		{"bad glue address", func(s *Spec) { s.Zones[0].Nameservers[1].Addresses = []string{"127.0.0"} },
			"zones[0].nameservers[1].addresses[0]", `"127.0.0" is not an IP address`, false},
		{"static A beside a nameserver's glue", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "ns2", Type: "A", Values: []string{"127.0.0.2"}})
		}, "zones[0].records[4].name", `"ns2.example.test." is a nameserver with glue addresses at zones[0].nameservers[1].addresses; give its addresses in one place`, false},
		{"repeated nameserver", func(s *Spec) { s.Zones[0].Nameservers[1].Name = "ns1" },
			"zones[0].nameservers[1].name", `"ns1.example.test." is already listed at nameservers[0]`, false},

		// Transfer.
		{"allow prefix with host bits", func(s *Spec) { s.Zones[0].Transfer = &Transfer{Allow: []string{"10.0.0.1/8"}} },
			"zones[0].transfer.allow[0]", `"10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`, false},
		{"allow entry that is no address", func(s *Spec) { s.Zones[0].Transfer = &Transfer{Allow: []string{"secondary"}} },
			"zones[0].transfer.allow[0]", `"secondary" is not an IP address or CIDR prefix`, false},
		{"notify host without a port", func(s *Spec) { s.Zones[0].Transfer = &Transfer{Notify: []string{"ns.other.test"}} },
			"zones[0].transfer.notify[0]", `"ns.other.test" is not an IP address or host:port: want host:port`, false},
		{"notify port out of range", func(s *Spec) { s.Zones[0].Transfer = &Transfer{Notify: []string{"127.0.0.2:99999"}} },
			"zones[0].transfer.notify[0]", `port "99999" is not a number from 1 to 65535`, false},
	}
	if err := Validate(mustLoad(t, readExample(t))); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseExample(t)
			tc.mutate(s)
			s.Normalize()
			probs := problemsOf(t, Validate(s))
			found := false
			for _, p := range probs {
				if p.Path == tc.wantPath && strings.Contains(p.Message, tc.wantMsg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem at %s containing %q; got:\n%v", tc.wantPath, tc.wantMsg, probs)
			}
			if !tc.more && len(probs) != 1 {
				t.Errorf("got %d problems, want exactly 1:\n%v", len(probs), probs)
			}
		})
	}
}

func TestValidate_accepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Spec)
	}{
		{"pool at the apex beside MX and TXT", func(s *Spec) { s.Pools[0].Name = "example.test." }},
		{"pool at the apex with a target (flattened there)", func(s *Spec) {
			s.Pools[0].Name = "example.test."
			s.Pools[0].Endpoints[0].Addresses = nil
			s.Pools[0].Endpoints[0].Target = "alb.example.net"
		}},
		{"flattened target beside a TXT record", func(s *Spec) {
			s.Pools[0].Endpoints[0].Addresses = nil
			s.Pools[0].Endpoints[0].Target = "alb.example.net"
			s.Pools[0].Endpoints[0].Flatten = true
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "www", Type: "TXT", Values: []string{"x"}})
		}},
		{"IPv4 and IPv6 in one endpoint", func(s *Spec) { s.Pools[0].Endpoints[0].Addresses = []string{"127.0.0.11", "::1"} }},
		{"weighted pool with one weight 0", func(s *Spec) { s.Pools[1].Endpoints[0].Weight = weightp(0) }},
		{"same failover priority twice (one tier)", func(s *Spec) { s.Pools[0].Endpoints[1].Priority = 1 }},
		{"record TTL 0", func(s *Spec) { s.Zones[0].Records[2].TTL = u32(0) }},
		{"SOA rname as a mail address", func(s *Spec) { s.Zones[0].SOA.RName = "Hostmaster@Example.test" }},
		{"null MX", func(s *Spec) { s.Zones[0].Records[1].Values = []string{"0 ."} }},
		{"glue below a delegation", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records,
				Record{Name: "sub", Type: "NS", Values: []string{"ns1.sub"}},
				Record{Name: "ns1.sub", Type: "A", Values: []string{"198.51.100.53"}})
		}},
		{"wildcard beside a pool", func(s *Spec) {
			s.Zones[0].Records = append(s.Zones[0].Records, Record{Name: "*", Type: "A", Values: []string{"198.51.100.1"}})
		}},
		{"out-of-zone nameserver without glue, mname defaulted", func(s *Spec) {
			s.Zones[0].Nameservers = append(s.Zones[0].Nameservers, Nameserver{Name: "ns.other.test."})
			s.Zones[0].SOA.MName = ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseExample(t)
			tc.mutate(s)
			s.Normalize()
			if err := Validate(s); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// invalidSpec has exactly the problems listed in TestValidate_reportsAll.
const invalidSpec = `
zones:
  - name: example.test.
    ttl: 300
    soa: {mname: ns1, rname: hostmaster, minimum: 100000}
    nameservers:
      - name: ns1
    records:
      - {name: www.example.org., type: A, values: [198.51.100.1]}
      - {name: docs, type: CNAME, values: [www]}
      - {name: docs, type: TXT, values: [hello]}
      - {name: mail, type: MX, values: [mail]}
      - {name: bad, type: PTR, values: [x]}
pools:
  - name: www.example.test.
    policy: failover
    check: {type: http, port: 18080, path: healthz, interval: 1s, timeout: 2s}
    endpoints:
      - {name: us-east-1, priority: 300, addresses: [127.0.0.11]}
      - {name: eu-west-1, addresses: ["1.2.3"]}
      - {name: eu-west-1, target: alb.example.net, addresses: [127.0.0.13]}
  - name: api.example.test.
    policy: weighted
    ttl: 100000
    check: {type: tcp}
    endpoints:
      - {name: a, weight: 0, addresses: [127.0.0.11]}
  - name: www.example.org.
    policy: sticky
    check: {type: tcp, port: 80}
    endpoints:
      - {name: a, addresses: [127.0.0.11]}
`

func TestValidate_reportsAll(t *testing.T) {
	_, err := LoadSpec([]byte(invalidSpec))
	got := problemsOf(t, err)
	want := []string{
		"zones[0].soa.minimum",
		"zones[0].nameservers[0].addresses",
		"zones[0].records[0].name",
		"zones[0].records[1].name",
		"zones[0].records[3].values[0]",
		"zones[0].records[4].type",
		"pools[0].check.timeout",
		"pools[0].check.path",
		"pools[0].endpoints[0].priority",
		"pools[0].endpoints[1].addresses[0]",
		"pools[0].endpoints[2].name",
		"pools[0].endpoints[2]",
		"pools[1].ttl",
		"pools[1].check.port",
		"pools[1].endpoints",
		"pools[2].name",
		"pools[2].policy",
	}
	var gotPaths []string
	for _, p := range got {
		gotPaths = append(gotPaths, p.Path)
	}
	// Validation follows the spec's order, except that check problems
	// come in field order; compare as sets of the same size.
	if diff := cmp.Diff(sorted(want), sorted(gotPaths)); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s\nall:\n%v", diff, err)
	}
	// The message style of the issue.
	if !strings.Contains(err.Error(), "pools[0].endpoints[1].addresses[0]: \"1.2.3\" is not an IP address\n") {
		t.Errorf("Error() lacks the address problem line:\n%v", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("Error() has %d lines, want one per problem (%d)", n, len(want))
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestValidate_neverPanics(t *testing.T) {
	specs := []*Spec{
		nil,
		{},
		{Zones: []Zone{{}}},
		{Zones: []Zone{{Name: "example.test.", Transfer: &Transfer{}}}, Pools: []Pool{{}}},
		{Pools: []Pool{{Name: "x.", Endpoints: []Endpoint{{}}}}},
		{Zones: []Zone{{Name: "a", Records: []Record{{Name: "@", Type: "MX", Values: []string{""}}}}}},
	}
	for i, s := range specs {
		err := Validate(s)
		if err == nil {
			t.Errorf("spec %d: Validate accepted an incomplete spec", i)
		}
		s.Normalize()
		if err := Validate(s); err == nil {
			t.Errorf("spec %d: Validate accepted an incomplete spec after Normalize", i)
		}
	}
}

func TestValidate_doesNotModify(t *testing.T) {
	s := parseExample(t) // not normalized: relative names, no defaults
	s.Pools[0].Endpoints[0].Addresses = []string{"1.2.3"}
	before, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if Validate(s) == nil {
		t.Fatal("Validate accepted a bad address")
	}
	after, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(before), string(after)); diff != "" {
		t.Errorf("Validate modified the spec:\n%s", diff)
	}
}

func TestNormalize_rnameMailAddress(t *testing.T) {
	tests := map[string]string{
		"Hostmaster@Example.test":  "hostmaster.example.test.",
		"dns@other.test.":          "dns.other.test.",
		"hostmaster":               "hostmaster.example.test.",
		"host.master@example.test": "host.master@example.test.example.test.", // left for Validate
		"":                         "hostmaster.example.test.",
	}
	for in, want := range tests {
		s := &Spec{Zones: []Zone{{Name: "example.test.", SOA: SOA{RName: in}}}}
		s.Normalize()
		if got := s.Zones[0].SOA.RName; got != want {
			t.Errorf("rname %q normalizes to %q, want %q", in, got, want)
		}
	}
}
