package route53test

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// zone is a hosted zone and its record sets. It is guarded by Server.mu.
type zone struct {
	info    Zone // RecordSetCount is kept in count instead
	dname   domainName
	created time.Time
	vpc     *xmlVPC
	// names maps a canonical owner name to its record sets by identity.
	names map[string]map[key]RecordSet
	count int
	// sortKeys caches the listing sort key of each name in names.
	sortKeys map[string]string
	// sortedCache is the listing order, nil after a change.
	sortedCache []RecordSet
}

func (z *zone) snapshot() Zone {
	info := z.info
	info.RecordSetCount = z.count
	info.NameServers = slices.Clone(z.info.NameServers)
	return info
}

func (z *zone) sortKey(name string) string {
	k, ok := z.sortKeys[name]
	if !ok {
		k = mustSortKey(name)
		z.sortKeys[name] = k
	}
	return k
}

// sorted returns every record set in listing order (L1): name with labels
// reversed, then type, then SetIdentifier (Guess: the third key is not
// documented; sorting by it keeps pagination inside a weighted group stable).
// The slice is cached until the next commit: callers must not modify it.
func (z *zone) sorted() []RecordSet {
	if z.sortedCache != nil {
		return z.sortedCache
	}
	type entry struct {
		sk string
		r  *RecordSet
	}
	entries := make([]entry, 0, z.count)
	for name, sets := range z.names {
		sk := z.sortKey(name)
		for _, r := range sets {
			entries = append(entries, entry{sk, &r})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.sk, b.sk), strings.Compare(a.r.Type, b.r.Type),
			strings.Compare(a.r.SetIdentifier, b.r.SetIdentifier))
	})
	out := make([]RecordSet, len(entries))
	for i, e := range entries {
		out[i] = *e.r
	}
	z.sortedCache = out
	return out
}

// working is the copy of a zone that a change batch is applied to: names it
// has touched are cloned on first touch, so that nothing reaches the zone
// unless the whole batch is valid.
type working struct {
	z     *zone
	nodes map[string]map[key]RecordSet
}

func newWorking(z *zone) *working {
	return &working{z: z, nodes: make(map[string]map[key]RecordSet)}
}

// node returns the working record sets of name, cloning them on first use.
func (w *working) node(name string) map[key]RecordSet {
	if m, ok := w.nodes[name]; ok {
		return m
	}
	m := maps.Clone(w.z.names[name])
	if m == nil {
		m = make(map[key]RecordSet)
	}
	w.nodes[name] = m
	return m
}

func (w *working) get(k key) (RecordSet, bool) {
	r, ok := w.node(k.name)[k]
	return r, ok
}

func (w *working) put(r RecordSet) { w.node(r.Name)[r.key()] = r }

func (w *working) del(k key) { delete(w.node(k.name), k) }

// count returns the number of record sets the zone would hold.
func (w *working) count() int {
	n := w.z.count
	for name, m := range w.nodes {
		n += len(m) - len(w.z.names[name])
	}
	return n
}

// commit writes the working copy into the zone.
func (w *working) commit() {
	w.z.count = w.count()
	w.z.sortedCache = nil
	for name, m := range w.nodes {
		if len(m) == 0 {
			delete(w.z.names, name)
			delete(w.z.sortKeys, name)
			continue
		}
		w.z.names[name] = m
	}
}

// change is a submitted change and the state of its propagation. It is
// guarded by Server.mu.
type change struct {
	info   ChangeInfo
	zoneID string
	synced bool // set by SyncPending, or once the delay has passed
}

// idAlphabet is the alphabet of generated zone and change IDs.
const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// newIDLocked returns a fresh ID with the given prefix ('Z' or 'C') followed
// by 13 upper-case characters. IDs look random but are a bijection of a
// counter, so they never repeat and runs are reproducible.
func (s *Server) newIDLocked(prefix byte) string {
	s.seq++
	v := s.seq * 0x9E3779B97F4A7C15 // odd multiplier: a bijection on uint64
	v ^= v >> 29
	b := []byte{prefix}
	for range 13 {
		b = append(b, idAlphabet[v%36])
		v /= 36
	}
	return string(b)
}

