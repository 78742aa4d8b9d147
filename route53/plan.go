package route53

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/detour-dns/detour/policy"
)

// Route 53's limits on one ChangeResourceRecordSets request; an UPSERT
// counts its records and characters twice.
const (
	// MaxBatchRecords is the most ResourceRecord elements in one request.
	MaxBatchRecords = 1000
	// MaxBatchChars is the most characters of values in one request.
	MaxBatchChars = 32000
)

// plan is what one group needs: the changes that turn the live record sets
// into the desired ones, or why it is refused.
type plan struct {
	changes []types.Change
	// refused says why the group is left alone (ownership); changes is
	// then empty.
	refused string
}

// planGroup compares the desired group g with live, every record set at
// g.Name of g.Type as read back from Route 53, and returns the changes:
// DELETEs first (with the live record set exactly as read), then CREATEs
// and UPSERTs. A live set that does not fit g's style (a simple set where
// g is weighted, a set with another routing policy) is refused unless
// g.Adopt, in which case it is deleted.
func planGroup(g policy.Route53Group, live []types.ResourceRecordSet) plan {
	var foreign, mine []types.ResourceRecordSet
	for _, rs := range live {
		if fitsStyle(g.Style, rs) {
			mine = append(mine, rs)
		} else {
			foreign = append(foreign, rs)
		}
	}
	var deletes, writes []types.Change
	if len(foreign) > 0 {
		if !g.Adopt {
			return plan{refused: fmt.Sprintf("%s %s already has %s in Route 53; set adopt: true to take it over", g.Name, g.Type, describePolicies(foreign))}
		}
		for _, rs := range foreign {
			deletes = append(deletes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: ptr(rs)})
		}
	}
	byID := make(map[string]types.ResourceRecordSet, len(mine))
	for _, rs := range mine {
		byID[aws.ToString(rs.SetIdentifier)] = rs
	}
	wanted := make(map[string]bool, len(g.Sets))
	for _, set := range g.Sets {
		wanted[set.SetIdentifier] = true
		want := desiredSet(g, set)
		cur, ok := byID[set.SetIdentifier]
		switch {
		case !ok:
			writes = append(writes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: want})
		case sameSet(cur, *want):
		case (cur.AliasTarget != nil) != (want.AliasTarget != nil):
			// Alias-ness changes are a DELETE and a CREATE, as
			// other tools do, rather than an UPSERT.
			deletes = append(deletes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: ptr(cur)})
			writes = append(writes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: want})
		default:
			writes = append(writes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: want})
		}
	}
	for _, rs := range mine {
		if !wanted[aws.ToString(rs.SetIdentifier)] {
			deletes = append(deletes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: ptr(rs)})
		}
	}
	return plan{changes: append(deletes, writes...)}
}

func ptr[T any](v T) *T { return &v }

// fitsStyle reports whether a live record set has the routing policy of
// style: none for simple, weighted for weighted.
func fitsStyle(style string, rs types.ResourceRecordSet) bool {
	other := rs.Region != "" || rs.Failover != "" || rs.GeoLocation != nil || rs.MultiValueAnswer != nil ||
		rs.CidrRoutingConfig != nil || rs.GeoProximityLocation != nil
	if other {
		return false
	}
	if style == policy.Route53StyleWeighted {
		return rs.SetIdentifier != nil && rs.Weight != nil
	}
	return rs.SetIdentifier == nil && rs.Weight == nil
}

// describePolicies names the routing policies of sets, for a refusal.
func describePolicies(sets []types.ResourceRecordSet) string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, rs := range sets {
		switch {
		case rs.Weight != nil:
			add("weighted record sets")
		case rs.Failover != "":
			add("failover record sets")
		case rs.Region != "":
			add("latency record sets")
		case rs.GeoLocation != nil:
			add("geolocation record sets")
		case rs.MultiValueAnswer != nil:
			add("multivalue record sets")
		case rs.SetIdentifier != nil:
			add("record sets with another routing policy")
		default:
			add("a simple record set")
		}
	}
	return strings.Join(out, " and ")
}

