package policy

import "strings"

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
