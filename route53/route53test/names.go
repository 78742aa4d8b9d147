package route53test

import (
	"fmt"
	"strings"
)

// domainName is a parsed DNS name: its labels as raw lower-cased bytes,
// leftmost first. The root has no labels.
type domainName struct {
	labels []string
}

// nameError says why a name could not be parsed; code is the Route 53 style
// problem name (DomainLabelEmpty, DomainLabelTooLong, DomainNameTooLong).
type nameError struct {
	code, detail, name string
}

func (e *nameError) Error() string {
	return fmt.Sprintf("FATAL problem: %s (%s) encountered with '%s'", e.code, e.detail, e.name)
}

// parseName parses a name as Route 53 accepts it: case-insensitive, with or
// without the trailing dot, with characters optionally written as \ooo octal
// escapes (DomainNameFormat). A backslash before any other character takes that
// character literally.
func parseName(s string) (domainName, error) {
	if s == "" {
		return domainName{}, &nameError{"DomainLabelEmpty", "Domain label is empty", s}
	}
	if s == "." {
		return domainName{}, nil
	}
	var (
		labels []string
		cur    []byte
		wire   = 1
	)
	flush := func() error {
		if len(cur) == 0 {
			return &nameError{"DomainLabelEmpty", "Domain label is empty", s}
		}
		if len(cur) > 63 {
			return &nameError{"DomainLabelTooLong", "Domain label is too long", s}
		}
		labels = append(labels, string(cur))
		wire += len(cur) + 1
		cur = cur[:0]
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]):
			v := int(s[i+1]-'0')*64 + int(s[i+2]-'0')*8 + int(s[i+3]-'0')
			if v > 255 {
				return domainName{}, &nameError{"InvalidEscape", "Escape code is out of range", s}
			}
			cur = append(cur, lower(byte(v)))
			i += 3
		case c == '\\' && i+1 < len(s):
			cur = append(cur, lower(s[i+1]))
			i++
		case c == '.':
			if err := flush(); err != nil {
				return domainName{}, err
			}
		default:
			cur = append(cur, lower(c))
		}
	}
	if len(cur) > 0 {
		if err := flush(); err != nil {
			return domainName{}, err
		}
	}
	if wire > 255 {
		return domainName{}, &nameError{"DomainNameTooLong", "Domain name is too long", s}
	}
	return domainName{labels: labels}, nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// String returns the name as Route 53 returns it: lower case, fully
// qualified, and every byte other than a-z, 0-9, '-' and '_' written as a
// \ooo octal escape (so "*.example.com" is "\052.example.com.").
func (n domainName) String() string {
	if len(n.labels) == 0 {
		return "."
	}
	var b strings.Builder
	for _, l := range n.labels {
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "\\%03o", c)
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}

// sortKey is the key Route 53 lists by: the labels reversed and joined with
// dots, with the trailing dot, compared byte by byte ("com.example.www.").
// Guess: the comparison uses the raw (unescaped) bytes, so that characters
// sorting before '.' (such as '-' and '*') behave as the API reference's note
// on the trailing dot describes.
func (n domainName) sortKey() string {
	var b strings.Builder
	for i := len(n.labels) - 1; i >= 0; i-- {
		b.WriteString(n.labels[i])
		b.WriteByte('.')
	}
	return b.String()
}

// within reports whether n is at or below zone.
func (n domainName) within(zone domainName) bool {
	if len(n.labels) < len(zone.labels) {
		return false
	}
	off := len(n.labels) - len(zone.labels)
	for i, l := range zone.labels {
		if n.labels[off+i] != l {
			return false
		}
	}
	return true
}

// canonicalName returns s in Route 53's returned form, or an error.
func canonicalName(s string) (string, error) {
	n, err := parseName(s)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// mustSortKey returns the sort key of a name already in canonical form.
func mustSortKey(canonical string) string {
	n, err := parseName(canonical)
	if err != nil {
		// Canonical names were parsed before they were stored.
		panic(fmt.Sprintf("route53test: stored name %q does not parse: %v", canonical, err))
	}
	return n.sortKey()
}

// bareID strips everything up to the last '/', as the SDK does for path IDs,
// so "/hostedzone/Z1" and "Z1" name the same zone.
func bareID(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}