// desiredSet builds the SDK record set for set of g.
func desiredSet(g policy.Route53Group, set policy.Route53RecordSet) *types.ResourceRecordSet {
	rs := &types.ResourceRecordSet{Name: aws.String(g.Name), Type: types.RRType(g.Type)}
	if set.SetIdentifier != "" {
		rs.SetIdentifier = aws.String(set.SetIdentifier)
	}
	if set.Weight != nil {
		rs.Weight = aws.Int64(*set.Weight)
	}
	if set.Alias != nil {
		rs.AliasTarget = &types.AliasTarget{
			DNSName:              aws.String(set.Alias.DNSName),
			HostedZoneId:         aws.String(set.Alias.HostedZoneID),
			EvaluateTargetHealth: set.Alias.EvaluateTargetHealth,
		}
		return rs
	}
	rs.TTL = aws.Int64(int64(set.TTL))
	for _, v := range set.Values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

// sameSet reports whether the live record set cur already is want.
func sameSet(cur, want types.ResourceRecordSet) bool {
	if aws.ToString(cur.SetIdentifier) != aws.ToString(want.SetIdentifier) ||
		aws.ToInt64(cur.Weight) != aws.ToInt64(want.Weight) || (cur.Weight == nil) != (want.Weight == nil) ||
		aws.ToString(cur.HealthCheckId) != "" || aws.ToString(cur.TrafficPolicyInstanceId) != "" {
		return false
	}
	if want.AliasTarget != nil {
		a, b := cur.AliasTarget, want.AliasTarget
		return a != nil && cur.TTL == nil && len(cur.ResourceRecords) == 0 &&
			aws.ToString(a.HostedZoneId) == aws.ToString(b.HostedZoneId) &&
			policy.CanonicalName(aws.ToString(a.DNSName)) == policy.CanonicalName(aws.ToString(b.DNSName)) &&
			a.EvaluateTargetHealth == b.EvaluateTargetHealth
	}
	if cur.AliasTarget != nil || aws.ToInt64(cur.TTL) != aws.ToInt64(want.TTL) || cur.TTL == nil {
		return false
	}
	return slices.Equal(valueSet(string(want.Type), cur.ResourceRecords), valueSet(string(want.Type), want.ResourceRecords))
}

// valueSet returns the values of rrs in canonical form, sorted and without
// repeats, so that value order and spelling do not count as differences.
func valueSet(typ string, rrs []types.ResourceRecord) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		v := aws.ToString(rr.Value)
		switch typ {
		case policy.TypeA, policy.TypeAAAA:
			if ip, err := netip.ParseAddr(v); err == nil {
				v = ip.String()
			}
		case policy.TypeCNAME:
			v = policy.CanonicalName(v)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cost is what a change counts against the request limits.
type cost struct{ records, chars int }

func (c cost) add(d cost) cost { return cost{c.records + d.records, c.chars + d.chars} }

func (c cost) fits(lim cost) bool { return c.records <= lim.records && c.chars <= lim.chars }

// changeCost counts a change as Route 53 does: each value is a record and
// its characters count; an alias counts as one record without characters;
// an UPSERT counts twice.
func changeCost(ch types.Change) cost {
	rs := ch.ResourceRecordSet
	var c cost
	if rs.AliasTarget != nil {
		c.records = 1
	}
	for _, rr := range rs.ResourceRecords {
		c.records++
		c.chars += len(aws.ToString(rr.Value))
	}
	if ch.Action == types.ChangeActionUpsert {
		c.records, c.chars = 2*c.records, 2*c.chars
	}
	return c
}

// unit is the changes of one group: they always travel in one batch.
type unit struct {
	key     string
	changes []types.Change
	cost    cost
}

// batches packs units, in order, into as few batches as the limit lim
// allows, never splitting a unit. Units larger than lim on their own are
// returned in tooBig.
func batches(units []unit, lim cost) (out [][]unit, tooBig []unit) {
	var cur []unit
	var used cost
	for _, u := range units {
		if !u.cost.fits(lim) {
			tooBig = append(tooBig, u)
			continue
		}
		if len(cur) > 0 && !used.add(u.cost).fits(lim) {
			out = append(out, cur)
			cur, used = nil, cost{}
		}
		cur = append(cur, u)
		used = used.add(u.cost)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, tooBig
}
