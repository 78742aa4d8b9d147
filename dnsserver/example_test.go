package dnsserver

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// TestServer_ExampleSpecFile serves the example spec of issue 2 as the
// cluster does: loaded (normalized and validated) by policy.
func TestServer_ExampleSpecFile(t *testing.T) {
	data, err := os.ReadFile("../policy/testdata/example.yaml")
	if err != nil {
		t.Fatalf("read example spec: %v", err)
	}
	spec, err := policy.LoadSpec(data)
	if err != nil {
		t.Fatalf("load example spec: %v", err)
	}
	s := startServer(t, newTestSource(exampleState(spec, 3)), Config{})
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"example.test.", dns.TypeTXT, dns.RcodeSuccess, lines(`example.test. 300 IN TXT "v=spf1 -all"`)},
		{"example.test.", dns.TypeMX, dns.RcodeSuccess, lines("example.test. 300 IN MX 10 mail.example.test.")},
		{"mail.example.test.", dns.TypeA, dns.RcodeSuccess, lines("mail.example.test. 3600 IN A 198.51.100.25")},
		{"docs.example.test.", dns.TypeA, dns.RcodeSuccess, lines("docs.example.test. 300 IN CNAME www.example.test.", "www.example.test. 20 IN A 127.0.0.11")},
		{"all.example.test.", dns.TypeA, dns.RcodeSuccess, lines("all.example.test. 20 IN A 127.0.0.11", "all.example.test. 20 IN A 127.0.0.12", "all.example.test. 20 IN A 127.0.0.13")},
		{"example.test.", dns.TypeSOA, dns.RcodeSuccess, lines("example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 3 3600 600 1209600 30")},
		{"nope.example.test.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(network+": "+tc.name+" "+dns.TypeToString[tc.qtype], func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.name, tc.qtype)
				r := exchange(t, s, network, m)
				if r.Rcode != tc.rcode || !r.Authoritative {
					t.Errorf("rcode %s AA %v, want %s with AA", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.rcode])
				}
				if diff := cmp.Diff(tc.want, rrLines(r.Answer)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			})
		}
	}
}
