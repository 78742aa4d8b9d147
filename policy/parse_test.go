package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustLoad(t testing.TB, data []byte) *Spec {
	t.Helper()
	s, err := LoadSpec(data)
	if err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	return s
}

func u32(v uint32) *uint32 { return &v }
func weightp(v int) *int   { return &v }

func TestLoadSpec_example(t *testing.T) {
	s := mustLoad(t, readExample(t))

	wantZone := Zone{
		Name: "example.test.",
		TTL:  300,
		SOA: SOA{
			MName: "ns1.example.test.", RName: "hostmaster.example.test.",
			Refresh: 3600, Retry: 600, Expire: 1209600, Minimum: 30,
		},
		Nameservers: []Nameserver{
			{Name: "ns1.example.test.", Addresses: []string{"127.0.0.1"}},
			{Name: "ns2.example.test.", Addresses: []string{"127.0.0.2"}},
			{Name: "ns3.example.test.", Addresses: []string{"127.0.0.3"}},
		},
		Records: []Record{
			{Name: "example.test.", Type: "TXT", Values: []string{"v=spf1 -all"}},
			{Name: "example.test.", Type: "MX", Values: []string{"10 mail.example.test."}},
			{Name: "mail.example.test.", Type: "A", TTL: u32(3600), Values: []string{"198.51.100.25"}},
			{Name: "docs.example.test.", Type: "CNAME", Values: []string{"www.example.test."}},
		},
	}
	if diff := cmp.Diff([]Zone{wantZone}, s.Zones); diff != "" {
		t.Errorf("zones (-want +got):\n%s", diff)
	}

	ms := func(d time.Duration) Duration { return Duration(d) }
	wantPools := []Pool{
		{
			Name: "www.example.test.", Policy: PolicyFailover, TTL: 20, WhenAllDown: AllDownServeAll,
			Check: Check{
				Type: "http", Port: 18080, Path: "/healthz", Method: "GET",
				ExpectStatus: []StatusRange{{200, 200}},
				Interval:     ms(500 * time.Millisecond), Timeout: ms(400 * time.Millisecond), Rise: 2, Fall: 3,
			},
			Endpoints: []Endpoint{
				{Name: "us-east-1", Priority: 1, Weight: weightp(1), Addresses: []string{"127.0.0.11"}},
				{Name: "eu-west-1", Priority: 2, Weight: weightp(1), Addresses: []string{"127.0.0.12"}},
			},
		},
		{
			Name: "api.example.test.", Policy: PolicyWeighted, TTL: 20, WhenAllDown: AllDownServeAll,
			Check: Check{
				Type: "tcp", Port: 18080,
				Interval: ms(time.Second), Timeout: ms(500 * time.Millisecond), Rise: 2, Fall: 3,
			},
			Endpoints: []Endpoint{
				{Name: "us-east-1", Priority: 1, Weight: weightp(70), Addresses: []string{"127.0.0.11"}},
				{Name: "eu-west-1", Priority: 1, Weight: weightp(30), Addresses: []string{"127.0.0.12"}},
			},
		},
		{
			Name: "all.example.test.", Policy: PolicyMultivalue, TTL: 20, WhenAllDown: AllDownServeAll,
			Check: Check{
				Type: "http", Port: 18080, Path: "/healthz", Method: "GET",
				ExpectStatus: []StatusRange{{200, 399}},
				Interval:     ms(5 * time.Second), Timeout: ms(2 * time.Second), Rise: 2, Fall: 3,
			},
			Endpoints: []Endpoint{
				{Name: "us-east-1", Priority: 1, Weight: weightp(1), Addresses: []string{"127.0.0.11"}},
				{Name: "eu-west-1", Priority: 1, Weight: weightp(1), Addresses: []string{"127.0.0.12"}},
				{Name: "ap-south-1", Priority: 1, Weight: weightp(1), Addresses: []string{"127.0.0.13"}},
			},
		},
	}
	if diff := cmp.Diff(wantPools, s.Pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
	// The helpers other packages use find what the example holds.
	if s.ZoneFor("www.example.test.") == nil || s.Pool("API.example.test.") == nil {
		t.Errorf("ZoneFor/Pool do not find the example's names")
	}
	if got := s.Zones[0].RecordTTL(&s.Zones[0].Records[2]); got != 3600 {
		t.Errorf("RecordTTL(mail A) = %d, want 3600", got)
	}
	if got := s.Zones[0].RecordTTL(&s.Zones[0].Records[0]); got != 300 {
		t.Errorf("RecordTTL(@ TXT) = %d, want the zone's 300", got)
	}
}

func TestParseSpec_JSON(t *testing.T) {
	in := `{"zones": [{"name": "Example.TEST", "soa": {"mname": "ns1", "rname": "hostmaster"},
	  "nameservers": [{"name": "ns1", "addresses": ["127.0.0.1"]}],
	  "records": [{"name": "@", "type": "a", "values": ["198.51.100.1"]}]}],
	 "pools": [{"name": "www.example.test", "policy": "failover",
	  "check": {"type": "tcp", "port": 80, "interval": "2s"},
	  "endpoints": [{"name": "a", "addresses": ["127.0.0.11"]}]}]}`
	s := mustLoad(t, []byte(in))
	if s.Zones[0].Name != "example.test." || s.Zones[0].Records[0].Type != "A" || s.Pools[0].Name != "www.example.test." {
		t.Errorf("names not normalized: zone %q type %q pool %q", s.Zones[0].Name, s.Zones[0].Records[0].Type, s.Pools[0].Name)
	}
	if s.Pools[0].Check.Interval.D() != 2*time.Second || s.Pools[0].Check.Timeout.D() != time.Second {
		t.Errorf("interval %v timeout %v, want 2s and a default of half the interval (1s)", s.Pools[0].Check.Interval, s.Pools[0].Check.Timeout)
	}
}

func TestParseSpec_syntaxErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		line, col int
		msg       string
	}{
		{"empty input", "", 1, 1, "the spec is empty"},
		{"only a comment", "# nothing\n", 1, 1, "the spec is empty"},
		{"null document", "~\n", 1, 1, "the spec is empty"},
		{"not a mapping", "- a\n- b\n", 1, 1, "must be a mapping"},
		{"plain text", "hello world\n", 1, 1, "must be a mapping"},
		{"unclosed flow list", "zones: [\n", 2, 1, "did not find expected node content"},
		{"broken JSON", `{"zones": [}`, 1, 12, "did not find expected node content"},
		{"tab indentation", "zones:\n\t- name: x\n", 2, 1, "found character that cannot start any token"},
		{"bad indentation", "zones:\n  - name: a\n   ttl: 3\n", 3, 4, "did not find expected '-' indicator"},
		{"mapping in a scalar", "zones:\n  - name: a: b\n", 2, 12, "mapping values are not allowed"},
		{"unclosed quote", "zones:\n  - name: \"abc\n", 3, 1, "quoted scalar at line 2, column 11"},
		{"unknown top-level field", "zones: []\npool: []\n", 2, 1, `unknown field "pool"`},
		{"unknown zone field", "zones:\n  - name: a.\n    tll: 30\n", 3, 5, `zones[0]: unknown field "tll"`},
		{"unknown check field", "pools:\n  - name: a.\n    check:\n      type: http\n      intervall: 5s\n", 5, 7, `pools[0].check: unknown field "intervall"`},
		{"unknown endpoint field", "pools:\n  - endpoints:\n      - name: a\n        address: [127.0.0.1]\n", 4, 9, `pools[0].endpoints[0]: unknown field "address" (known fields: name, priority`},
		{"list where a mapping belongs", "zones:\n  - soa: [1, 2]\n", 2, 10, "zones[0].soa: want a mapping of fields, found a list"},
		{"scalar where a list belongs", "zones: example.test.\n", 1, 8, `zones: want a list, found "example.test."`},
		{"text where a number belongs", "zones:\n  - ttl: five\n", 2, 10, `zones[0].ttl: want a whole number from 0 to 4294967295, found "five"`},
		{"negative TTL", "zones:\n  - ttl: -1\n", 2, 10, `zones[0].ttl: want a whole number`},
		{"TTL above 32 bits", "zones:\n  - ttl: 4294967296\n", 2, 10, `want a whole number from 0 to 4294967295`},
		{"text where a bool belongs", "pools:\n  - endpoints:\n      - flatten: maybe\n", 3, 18, "want true or false"},
		{"list where text belongs", "zones:\n  - name: [a, b]\n", 2, 11, "zones[0].name: want text, found a list"},
		{"bad duration", "pools:\n  - check:\n      interval: soon\n", 3, 17, `pools[0].check.interval: "soon" is not a duration`},
		{"bad status", "pools:\n  - check:\n      expect_status: [200, 700]\n", 3, 28, `pools[0].check.expect_status[1]: "700" is outside 100-599`},
		{"duplicate key", "zones:\n  - name: a.\n    name: b.\n", 3, 5, `field "name" is given twice (first at line 2)`},
		{"two documents", "zones: []\n---\nzones: []\n", 2, 1, "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSpec([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseSpec accepted %q: %+v", tc.in, s)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if se.Line != tc.line || se.Column != tc.col {
				t.Errorf("position %d:%d, want %d:%d (%v)", se.Line, se.Column, tc.line, tc.col, err)
			}
			if !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", se.Msg, tc.msg)
			}
			if _, err := LoadSpec([]byte(tc.in)); !errors.As(err, &se) {
				t.Errorf("LoadSpec: %v, want the same *SyntaxError", err)
			}
		})
	}
}

