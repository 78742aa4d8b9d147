package policy

import (
	"strings"
	"testing"
)

func TestAbsName(t *testing.T) {
	tests := []struct{ name, origin, want string }{
		{"www", "example.test.", "www.example.test."},
		{"@", "Example.Test.", "example.test."},
		{"*.dev", "example.test.", "*.dev.example.test."},
		{"WWW.Example.TEST.", "example.test.", "www.example.test."},
		{"mail.example.test", "example.test.", "mail.example.test.example.test."}, // as in a zone file
		{"", "example.test.", ""},
		{"www", "", "www"},
		{"www", ".", "www."},
	}
	for _, tc := range tests {
		if got := AbsName(tc.name, tc.origin); got != tc.want {
			t.Errorf("AbsName(%q, %q) = %q, want %q", tc.name, tc.origin, got, tc.want)
		}
	}
	if got := FQDN("WWW.example.test"); got != "www.example.test." {
		t.Errorf("FQDN = %q", got)
	}
	if got := FQDN(""); got != "" {
		t.Errorf("FQDN(\"\") = %q, want empty", got)
	}
}

func TestValidName(t *testing.T) {
	l63 := strings.Repeat("a", 63)
	// 3 labels of 63 and one of 61: 4*1 + 63*3 + 61 + 1 = 255 octets.
	max := l63 + "." + l63 + "." + l63 + "." + strings.Repeat("b", 61) + "."
	tests := []struct {
		name    string
		wantErr string
	}{
		{"www.example.test.", ""},
		{"www", ""},
		{"_sip._tcp.example.test.", ""},
		{"*.example.test.", ""},
		{"*", ""},
		{"xn--bcher-kva.example.", ""},
		{"UPPER.case.", ""},
		{".", ""},
		{"@", ""},
		{l63 + ".test.", ""},
		{max, ""},
		{"", "empty"},
		{"a." + max, "257 octets long"},
		{l63 + "a.test.", "label of 64 characters"},
		{"a..b.", "empty label"},
		{".a.", "empty label"},
		{"a.*.b.", "not the leftmost"},
		{"*a.b.", "the character '*'"},
		{"a b.", "the character ' '"},
		{"a/b.", "the character '/'"},
		{`a\.b.`, `the character '\\'`},
		{"-a.b.", "starts or ends with '-'"},
		{"a-.b.", "starts or ends with '-'"},
		{"é.test.", "the character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidName(tc.name), tc.wantErr)
		})
	}
	if !IsWildcard("*.example.test.") || IsWildcard("a.*.test.") || IsWildcard("www.") {
		t.Error("IsWildcard is wrong")
	}
}
