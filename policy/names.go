package policy

import (
	"errors"
	"fmt"
	"strings"
)

// CanonicalName lower-cases name (ASCII only) and adds the trailing dot.
func CanonicalName(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// InZone reports whether the absolute name lies at or below the absolute
// zone apex, comparing case-insensitively label by label.
func InZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if len(name) < len(zone) {
		return false
	}
	tail := name[len(name)-len(zone):]
	if !equalFold(tail, zone) {
		return false
	}
	return len(name) == len(zone) || name[len(name)-len(zone)-1] == '.'
}

// ZoneFor returns the most specific zone of s that holds the absolute name,
// or nil when none does.
func (s *Spec) ZoneFor(name string) *Zone {
	if s == nil {
		return nil
	}
	var best *Zone
	for i := range s.Zones {
		z := &s.Zones[i]
		if InZone(name, z.Name) && (best == nil || len(z.Name) > len(best.Name)) {
			best = z
		}
	}
	return best
}

// AbsName resolves name the way a zone file does with the origin origin:
// "@" is the origin itself, a name ending in a dot is already absolute, and
// any other name is relative to origin. The result is lower-cased (ASCII).
// An empty name stays empty, and with an empty origin a relative name is
// returned lower-cased but still relative, so that validation can report
// it rather than have it silently placed somewhere.
func AbsName(name, origin string) string {
	switch {
	case name == "":
		return ""
	case name == "@":
		return strings.ToLower(origin)
	case strings.HasSuffix(name, "."):
		return strings.ToLower(name)
	case origin == "":
		return strings.ToLower(name)
	case origin == ".":
		return strings.ToLower(name) + "."
	default:
		return strings.ToLower(name) + "." + strings.ToLower(origin)
	}
}

// FQDN returns name as a fully qualified, lower-case name: the trailing dot
// is optional in the input and never means "relative". Pool names and
// endpoint targets are read this way. An empty name stays empty.
func FQDN(name string) string {
	if name == "" {
		return ""
	}
	return CanonicalName(name)
}

// Limits of DNS names (RFC 1035 section 2.3.4).
const (
	// MaxLabelLen is the longest label, in octets.
	MaxLabelLen = 63
	// MaxNameLen is the longest name in wire format, in octets.
	MaxNameLen = 255
)

// ValidName checks the syntax of a DNS name as detour accepts it in a spec,
// absolute ("www.example.test.") or relative ("www"): labels of 1 to 63
// letters, digits, '-' and '_' (a label neither starts nor ends with '-'),
// at most 255 octets in wire format, and '*' only as the whole leftmost
// label (a wildcard). The root name "." and the origin "@" are valid. Escapes ("\.") are not
// supported. Callers that must not take a wildcard check IsWildcard too.
func ValidName(name string) error {
	if name == "" {
		return errors.New("the name is empty")
	}
	if name == "." {
		return nil
	}
	if name == "@" {
		return nil
	}
	trimmed := strings.TrimSuffix(name, ".")
	labels := strings.Split(trimmed, ".")
	wire := 1 // the root label
	for i, l := range labels {
		wire += len(l) + 1
		if l == "" {
			return fmt.Errorf("%q has an empty label (two dots in a row, or a leading dot)", name)
		}
		if len(l) > MaxLabelLen {
			return fmt.Errorf("%q has a label of %d characters; the limit is %d", name, len(l), MaxLabelLen)
		}
		if l == "*" {
			if i != 0 {
				return fmt.Errorf("%q has a wildcard '*' that is not the leftmost label", name)
			}
			continue
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
			case c == '-':
				if j == 0 || j == len(l)-1 {
					return fmt.Errorf("%q has a label %q that starts or ends with '-'", name, l)
				}
			default:
				return fmt.Errorf("%q has the character %q in label %q; names may use letters, digits, '-' and '_'", name, rune(c), l)
			}
		}
	}
	if wire > MaxNameLen {
		return fmt.Errorf("%q is %d octets long in wire format; the limit is %d", name, wire, MaxNameLen)
	}
	return nil
}

// IsWildcard reports whether name's leftmost label is "*".
func IsWildcard(name string) bool {
	return name == "*" || strings.HasPrefix(name, "*.")
}
