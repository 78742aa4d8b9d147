package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record types that a spec may hold in a zone's records.
const (
	TypeA     = "A"
	TypeAAAA  = "AAAA"
	TypeCNAME = "CNAME"
	TypeMX    = "MX"
	TypeTXT   = "TXT"
	TypeNS    = "NS"
	TypeSRV   = "SRV"
	TypeCAA   = "CAA"
)

// RecordTypes returns the record types a spec may hold, in a fixed order.
// The slice is the caller's.
func RecordTypes() []string {
	return []string{TypeA, TypeAAAA, TypeCNAME, TypeMX, TypeTXT, TypeNS, TypeSRV, TypeCAA}
}

// The parsers below read one value of Record.Values, as written in a spec
// (zone-file presentation format), and return its parts. They check syntax
// only: a host name they return is as written (it may be relative, or "@");
// after Spec.Normalize every name in a value is absolute and lower-case.
// The DNS server and validation share them, so what validates is exactly
// what can be served.

// ParseA reads the value of an A record: an IPv4 address.
func ParseA(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", v)
	}
	return a, nil
}

// ParseAAAA reads the value of an AAAA record: an IPv6 address (an
// IPv4-mapped address such as ::ffff:198.51.100.1 is allowed; a zone such
// as %eth0 is not).
func ParseAAAA(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv6 address", v)
	}
	return a, nil
}

// ParseHost reads a value that is a single host name (CNAME, NS): a valid
// name that is not a wildcard and not the root.
func ParseHost(v string) (string, error) {
	h := strings.TrimSpace(v)
	if strings.ContainsAny(h, " \t") {
		return "", fmt.Errorf("%q is not a single host name", v)
	}
	if err := checkHost(h); err != nil {
		return "", err
	}
	return h, nil
}

// ParseMX reads the value of an MX record, "preference host"
// ("10 mail.example.test."). The host "." (null MX, RFC 7505) is allowed.
func ParseMX(v string) (pref uint16, host string, err error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, "", fmt.Errorf("%q is not an MX value: want \"preference host\" like \"10 mail.example.test.\"", v)
	}
	p, err := parseUint16(f[0], "preference")
	if err != nil {
		return 0, "", fmt.Errorf("%q: %w", v, err)
	}
	if f[1] != "." {
		if err := checkHost(f[1]); err != nil {
			return 0, "", fmt.Errorf("%q: %w", v, err)
		}
	}
	return p, f[1], nil
}

// ParseSRV reads the value of an SRV record, "priority weight port target"
// ("10 60 5060 sip.example.test."). The target "." (no service) is allowed.
func ParseSRV(v string) (priority, weight, port uint16, target string, err error) {
	f := strings.Fields(v)
	if len(f) != 4 {
		return 0, 0, 0, "", fmt.Errorf("%q is not an SRV value: want \"priority weight port target\" like \"10 60 5060 sip.example.test.\"", v)
	}
	if priority, err = parseUint16(f[0], "priority"); err != nil {
		return 0, 0, 0, "", fmt.Errorf("%q: %w", v, err)
	}
	if weight, err = parseUint16(f[1], "weight"); err != nil {
		return 0, 0, 0, "", fmt.Errorf("%q: %w", v, err)
	}
	if port, err = parseUint16(f[2], "port"); err != nil {
		return 0, 0, 0, "", fmt.Errorf("%q: %w", v, err)
	}
	if f[3] != "." {
		if err := checkHost(f[3]); err != nil {
			return 0, 0, 0, "", fmt.Errorf("%q: %w", v, err)
		}
	}
	return priority, weight, port, f[3], nil
}

// ParseCAA reads the value of a CAA record, "flags tag value"
// (`0 issue "ca.example.net"`, RFC 8659). flags is 0..255, tag is 1 to 15
// letters and digits, and value is a quoted string (with \" and \\
// escapes) or a single unquoted word.
func ParseCAA(v string) (flags uint8, tag, value string, err error) {
	s := strings.TrimSpace(v)
	fl, rest, ok := cutSpace(s)
	if !ok {
		return 0, "", "", fmt.Errorf("%q is not a CAA value: want `flags tag value` like `0 issue \"ca.example.net\"`", v)
	}
	n, err := strconv.ParseUint(fl, 10, 8)
	if err != nil {
		return 0, "", "", fmt.Errorf("%q: flags %q is not a number from 0 to 255", v, fl)
	}
	tag, rest, ok = cutSpace(rest)
	if !ok {
		return 0, "", "", fmt.Errorf("%q is not a CAA value: want `flags tag value` like `0 issue \"ca.example.net\"`", v)
	}
	if len(tag) > 15 {
		return 0, "", "", fmt.Errorf("%q: tag %q is longer than 15 characters", v, tag)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return 0, "", "", fmt.Errorf("%q: tag %q may hold only letters and digits", v, tag)
		}
	}
	if strings.HasPrefix(rest, `"`) {
		strs, err := parseQuoted(rest)
		if err != nil {
			return 0, "", "", fmt.Errorf("%q: %w", v, err)
		}
		if len(strs) != 1 {
			return 0, "", "", fmt.Errorf("%q: the value must be one quoted string", v)
		}
		value = strs[0]
	} else {
		if strings.ContainsAny(rest, " \t\"") {
			return 0, "", "", fmt.Errorf("%q: a value with spaces or quotes must be quoted", v)
		}
		value = rest
	}
	return uint8(n), tag, value, nil
}

