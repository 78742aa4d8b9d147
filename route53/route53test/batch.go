package route53test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// applyLocked validates batch b against zone z and, only if every change is
// valid, applies it and records a PENDING change (all or nothing, C6). The
// order of checks: field ranges and shapes (InvalidInput), health check IDs
// (NoSuchHealthCheck), request limits, then the changes one by one against
// a working copy, then the rules that concern the final state of each name
// touched. Every problem found in the last two steps is reported together
// in one InvalidChangeBatch.
func (s *Server) applyLocked(z *zone, b ChangeBatch, now time.Time) (ChangeInfo, *Error) {
	if err := validateFields(&b); err != nil {
		return ChangeInfo{}, err
	}
	for _, c := range b.Changes {
		if id := c.RecordSet.HealthCheckID; id != "" && c.Action != ActionDelete && !s.healthChecks[id] {
			return ChangeInfo{}, &Error{Status: 404, Code: "NoSuchHealthCheck", Sender: true,
				Message: fmt.Sprintf("A health check with id %s does not exist.", id)}
		}
	}
	if err := checkLimits(&b); err != nil {
		return ChangeInfo{}, err
	}
	w := newWorking(z)
	var msgs []string
	type touch struct {
		actions []string
		bad     bool
	}
	touched := make(map[key]*touch)
	puts := make(map[key]bool) // identities created or upserted
	var names []string         // names touched, in batch order
	seen := make(map[string]bool)
	for i, c := range b.Changes {
		r := c.RecordSet.clone()
		dn, err := parseName(r.Name)
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		r.Name = dn.String()
		if !dn.within(z.dname) {
			msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", r.Name, z.info.Name))
			continue
		}
		if r.AliasTarget != nil {
			if t, err := canonicalName(r.AliasTarget.DNSName); err == nil {
				r.AliasTarget.DNSName = t
			}
		}
		k := r.key()
		t := touched[k]
		if t == nil {
			t = &touch{}
			touched[k] = t
		}
		t.actions = append(t.actions, c.Action)
		// C7: the only repeat allowed is a DELETE followed by a CREATE of
		// the same identity (Terraform's update). Guess: every other
		// repeat gets the message reported for CREATE-then-DELETE.
		if len(t.actions) > 1 && !(len(t.actions) == 2 && t.actions[0] == ActionDelete && c.Action == ActionCreate) {
			if !t.bad {
				t.bad = true
				msgs = append(msgs, fmt.Sprintf("The request contains an invalid set of changes for a resource record set '%s %s'", r.Type, r.Name))
			}
			continue
		}
		if !seen[r.Name] {
			seen[r.Name] = true
			names = append(names, r.Name)
		}
		live, exists := w.get(k)
		switch c.Action {
		case ActionDelete:
			switch {
			case !exists:
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but it was not found", bracket(k)))
			case !matchesForDelete(live, r):
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values", bracket(k)))
			default:
				w.del(k)
			}
			continue
		case ActionCreate:
			if exists {
				msgs = append(msgs, fmt.Sprintf("Tried to create resource record set %s but it already exists", bracket(k)))
				continue
			}
		}
		if m := checkValues(&r); len(m) > 0 {
			msgs = append(msgs, m...)
			continue
		}
		if r.AliasTarget != nil {
			if m := s.checkAliasLocked(w, &r, b.Changes[i+1:]); len(m) > 0 {
				msgs = append(msgs, m...)
				continue
			}
		}
		w.put(r)
		puts[k] = true
	}
	for _, name := range names {
		msgs = append(msgs, checkName(w, z, name, puts)...)
	}
	if len(msgs) == 0 && w.count() > s.maxRecordSets() {
		// Guess: the zone quota is reported as an InvalidChangeBatch message.
		msgs = append(msgs, "Exceeded limit MAX_RRSETS_BY_ZONE for zone: "+z.info.ID)
	}
	if len(msgs) > 0 {
		return ChangeInfo{}, invalidChangeBatch(msgs)
	}
	w.commit()
	return s.addChangeLocked(z.info.ID, b.Comment, now), nil
}

// bracket is how Route 53 names a record set in "Tried to ..." messages.
func bracket(k key) string {
	if k.setID != "" {
		return fmt.Sprintf("[name='%s', type='%s', set-identifier='%s']", k.name, k.typ, k.setID)
	}
	return fmt.Sprintf("[name='%s', type='%s']", k.name, k.typ)
}