// createZoneLocked makes a hosted zone holding its apex SOA and NS record
// sets (Z1).
func (s *Server) createZoneLocked(name string, cfg ZoneConfig, vpc *xmlVPC, now time.Time) (*zone, ChangeInfo, *Error) {
	dn, err := parseName(name)
	if err != nil || len(dn.labels) == 0 {
		return nil, ChangeInfo{}, &Error{Status: 400, Code: "InvalidDomainName", Sender: true,
			Message: fmt.Sprintf("%s is reserved by AWS or is not a valid domain name", name)}
	}
	if cfg.CallerReference == "" {
		cfg.CallerReference = fmt.Sprintf("route53test-%d", s.seq+1)
	}
	if len(cfg.CallerReference) > 128 {
		return nil, ChangeInfo{}, invalidInput("1 validation error detected: Value '%s' at 'callerReference' failed to satisfy constraint: Member must have length less than or equal to 128", cfg.CallerReference)
	}
	if id, dup := s.callerRefs[cfg.CallerReference]; dup {
		return nil, ChangeInfo{}, &Error{Status: 409, Code: "HostedZoneAlreadyExists", Sender: true,
			Message: fmt.Sprintf("A hosted zone has already been created with the specified caller reference (zone %s).", id)}
	}
	id := s.newIDLocked('Z')
	apex := dn.String()
	z := &zone{
		info: Zone{ID: id, Name: apex, CallerReference: cfg.CallerReference, Comment: cfg.Comment,
			Private: cfg.Private || vpc != nil},
		dname:    dn,
		created:  now,
		vpc:      vpc,
		names:    make(map[string]map[key]RecordSet),
		sortKeys: make(map[string]string),
	}
	// Four name servers in the awsdns style; the strings are never
	// resolved.
	n := len(s.zones)
	z.info.NameServers = []string{
		fmt.Sprintf("ns-%d.awsdns-%02d.com.", 100+n%1900, n%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.net.", 600+n%1400, (n+16)%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.org.", 1100+n%900, (n+32)%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.co.uk.", 1600+n%400, (n+48)%64),
	}
	z.names[apex] = map[key]RecordSet{
		{apex, "NS", ""}: {Name: apex, Type: "NS", TTL: ptr[int64](172800), ResourceRecords: slices.Clone(z.info.NameServers)},
		{apex, "SOA", ""}: {Name: apex, Type: "SOA", TTL: ptr[int64](900),
			ResourceRecords: []string{fmt.Sprintf("%s awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400", z.info.NameServers[0])}},
	}
	z.count = 2
	s.zones[id] = z
	s.callerRefs[cfg.CallerReference] = id
	ci := s.addChangeLocked(id, "", now)
	return z, ci, nil
}

// addChangeLocked records a new PENDING change.
func (s *Server) addChangeLocked(zoneID, comment string, now time.Time) ChangeInfo {
	ci := ChangeInfo{ID: s.newIDLocked('C'), Status: StatusPending, SubmittedAt: now, Comment: comment}
	s.changes[ci.ID] = &change{info: ci, zoneID: zoneID}
	return ci
}

// changeStatusLocked returns the change as GetChange reports it now: INSYNC
// once InsyncDelay has passed since it was submitted, or once SyncPending
// marked it; a negative delay keeps it PENDING until SyncPending.
func (s *Server) changeStatusLocked(c *change, now time.Time) ChangeInfo {
	if !c.synced && s.insyncDelay >= 0 && !now.Before(c.info.SubmittedAt.Add(s.insyncDelay)) {
		c.synced = true
	}
	ci := c.info
	if c.synced {
		ci.Status = StatusInsync
	}
	return ci
}

// zoneLocked finds a zone that is visible at now: a zone younger than
// NewZoneDelay answers NoSuchHostedZone, as a new zone may briefly do on AWS
// (T3).
func (s *Server) zoneLocked(id string, now time.Time) (*zone, *Error) {
	z, ok := s.zones[id]
	if !ok || (s.opts.NewZoneDelay > 0 && now.Before(z.created.Add(s.opts.NewZoneDelay))) {
		return nil, noSuchZone(id)
	}
	return z, nil
}

func noSuchZone(id string) *Error {
	return &Error{Status: 404, Code: "NoSuchHostedZone", Sender: true, Message: "No hosted zone found with ID: " + id}
}