func TestSyntaxError_Error(t *testing.T) {
	e := &SyntaxError{Line: 3, Column: 7, Msg: `zones[0]: unknown field "tll"`}
	if got, want := e.Error(), `line 3, column 7: zones[0]: unknown field "tll"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParseSpec_aliases checks that YAML anchors and aliases work, so a
// check can be shared between pools.
func TestParseSpec_aliases(t *testing.T) {
	in := strings.Replace(string(readExample(t)), "    check:\n      type: tcp", "    check: &tcpcheck\n      type: tcp", 1) +
		"  - name: api2.example.test.\n    policy: failover\n    check: *tcpcheck\n    endpoints:\n      - name: a\n        addresses: [127.0.0.14]\n"
	s := mustLoad(t, []byte(in))
	if got := s.Pool("api2.example.test.").Check; got.Type != "tcp" || got.Port != 18080 {
		t.Errorf("aliased check = %+v", got)
	}

	// Merge keys extend a shared mapping; explicit keys win.
	in = strings.Replace(string(readExample(t)), "    check:\n      type: tcp", "    check: &tcpcheck\n      type: tcp", 1) +
		"  - name: api2.example.test.\n    policy: failover\n    check:\n      <<: *tcpcheck\n      port: 8443\n    endpoints:\n      - name: a\n        addresses: [127.0.0.14]\n"
	s = mustLoad(t, []byte(in))
	if got := s.Pool("api2.example.test.").Check; got.Type != "tcp" || got.Port != 8443 || got.Interval.D() != time.Second {
		t.Errorf("merged check = %+v", got)
	}
	// A merge still refuses unknown fields, with their position.
	in = "zones:\n  - &z {name: a., tll: 1}\n  - <<: *z\n"
	if _, err := ParseSpec([]byte(in)); err == nil || !strings.Contains(err.Error(), `line 2, column 19: zones[0]: unknown field "tll"`) {
		t.Errorf("ParseSpec = %v, want the unknown field tll at line 2, column 19", err)
	}
	in = "pools:\n  - check:\n      <<: *x\n"
	if _, err := ParseSpec([]byte(in)); err == nil {
		t.Error("ParseSpec accepted an unknown anchor")
	}
	in = "pools:\n  - check:\n      <<: 5\n"
	if _, err := ParseSpec([]byte(in)); err == nil || !strings.Contains(err.Error(), "a merge (<<) needs a mapping") {
		t.Errorf("ParseSpec = %v, want a merge error", err)
	}
}

func TestLoadSpec_roundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"example": readExample(t),
		"full":    []byte(fullSpec),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			first := mustLoad(t, in)
			y, err := yaml.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			second := mustLoad(t, y)
			if diff := cmp.Diff(first, second, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("YAML round trip changed the spec (-first +second):\n%s\nYAML:\n%s", diff, y)
			}
			j, err := json.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			third := mustLoad(t, j)
			if diff := cmp.Diff(first, third, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("JSON round trip changed the spec (-first +third):\n%s\nJSON:\n%s", diff, j)
			}
		})
	}
}

// fullSpec uses every field, relative names and every record type.
const fullSpec = `
zones:
  - name: Example.TEST
    nameservers:
      - name: ns1
        addresses: [127.0.0.1, "::1"]
      - name: ns.other.test.
    records:
      - {name: "@", type: mx, values: ["10 mail", "20 mx.other.test."]}
      - {name: mail, type: A, values: [198.51.100.25]}
      - {name: mail, type: AAAA, values: ["2001:DB8::25"]}
      - {name: "*.dev", type: CNAME, values: [www]}
      - {name: _sip._tcp, type: SRV, ttl: 60, values: ["10 60 5060 sip", "20 0 5060 ."]}
      - {name: "@", type: CAA, values: ['0 issue "ca.example.net"', "128 iodef mailto:ops@example.test"]}
      - {name: txt, type: TXT, values: ["plain text; with spaces", '"quoted" "two"']}
      - {name: sub, type: NS, values: [ns1.sub]}
      - {name: ns1.sub, type: A, values: [198.51.100.53]}
    transfer:
      allow: [127.0.0.0/8, "::1"]
      keys: [xfr-key]
      notify: [127.0.0.2, "127.0.0.3:5353", "[::1]:53", "secondary.other.test:53"]
  - name: other.test.
    ttl: 600
    soa: {mname: ns.other.test., rname: dns.other.test., refresh: 7200, retry: 900, expire: 604800, minimum: 60}
    nameservers:
      - name: ns.other.test.
        addresses: [127.0.0.9]
pools:
  - name: www.example.test
    policy: FAILOVER
    when_all_down: serve_none
    ttl: 10
    check:
      type: https
      path: /healthz?full=1
      method: HEAD
      host: www.example.test
      headers: {X-Probe: detour}
      expect_status: [200, 3xx, "401-403"]
      expect_body_regex: "^ok"
      tls_skip_verify: true
      interval: 3s
      rise: 1
      fall: 5
      quorum: 2
    endpoints:
      - name: us-east-1
        priority: 1
        target: alb-1.us-east-1.elb.example.net
        check_url: https://127.0.0.1:8443/healthz
      - name: eu-west-1
        priority: 2
        target: ALB-2.eu-west-1.elb.example.net.
        flatten: true
        check_address: 127.0.0.12:8443
  - name: example.test.
    policy: weighted
    check: {type: dns, query: probe.example.test, query_type: aaaa, expect_rcode: nxdomain, expect_answer: "::1"}
    endpoints:
      - {name: a, weight: 0, addresses: [127.0.0.21, "::2"]}
      - {name: b, weight: 1000, addresses: [127.0.0.22]}
`

func TestLoadSpec_fullSpec(t *testing.T) {
	s := mustLoad(t, []byte(fullSpec))
	z := s.Zone("example.test.")
	if z == nil {
		t.Fatal("zone example.test. missing")
	}
	wantRecords := []Record{
		{Name: "example.test.", Type: "MX", Values: []string{"10 mail.example.test.", "20 mx.other.test."}},
		{Name: "mail.example.test.", Type: "A", Values: []string{"198.51.100.25"}},
		{Name: "mail.example.test.", Type: "AAAA", Values: []string{"2001:db8::25"}},
		{Name: "*.dev.example.test.", Type: "CNAME", Values: []string{"www.example.test."}},
		{Name: "_sip._tcp.example.test.", Type: "SRV", TTL: u32(60), Values: []string{"10 60 5060 sip.example.test.", "20 0 5060 ."}},
		{Name: "example.test.", Type: "CAA", Values: []string{`0 issue "ca.example.net"`, `128 iodef "mailto:ops@example.test"`}},
		{Name: "txt.example.test.", Type: "TXT", Values: []string{"plain text; with spaces", `"quoted" "two"`}},
		{Name: "sub.example.test.", Type: "NS", Values: []string{"ns1.sub.example.test."}},
		{Name: "ns1.sub.example.test.", Type: "A", Values: []string{"198.51.100.53"}},
	}
	if diff := cmp.Diff(wantRecords, z.Records); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	wantSOA := SOA{MName: "ns1.example.test.", RName: "hostmaster.example.test.", Refresh: DefaultSOARefresh, Retry: DefaultSOARetry, Expire: DefaultSOAExpire, Minimum: DefaultSOAMinimum}
	if diff := cmp.Diff(wantSOA, z.SOA); diff != "" {
		t.Errorf("default SOA (-want +got):\n%s", diff)
	}
	if z.TTL != DefaultZoneTTL {
		t.Errorf("zone TTL %d, want default %d", z.TTL, DefaultZoneTTL)
	}
	wantTransfer := &Transfer{
		Allow:  []string{"127.0.0.0/8", "::1"},
		Keys:   []string{"xfr-key."},
		Notify: []string{"127.0.0.2:53", "127.0.0.3:5353", "[::1]:53", "secondary.other.test:53"},
	}
	if diff := cmp.Diff(wantTransfer, z.Transfer); diff != "" {
		t.Errorf("transfer (-want +got):\n%s", diff)
	}
	www := s.Pool("www.example.test.")
	if www.Policy != PolicyFailover || www.Check.Port != 443 || www.Endpoints[0].Target != "alb-1.us-east-1.elb.example.net." ||
		www.Endpoints[1].Target != "alb-2.eu-west-1.elb.example.net." || www.Check.Timeout.D() != 1500*time.Millisecond {
		t.Errorf("www pool not normalized as documented: %+v", www)
	}
	apex := s.Pool("example.test.")
	if c := apex.Check; c.Port != 53 || c.Query != "probe.example.test." || c.QueryType != "AAAA" || c.ExpectRcode != "NXDOMAIN" || c.Method != "" || c.Path != "" {
		t.Errorf("dns check not normalized as documented: %+v", c)
	}
}

func TestNormalize_idempotent(t *testing.T) {
	for name, in := range map[string]string{"example": string(readExample(t)), "full": fullSpec, "invalid": invalidSpec} {
		t.Run(name, func(t *testing.T) {
			s, err := ParseSpec([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			s.Normalize()
			once, err := yaml.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			s.Normalize()
			twice, err := yaml.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(once), string(twice)); diff != "" {
				t.Errorf("second Normalize changed the spec (-once +twice):\n%s", diff)
			}
		})
	}
	var nilSpec *Spec
	nilSpec.Normalize() // must not panic
}

func TestNormalize_defaultsByCheckType(t *testing.T) {
	tests := []struct {
		typ        string
		wantPort   int
		wantMethod string
		wantStatus []StatusRange
	}{
		{"http", 80, "GET", []StatusRange{{200, 399}}},
		{"HTTPS", 443, "GET", []StatusRange{{200, 399}}},
		{"tcp", 0, "", nil},
		{"dns", 53, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			s := &Spec{Pools: []Pool{{Name: "www.example.test.", Check: Check{Type: tc.typ}}}}
			s.Normalize()
			c := s.Pools[0].Check
			if c.Port != tc.wantPort || c.Method != tc.wantMethod || !cmp.Equal(c.ExpectStatus, tc.wantStatus) {
				t.Errorf("port %d method %q status %v, want %d %q %v", c.Port, c.Method, c.ExpectStatus, tc.wantPort, tc.wantMethod, tc.wantStatus)
			}
			if c.Interval != DefaultCheckInterval || c.Timeout != DefaultCheckTimeout || c.Rise != DefaultRise || c.Fall != DefaultFall {
				t.Errorf("timing defaults %v/%v/%d/%d", c.Interval, c.Timeout, c.Rise, c.Fall)
			}
		})
	}
}

func FuzzLoadSpec(f *testing.F) {
	f.Add(readExample(f))
	f.Add([]byte(fullSpec))
	f.Add([]byte(invalidSpec))
	f.Add([]byte("zones: [\n"))
	f.Add([]byte(`{"zones": [{"name": "a."}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadSpec(data)
		if err != nil {
			var se *SyntaxError
			var ve *ValidationError
			switch {
			case errors.As(err, &se):
				if se.Line < 0 || se.Column < 0 || se.Msg == "" {
					t.Fatalf("malformed SyntaxError %+v", se)
				}
			case errors.As(err, &ve):
				if len(ve.Problems) == 0 {
					t.Fatal("ValidationError without problems")
				}
			default:
				t.Fatalf("error %v is %T, want *SyntaxError or *ValidationError", err, err)
			}
			// Normalize and Validate must cope with whatever parsed, and
			// Normalize must be idempotent on it.
			if p, perr := ParseSpec(data); perr == nil {
				p.Normalize()
				once, err := yaml.Marshal(p)
				if err != nil {
					t.Fatalf("marshal a normalized spec: %v", err)
				}
				p.Normalize()
				twice, err := yaml.Marshal(p)
				if err != nil {
					t.Fatalf("marshal a normalized spec: %v", err)
				}
				if string(once) != string(twice) {
					t.Fatalf("Normalize is not idempotent:\n%s", cmp.Diff(string(once), string(twice)))
				}
				_ = Validate(p)
			}
			return
		}
		// A loaded spec survives a round trip and a second Normalize.
		y, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("marshal a loaded spec: %v", err)
		}
		again, err := LoadSpec(y)
		if err != nil {
			t.Fatalf("reload of a loaded spec failed: %v\n%s", err, y)
		}
		if diff := cmp.Diff(s, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the spec:\n%s", diff)
		}
		if d := Diff(s, again); len(d) != 0 {
			t.Fatalf("Diff of equal specs: %v", d)
		}
	})
}

