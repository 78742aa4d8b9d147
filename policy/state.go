package policy

// State is the replicated state of the cluster as of one applied log index.
// The cluster publishes a new *State after every applied command; a
// published State is immutable and safe for concurrent readers, who must
// not modify it or anything it points to. Writers copy what they change
// (copy-on-write) and publish a new value.
type State struct {
	// ClusterID identifies the cluster. It is chosen when the first node
	// bootstraps and never changes; a data dir or a joining node that
	// carries another ID belongs to another cluster.
	ClusterID string `json:"cluster_id,omitempty"`
	// Index is the Raft index of the last command applied to this State.
	Index uint64 `json:"index"`
	// Spec is the applied spec; nil until the first spec is applied.
	Spec *Spec `json:"spec,omitempty"`
	// SpecVersion counts the specs applied so far (0: none yet).
	SpecVersion uint64 `json:"spec_version"`
	// SpecIndex is the Raft index at which the current spec was applied.
	SpecIndex uint64 `json:"spec_index,omitempty"`
	// Members maps node IDs to what the cluster knows of each member
	// beyond the Raft configuration (region and API address).
	Members map[string]Member `json:"members,omitempty"`
	// ZoneSerials maps zone names to the SOA serial that every node serves
	// for this State. A zone's serial changes whenever its content or the
	// answer of one of its pools changes.
	ZoneSerials map[string]uint32 `json:"zone_serials,omitempty"`

	// Views holds every node's committed view of every endpoint: pool
	// name (as written in the spec) -> endpoint name -> node ID -> view.
	// Only views of endpoints in the spec and of members are kept. Change
	// it through ApplyReport, ApplySpec and RemoveMember.
	Views map[string]map[string]EndpointViews `json:"views,omitempty"`
	// Degraded holds the IDs of the nodes that reported themselves
	// degraded (only true entries); their views do not count.
	Degraded map[string]bool `json:"degraded,omitempty"`
	// Down holds the endpoints whose effective health is unhealthy: pool
	// name -> endpoint name -> true. It is derived from Views, Degraded,
	// Members and the spec by the transitions that change them (see
	// EffectiveUnhealthy) and kept here so that EndpointHealthy is a map
	// lookup.
	Down map[string]map[string]bool `json:"down,omitempty"`
	// PoolOverrides holds the operators' overrides: pool name (as written
	// in the spec) -> the pool's pin, drains and forces. Change it through
	// SetOverride, ClearOverride and ApplySpec.
	PoolOverrides map[string]PoolOverrides `json:"pool_overrides,omitempty"`
	// Failbacks holds the failover pools held on a worse tier after a
	// health-driven failover (failback manual or a hold time): pool name
	// -> hold. Maintained by the transitions; cleared by Failback.
	Failbacks map[string]FailbackHold `json:"failbacks,omitempty"`
	// Events are the newest events (as many as the spec's
	// settings.events_retained, default MaxEvents), oldest first.
	Events []Event `json:"events,omitempty"`
	// NextEventIndex is the Index the next event gets (0 is read as 1).
	NextEventIndex uint64 `json:"next_event_index,omitempty"`
}

// Member is what the replicated state records about one cluster node.
type Member struct {
	ID       string `json:"id"`
	Region   string `json:"region,omitempty"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr,omitempty"`
	// Voter reports whether the member has a vote in the Raft cluster;
	// only voters' views count towards effective health.
	Voter bool `json:"voter,omitempty"`
}

// EndpointHealthy reports whether the endpoint named ep of pool (the
// pool's name as written in the spec) is effectively healthy in s: forced
// up or down by an operator, else as the probes' agreement says (a map
// lookup in s.Down), so cheap enough to call per endpoint when compiling
// answers. Endpoints without views are healthy. A drained endpoint keeps
// its health; it is left out of answers by PoolAnswer.
func (s *State) EndpointHealthy(pool, ep string) bool {
	if s == nil {
		return true
	}
	if f, ok := s.PoolOverrides[pool].Force[ep]; ok {
		return f.State == ForceUp
	}
	return !s.Down[pool][ep]
}

// ProbeHealthy reports what the probes' agreement alone says of endpoint
// ep of pool, ignoring overrides.
func (s *State) ProbeHealthy(pool, ep string) bool {
	if s == nil {
		return true
	}
	return !s.Down[pool][ep]
}

// Zone returns the zone named name (absolute, case-insensitive), or nil.
func (s *Spec) Zone(name string) *Zone {
	if s == nil {
		return nil
	}
	for i := range s.Zones {
		if equalFold(s.Zones[i].Name, name) {
			return &s.Zones[i]
		}
	}
	return nil
}

// Pool returns the pool named name (absolute, case-insensitive), or nil.
func (s *Spec) Pool(name string) *Pool {
	if s == nil {
		return nil
	}
	for i := range s.Pools {
		if equalFold(s.Pools[i].Name, name) {
			return &s.Pools[i]
		}
	}
	return nil
}

// Endpoint returns the endpoint named name, or nil.
func (p *Pool) Endpoint(name string) *Endpoint {
	for i := range p.Endpoints {
		if p.Endpoints[i].Name == name {
			return &p.Endpoints[i]
		}
	}
	return nil
}

// equalFold compares DNS names case-insensitively (ASCII only, as DNS
// does).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