// FormatCAA writes a CAA value in the form ParseCAA reads, always quoting
// the value.
func FormatCAA(flags uint8, tag, value string) string {
	return fmt.Sprintf("%d %s %s", flags, tag, quoteTXT(value))
}

// ParseTXT reads the value of a TXT record into its character strings.
// A value that starts with a double quote is read as in a zone file: one
// or more quoted strings separated by spaces, with \" \\ and \DDD escapes,
// each at most 255 octets. Any other value is the text itself, taken
// literally and cut into strings of 255 octets ("v=spf1 -all" is one
// string of 11 octets, not two).
func ParseTXT(v string) ([]string, error) {
	if strings.HasPrefix(strings.TrimSpace(v), `"`) {
		strs, err := parseQuoted(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", v, err)
		}
		return strs, nil
	}
	if len(v) == 0 {
		return []string{""}, nil
	}
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v), nil
}

// parseQuoted reads one or more quoted strings separated by blanks.
func parseQuoted(s string) ([]string, error) {
	var out []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		if s[i] != '"' {
			return nil, fmt.Errorf("text after a quoted string must be another quoted string, found %q", s[i:])
		}
		i++
		var b strings.Builder
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '"' {
				closed = true
				i++
				break
			}
			if c == '\\' {
				if i+1 >= len(s) {
					return nil, errors.New("the text ends in a lone backslash")
				}
				if isDigit(s[i+1]) {
					if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
						return nil, errors.New(`a \DDD escape needs three digits`)
					}
					n, _ := strconv.Atoi(s[i+1 : i+4])
					if n > 255 {
						return nil, fmt.Errorf(`the escape \%s is above 255`, s[i+1:i+4])
					}
					b.WriteByte(byte(n))
					i += 4
					continue
				}
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		if !closed {
			return nil, errors.New("a quoted string is not closed")
		}
		if b.Len() > 255 {
			return nil, fmt.Errorf("a quoted string is %d octets long; the limit is 255", b.Len())
		}
		out = append(out, b.String())
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			return nil, fmt.Errorf("a quoted string must be followed by a space, found %q", s[i:])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no quoted string")
	}
	return out, nil
}

// quoteTXT quotes s as one zone-file character string.
func quoteTXT(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// cutSpace splits s at its first run of blanks.
func cutSpace(s string) (head, rest string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}

func parseUint16(s, what string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number from 0 to 65535", what, s)
	}
	return uint16(n), nil
}

// checkHost checks a host name in a value: valid, not a wildcard, not the
// root.
func checkHost(h string) error {
	if h == "." {
		return errors.New(`the root "." is not a host name here`)
	}
	if err := ValidName(h); err != nil {
		return err
	}
	if IsWildcard(h) {
		return fmt.Errorf("%q is a wildcard, not a host name", h)
	}
	return nil
}

// normalizeValue rewrites one record value into canonical form: names
// resolved against the zone origin and lower-cased, addresses in their
// canonical spelling, CAA values quoted. A value that does not parse is
// returned unchanged for validation to report.
func normalizeValue(typ, v, origin string) string {
	switch typ {
	case TypeA:
		if a, err := ParseA(v); err == nil {
			return a.String()
		}
	case TypeAAAA:
		if a, err := ParseAAAA(v); err == nil {
			return a.String()
		}
	case TypeCNAME, TypeNS:
		if h, err := ParseHost(v); err == nil {
			return AbsName(h, origin)
		}
	case TypeMX:
		if p, h, err := ParseMX(v); err == nil {
			if h != "." {
				h = AbsName(h, origin)
			}
			return fmt.Sprintf("%d %s", p, h)
		}
	case TypeSRV:
		if pr, w, port, t, err := ParseSRV(v); err == nil {
			if t != "." {
				t = AbsName(t, origin)
			}
			return fmt.Sprintf("%d %d %d %s", pr, w, port, t)
		}
	case TypeCAA:
		if f, tag, val, err := ParseCAA(v); err == nil {
			return FormatCAA(f, strings.ToLower(tag), val)
		}
	}
	return v
}

// checkValue checks one record value of type typ.
func checkValue(typ, v string) error {
	var err error
	switch typ {
	case TypeA:
		_, err = ParseA(v)
	case TypeAAAA:
		_, err = ParseAAAA(v)
	case TypeCNAME, TypeNS:
		_, err = ParseHost(v)
	case TypeMX:
		_, _, err = ParseMX(v)
	case TypeSRV:
		_, _, _, _, err = ParseSRV(v)
	case TypeCAA:
		_, _, _, err = ParseCAA(v)
	case TypeTXT:
		_, err = ParseTXT(v)
	}
	return err
}
