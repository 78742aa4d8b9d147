package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMX(t *testing.T) {
	tests := []struct {
		in       string
		wantPref uint16
		wantHost string
		wantErr  string
	}{
		{"10 mail.example.test.", 10, "mail.example.test.", ""},
		{"  0   .  ", 0, ".", ""},
		{"65535 mail", 65535, "mail", ""},
		{"mail.example.test.", 0, "", "is not an MX value"},
		{"10 mail extra", 0, "", "is not an MX value"},
		{"-1 mail", 0, "", `preference "-1" is not a number`},
		{"65536 mail", 0, "", `preference "65536" is not a number`},
		{"10 *.example.test.", 0, "", "is a wildcard"},
		{"10 ma!l", 0, "", "has the character '!'"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			pref, host, err := ParseMX(tc.in)
			checkErr(t, err, tc.wantErr)
			if err == nil && (pref != tc.wantPref || host != tc.wantHost) {
				t.Errorf("ParseMX(%q) = %d %q, want %d %q", tc.in, pref, host, tc.wantPref, tc.wantHost)
			}
		})
	}
}

func TestParseSRV(t *testing.T) {
	tests := []struct {
		in                 string
		prio, weight, port uint16
		target, wantErr    string
	}{
		{"10 60 5060 sip.example.test.", 10, 60, 5060, "sip.example.test.", ""},
		{"0 0 0 .", 0, 0, 0, ".", ""},
		{"10 60 sip", 0, 0, 0, "", "is not an SRV value"},
		{"10 60 70000 sip", 0, 0, 0, "", `port "70000" is not a number`},
		{"x 60 80 sip", 0, 0, 0, "", `priority "x" is not a number`},
		{"1 -2 80 sip", 0, 0, 0, "", `weight "-2" is not a number`},
		{"1 2 80 a..b", 0, 0, 0, "", "empty label"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, w, port, target, err := ParseSRV(tc.in)
			checkErr(t, err, tc.wantErr)
			if err == nil && (p != tc.prio || w != tc.weight || port != tc.port || target != tc.target) {
				t.Errorf("ParseSRV(%q) = %d %d %d %q", tc.in, p, w, port, target)
			}
		})
	}
}

func TestParseCAA(t *testing.T) {
	tests := []struct {
		in                  string
		flags               uint8
		tag, value, wantErr string
	}{
		{`0 issue "ca.example.net"`, 0, "issue", "ca.example.net", ""},
		{`128 iodef mailto:ops@example.test`, 128, "iodef", "mailto:ops@example.test", ""},
		{`0 issue ""`, 0, "issue", "", ""},
		{`0 issue "a \"quoted\" \\ value"`, 0, "issue", `a "quoted" \ value`, ""},
		{`0 issue "ca.example.net; account=1"`, 0, "issue", "ca.example.net; account=1", ""},
		{`0 issue`, 0, "", "", "is not a CAA value"},
		{`256 issue "x"`, 0, "", "", `flags "256"`},
		{`0 is-sue "x"`, 0, "", "", "may hold only letters and digits"},
		{`0 abcdefghijklmnop "x"`, 0, "", "", "longer than 15"},
		{`0 issue "x" "y"`, 0, "", "", "must be one quoted string"},
		{`0 issue "x`, 0, "", "", "not closed"},
		{`0 issue a b`, 0, "", "", "must be quoted"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			f, tag, val, err := ParseCAA(tc.in)
			checkErr(t, err, tc.wantErr)
			if err == nil && (f != tc.flags || tag != tc.tag || val != tc.value) {
				t.Errorf("ParseCAA(%q) = %d %q %q", tc.in, f, tag, val)
			}
			if err == nil {
				// FormatCAA writes what ParseCAA reads back.
				f2, tag2, val2, err := ParseCAA(FormatCAA(f, tag, val))
				if err != nil || f2 != f || tag2 != tag || val2 != val {
					t.Errorf("FormatCAA round trip: %d %q %q %v", f2, tag2, val2, err)
				}
			}
		})
	}
}

func TestParseTXT(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, in string
		want     []string
		wantErr  string
	}{
		{"plain text is one string", "v=spf1 -all", []string{"v=spf1 -all"}, ""},
		{"empty text", "", []string{""}, ""},
		{"long plain text is cut at 255", long, []string{long[:255], long[255:]}, ""},
		{"quoted strings", `"v=spf1" "-all"`, []string{"v=spf1", "-all"}, ""},
		{"escapes", `"a\"b" "c\\d" "\065\066"`, []string{`a"b`, `c\d`, "AB"}, ""},
		{"quoted empty", `""`, []string{""}, ""},
		{"unclosed", `"abc`, nil, "not closed"},
		{"text after a quoted string", `"abc" def`, nil, "must be another quoted string"},
		{"no space between strings", `"a""b"`, nil, "must be followed by a space"},
		{"short decimal escape", `"\06"`, nil, "needs three digits"},
		{"decimal escape above 255", `"\300"`, nil, "above 255"},
		{"quoted string over 255", `"` + long + `"`, nil, "the limit is 255"},
		{"lone backslash", `"abc\`, nil, "lone backslash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTXT(tc.in)
			checkErr(t, err, tc.wantErr)
			if err == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ParseTXT(%q) (-want +got):\n%s", tc.in, diff)
				}
			}
		})
	}
}

func TestParseAddresses(t *testing.T) {
	if a, err := ParseA("198.51.100.1"); err != nil || a.String() != "198.51.100.1" {
		t.Errorf("ParseA: %v %v", a, err)
	}
	for _, bad := range []string{"1.2.3", "::1", "198.51.100.256", "", "::ffff:1.2.3.4"} {
		if _, err := ParseA(bad); err == nil {
			t.Errorf("ParseA(%q) accepted", bad)
		}
	}
	if a, err := ParseAAAA("2001:DB8::1"); err != nil || a.String() != "2001:db8::1" {
		t.Errorf("ParseAAAA: %v %v", a, err)
	}
	for _, bad := range []string{"198.51.100.1", "fe80::1%eth0", "2001:db8::g"} {
		if _, err := ParseAAAA(bad); err == nil {
			t.Errorf("ParseAAAA(%q) accepted", bad)
		}
	}
	if _, err := ParseHost("www other"); err == nil {
		t.Error("ParseHost accepted two names")
	}
	if _, err := ParseHost("."); err == nil {
		t.Error("ParseHost accepted the root")
	}
}

func TestNormalizeValue(t *testing.T) {
	tests := []struct {
		typ, in, want string
	}{
		{TypeA, " 198.51.100.1 ", "198.51.100.1"},
		{TypeAAAA, "2001:0DB8::0001", "2001:db8::1"},
		{TypeCNAME, "WWW", "www.example.test."},
		{TypeCNAME, "@", "example.test."},
		{TypeCNAME, "alb.example.net.", "alb.example.net."},
		{TypeNS, "ns1.sub", "ns1.sub.example.test."},
		{TypeMX, "10   Mail", "10 mail.example.test."},
		{TypeMX, "0 .", "0 ."},
		{TypeSRV, "1 2 3 sip", "1 2 3 sip.example.test."},
		{TypeCAA, "0 ISSUE ca.example.net", `0 issue "ca.example.net"`},
		{TypeTXT, "Keep Case", "Keep Case"},
		{TypeA, "not an address", "not an address"},
	}
	for _, tc := range tests {
		if got := normalizeValue(tc.typ, tc.in, "example.test."); got != tc.want {
			t.Errorf("normalizeValue(%s, %q) = %q, want %q", tc.typ, tc.in, got, tc.want)
		}
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