// TestParseSpec_aliasBomb checks that aliases that fan out (every zone
// sharing a record list whose records share a value list) are refused
// instead of being expanded: 300 x 300 x 300 values.
func TestParseSpec_aliasBomb(t *testing.T) {
	const k = 300
	var b strings.Builder
	b.WriteString("zones:\n  - name: a.\n    records: &r\n")
	for i := 0; i < k; i++ {
		if i == 0 {
			b.WriteString("      - {name: x, type: TXT, values: &v [")
			for j := 0; j < k; j++ {
				fmt.Fprintf(&b, "v%d,", j)
			}
			b.WriteString("]}\n")
			continue
		}
		b.WriteString("      - {name: x, type: TXT, values: *v}\n")
	}
	for i := 1; i < k; i++ {
		b.WriteString("  - {name: a., records: *r}\n")
	}
	_, err := ParseSpec([]byte(b.String()))
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "aliasing") {
		t.Fatalf("err = %v, want a *SyntaxError about aliasing", err)
	}

	// Merges of merges: each level merges the previous one 8 times.
	b.Reset()
	b.WriteString("pools:\n  - check: &m0 {type: tcp}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "  - check: &m%d {<<: [*m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d]}\n", i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	done := make(chan error, 1)
	go func() { _, err := ParseSpec([]byte(b.String())); done <- err }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ParseSpec did not return within 20s on nested merges (it should take milliseconds)")
	}
}

