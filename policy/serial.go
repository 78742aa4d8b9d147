package policy

import (
	"encoding/json"
	"hash/fnv"
)

// UpdateSerials sets next.ZoneSerials for the state published at index: a
// zone keeps its serial from prev while its content (records, SOA fields,
// nameservers, the pools inside it and their healthy endpoints) is
// unchanged, and takes the low 32 bits of index when anything changed.
// Every node applies the same log, so every node computes the same serials.
// next must not yet be published.
func UpdateSerials(prev, next *State, index uint64) {
	if next.Spec == nil || len(next.Spec.Zones) == 0 {
		next.ZoneSerials = nil
		return
	}
	serials := make(map[string]uint32, len(next.Spec.Zones))
	for i := range next.Spec.Zones {
		z := &next.Spec.Zones[i]
		name := CanonicalName(z.Name)
		old, had := uint32(0), false
		if prev != nil {
			old, had = prev.ZoneSerials[name]
		}
		if had && prev.Spec != nil && zoneFingerprint(prev, name) == zoneFingerprint(next, name) {
			serials[name] = old
			continue
		}
		serials[name] = uint32(index)
	}
	next.ZoneSerials = serials
}

// zoneFingerprint hashes everything that a zone's answers depend on.
func zoneFingerprint(s *State, zone string) uint64 {
	h := fnv.New64a()
	enc := json.NewEncoder(h)
	z := s.Spec.Zone(zone)
	if z == nil {
		return 0
	}
	_ = enc.Encode(z) // a hash.Hash never fails to write
	for i := range s.Spec.Pools {
		p := &s.Spec.Pools[i]
		if s.Spec.ZoneFor(p.Name) != z {
			continue
		}
		_ = enc.Encode(p)
		for _, ep := range p.Endpoints {
			_ = enc.Encode(s.EndpointHealthy(p.Name, ep.Name))
		}
	}
	return h.Sum64()
}