// matchesForDelete reports whether a DELETE's record set r matches the live
// one exactly (C4): TTL, values (compared as a set, Guess), alias target and
// every routing field. A DELETE may omit MultiValueAnswer, as Terraform does
// and AWS accepts.
func matchesForDelete(live, r RecordSet) bool {
	eqInt := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if !eqInt(live.TTL, r.TTL) || !eqInt(live.Weight, r.Weight) {
		return false
	}
	if live.Region != r.Region || live.Failover != r.Failover || live.HealthCheckID != r.HealthCheckID ||
		live.TrafficPolicyInstanceID != r.TrafficPolicyInstanceID {
		return false
	}
	if r.MultiValueAnswer != nil && (live.MultiValueAnswer == nil || *live.MultiValueAnswer != *r.MultiValueAnswer) {
		return false
	}
	if (live.GeoLocation == nil) != (r.GeoLocation == nil) || (live.GeoLocation != nil && *live.GeoLocation != *r.GeoLocation) {
		return false
	}
	if (live.CIDRRoutingConfig == nil) != (r.CIDRRoutingConfig == nil) ||
		(live.CIDRRoutingConfig != nil && *live.CIDRRoutingConfig != *r.CIDRRoutingConfig) {
		return false
	}
	if (live.GeoProximityLocation == nil) != (r.GeoProximityLocation == nil) {
		return false
	}
	if g, h := live.GeoProximityLocation, r.GeoProximityLocation; g != nil &&
		(g.AWSRegion != h.AWSRegion || g.LocalZoneGroup != h.LocalZoneGroup || g.Latitude != h.Latitude ||
			g.Longitude != h.Longitude || !eqInt(g.Bias, h.Bias)) {
		return false
	}
	if (live.AliasTarget == nil) != (r.AliasTarget == nil) ||
		(live.AliasTarget != nil && (*live.AliasTarget != *r.AliasTarget)) {
		return false
	}
	a, b := slices.Clone(live.ResourceRecords), slices.Clone(r.ResourceRecords)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// checkValues checks the values of a record set being written. Guess: the
// messages follow the "Invalid Resource Record: FATAL problem" form that
// Route 53 uses for malformed RDATA; only the types detour writes (A, AAAA,
// CNAME, TXT) are checked in depth.
func checkValues(r *RecordSet) []string {
	var msgs []string
	fatal := func(problem, detail, v string) {
		msgs = append(msgs, fmt.Sprintf("Invalid Resource Record: 'FATAL problem: %s (%s) encountered with '%s''", problem, detail, v))
	}
	for i, v := range r.ResourceRecords {
		if slices.Contains(r.ResourceRecords[:i], v) {
			msgs = append(msgs, fmt.Sprintf("Duplicate Resource Record: '%s'", v))
			continue
		}
		switch r.Type {
		case "A":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
				fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", v)
			}
		case "AAAA":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is6() || a.Zone() != "" {
				fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", v)
			}
		case "TXT", "SPF":
			if len(v) < 2 || !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) {
				fatal("InvalidCharacterString", "Value should be enclosed in quotation marks", v)
			}
		case "CNAME":
			if _, err := parseName(v); err != nil {
				fatal("DomainLabelEmpty", "Domain label is empty", v)
			}
		}
	}
	if r.Type == "CNAME" && len(r.ResourceRecords) > 1 {
		msgs = append(msgs, fmt.Sprintf("RRSet of type CNAME with DNS name %s has more than one resource record", r.Name))
	}
	return msgs
}

