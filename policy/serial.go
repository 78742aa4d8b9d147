package policy

import (
	"encoding/json"
	"hash/fnv"
	"maps"
)

// UpdateSerials sets next.ZoneSerials for the state published at index: a
// zone keeps its serial from prev while its content (records, SOA fields,
// nameservers, the pools inside it and their answers) is unchanged, and
// takes the low 32 bits of index when anything changed. A health change
// that leaves every pool's answer as it was (a standby endpoint going
// down while the primary is healthy) keeps the serial. Every node applies
// the same log, so every node computes the same serials. next must not
// yet be published.
func UpdateSerials(prev, next *State, index uint64) {
	if next.Spec == nil || len(next.Spec.Zones) == 0 {
		next.ZoneSerials = nil
		return
	}
	if prev != nil && prev.Spec == next.Spec && prev.ZoneSerials != nil {
		updateSerialsSameSpec(prev, next, index)
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

// updateSerialsSameSpec is UpdateSerials when prev and next share their
// spec: only the answers of pools whose effective health changed are
// compared (or whose overrides or failback hold changed), so a health
// change costs little however large the spec is.
func updateSerialsSameSpec(prev, next *State, index uint64) {
	var changed map[string]bool // zone names
	for i := range next.Spec.Pools {
		p := &next.Spec.Pools[i]
		if maps.Equal(prev.Down[p.Name], next.Down[p.Name]) && sameOverrides(prev, next, p.Name) {
			continue
		}
		if answerKey(prev.PoolAnswer(p)) == answerKey(next.PoolAnswer(p)) {
			continue
		}
		if z := next.Spec.ZoneFor(p.Name); z != nil {
			if changed == nil {
				changed = make(map[string]bool)
			}
			changed[CanonicalName(z.Name)] = true
		}
	}
	if changed == nil {
		next.ZoneSerials = prev.ZoneSerials
		return
	}
	serials := maps.Clone(prev.ZoneSerials)
	for zone := range changed {
		serials[zone] = uint32(index)
	}
	next.ZoneSerials = serials
}

// sameOverrides reports whether prev and next hold the same overrides and
// failback hold for pool.
func sameOverrides(prev, next *State, pool string) bool {
	if len(prev.PoolOverrides) == 0 && len(next.PoolOverrides) == 0 && len(prev.Failbacks) == 0 && len(next.Failbacks) == 0 {
		return true
	}
	ph, pok := prev.Failbacks[pool]
	nh, nok := next.Failbacks[pool]
	return pok == nok && ph == nh && prev.PoolOverrides[pool].equal(next.PoolOverrides[pool])
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
		_, _ = h.Write([]byte(answerKey(s.PoolAnswer(p))))
	}
	return h.Sum64()
}

// answerKey encodes what a pool answers: the chosen endpoints with their
// weights and the all-down flag (endpoint content is part of the spec).
func answerKey(a PoolAnswer) string {
	b := make([]byte, 0, 64)
	if a.AllDown {
		b = append(b, '!')
	}
	for i, ep := range a.Endpoints {
		b = append(b, ep.Name...)
		if i < len(a.Weights) {
			b = append(b, '=')
			b = append(b, byte(a.Weights[i]>>8), byte(a.Weights[i]))
		}
		b = append(b, 0)
	}
	return string(b)
}