func BenchmarkLoadSpec(b *testing.B) {
	data := readExample(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := LoadSpec(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDocsSpecExamples loads every YAML example of docs/spec.md, so the
// documentation cannot drift from what LoadSpec accepts.
func TestDocsSpecExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("docs/spec.md has no yaml example")
	}
	for i, blk := range blocks {
		end := strings.Index(blk, "```")
		if end < 0 {
			t.Fatalf("example %d is not closed", i)
		}
		if _, err := LoadSpec([]byte(blk[:end])); err != nil {
			t.Errorf("example %d of docs/spec.md: %v", i, err)
		}
	}
}

// BenchmarkLoadSpec_10000Pools loads a spec of 10,000 pools of 3 endpoints,
// the size the cluster's snapshot benchmarks use.
func BenchmarkLoadSpec_10000Pools(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("zones:\n  - name: example.test.\n    nameservers: [{name: ns1, addresses: [127.0.0.1]}]\npools:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "  - name: p%d.example.test.\n    policy: failover\n    check: {type: http, port: 18080, path: /healthz}\n    endpoints:\n", i)
		for j := 0; j < 3; j++ {
			fmt.Fprintf(&sb, "      - {name: r%d, priority: %d, addresses: [127.0.%d.%d]}\n", j, j+1, i%250, j+1)
		}
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := LoadSpec(data); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleLoadSpec() {
	_, err := LoadSpec([]byte(`
zones:
  - name: example.test.
    nameservers:
      - name: ns1
        addresses: [127.0.0.1]
    records:
      - {name: docs, type: CNAME, values: [www]}
      - {name: docs, type: TXT, values: ["hello"]}
pools:
  - name: www.example.test
    policy: weighted
    check: {type: http, interval: 1s, timeout: 1s}
    endpoints:
      - {name: us-east-1, weight: 0, addresses: [127.0.0.11]}
      - {name: eu-west-1, weight: 0, addresses: ["1.2.3"]}
`))
	fmt.Println(err)
	// Output:
	// zones[0].records[0].name: "docs.example.test." has a CNAME and also TXT at zones[0].records[1]; a CNAME owner holds no other record
	// pools[0].check.timeout: 1s must be below the interval (1s)
	// pools[0].endpoints[1].addresses[0]: "1.2.3" is not an IP address
	// pools[0].endpoints: a weighted pool needs at least one endpoint with a weight above 0
}

func ExampleParseSpec() {
	_, err := ParseSpec([]byte("zones:\n  - name: example.test.\n    tll: 300\n"))
	fmt.Println(err)
	// Output:
	// line 3, column 5: zones[0]: unknown field "tll" (known fields: name, ttl, soa, nameservers, records, transfer)
}