// checkName applies the rules about the final state of one name (C9, C14-C17,
// C19, the apex records), reporting each problem against the record sets
// this batch wrote (puts).
func checkName(w *working, z *zone, name string, puts map[key]bool) []string {
	sets := w.node(name)
	var msgs []string
	add := func(m string) {
		if !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	written := func(k key) bool { return puts[k] }
	apex := name == z.info.Name
	byType := make(map[string][]RecordSet)
	var types []string
	for _, r := range sets {
		if _, ok := byType[r.Type]; !ok {
			types = append(types, r.Type)
		}
		byType[r.Type] = append(byType[r.Type], r)
	}
	slices.Sort(types)
	for _, t := range types {
		slices.SortFunc(byType[t], func(a, b RecordSet) int { return strings.Compare(a.SetIdentifier, b.SetIdentifier) })
	}
	// C9: a CNAME excludes every other type at its name, and the apex.
	if _, hasCNAME := byType["CNAME"]; hasCNAME {
		for _, t := range types {
			for _, r := range byType[t] {
				if !written(r.key()) {
					continue
				}
				switch {
				case t == "CNAME" && apex:
					add(fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", name, z.info.Name))
				case t == "CNAME" && len(types) > 1:
					add(fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", name, z.info.Name))
				case t != "CNAME":
					add(fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone %s", t, name, z.info.Name))
				}
			}
		}
	}
	for _, t := range types {
		for _, m := range checkGroup(byType[t], written) {
			add(m)
		}
	}
	if apex {
		ns, soa := 0, 0
		for _, r := range sets {
			switch {
			case r.Type == "NS" && r.SetIdentifier == "":
				ns++
			case r.Type == "SOA":
				soa++
			}
		}
		// Guess: wording of the apex rules.
		if ns == 0 {
			add("A HostedZone must contain at least one NS record for the zone itself.")
		}
		if soa != 1 {
			add("A HostedZone must contain exactly one SOA record.")
		}
	}
	return msgs
}

// checkGroup applies the rules about the record sets of one name and type:
// no mixing of routing policies (C14), equal TTLs and at most
// MaxWeightedSets in a weighted group (C15), one latency set per region
// (C16), one failover set per role (C17), one geolocation set per location
// (C19).
func checkGroup(group []RecordSet, written func(key) bool) []string {
	var msgs []string
	if len(group) == 0 {
		return nil
	}
	name, typ := group[0].Name, group[0].Type
	kinds := make(map[string]bool)
	for _, r := range group {
		kinds[r.policy()] = true
	}
	if len(kinds) > 1 {
		for _, r := range group {
			if !written(r.key()) {
				continue
			}
			if r.SetIdentifier == "" {
				msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as other RRSets exist with the same name and type.", name, typ))
			} else {
				msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created as a non-%s set exists with the same name and type.", name, typ, r.SetIdentifier, r.policy()))
			}
		}
		return msgs
	}
	switch group[0].policy() {
	case "weighted":
		if len(group) > MaxWeightedSets {
			msgs = append(msgs, fmt.Sprintf("Exceeded limit on number of weighted RRSets for %s, type %s in this zone.", name, typ))
		}
		// The reference TTL is that of a member this batch left alone,
		// else of the first member.
		var ref *int64
		for _, r := range group {
			if r.TTL != nil && !written(r.key()) {
				ref = r.TTL
				break
			}
		}
		for _, r := range group {
			if r.TTL == nil {
				continue
			}
			if ref == nil {
				ref = r.TTL
			}
			if *r.TTL != *ref && written(r.key()) {
				msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s and type %s, SetIdentifier %s cannot be created as weighted sets must contain the same TTL.", name, typ, r.SetIdentifier))
			}
		}
	case "latency":
		msgs = append(msgs, duplicates(group, written, func(r RecordSet) string { return r.Region }, func(r RecordSet) string {
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s, and Region Name=%s cannot be created because a latency RRSet with the same name, type and region already exists.", name, typ, r.SetIdentifier, r.Region)
		})...)
	case "failover":
		// Guess: wording modelled on the latency message.
		msgs = append(msgs, duplicates(group, written, func(r RecordSet) string { return r.Failover }, func(r RecordSet) string {
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s, and Failover %s cannot be created because a failover RRSet with the same name, type and failover value already exists.", name, typ, r.SetIdentifier, r.Failover)
		})...)
	case "geolocation":
		// Guess: wording modelled on the latency message.
		msgs = append(msgs, duplicates(group, written, func(r RecordSet) string { return fmt.Sprint(*r.GeoLocation) }, func(r RecordSet) string {
			g := r.GeoLocation
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s, and GeoLocation [ContinentCode=%s, CountryCode=%s, SubdivisionCode=%s] cannot be created because a geolocation RRSet with the same name, type and location already exists.",
				name, typ, r.SetIdentifier, g.ContinentCode, g.CountryCode, g.SubdivisionCode)
		})...)
	}
	return msgs
}

// duplicates reports each written member whose attribute (by attr) is
// shared with another member of the group.
func duplicates(group []RecordSet, written func(key) bool, attr func(RecordSet) string, msg func(RecordSet) string) []string {
	count := make(map[string]int)
	for _, r := range group {
		count[attr(r)]++
	}
	var msgs []string
	for _, r := range group {
		if count[attr(r)] > 1 && written(r.key()) {
			msgs = append(msgs, msg(r))
		}
	}
	return msgs
}
