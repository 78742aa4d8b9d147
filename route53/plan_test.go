package route53

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/detour-dns/detour/policy"
)

func w64(n int64) *int64 { return &n }

func plainSet(name, setID string, weight *int64, ttl int64, values ...string) types.ResourceRecordSet {
	rs := types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA, TTL: aws.Int64(ttl), Weight: weight}
	if setID != "" {
		rs.SetIdentifier = aws.String(setID)
	}
	for _, v := range values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

// summarize writes changes as "ACTION setid weight values|alias" lines.
func summarize(chs []types.Change) []string {
	var out []string
	for _, c := range chs {
		rs := c.ResourceRecordSet
		s := fmt.Sprintf("%s %s", c.Action, aws.ToString(rs.Name))
		if rs.SetIdentifier != nil {
			s += " " + aws.ToString(rs.SetIdentifier)
		}
		if rs.Weight != nil {
			s += fmt.Sprintf(" w=%d", *rs.Weight)
		}
		if rs.AliasTarget != nil {
			s += " alias=" + aws.ToString(rs.AliasTarget.DNSName) + "@" + aws.ToString(rs.AliasTarget.HostedZoneId)
		} else {
			var vs []string
			for _, rr := range rs.ResourceRecords {
				vs = append(vs, aws.ToString(rr.Value))
			}
			s += fmt.Sprintf(" ttl=%d %s", aws.ToInt64(rs.TTL), strings.Join(vs, ","))
		}
		out = append(out, s)
	}
	return out
}

func TestPlanGroup(t *testing.T) {
	simple := policy.Route53Group{Name: "app.example.com.", Type: "A", Style: "simple",
		Sets: []policy.Route53RecordSet{{TTL: 30, Values: []string{"198.51.100.1", "198.51.100.2"}}}}
	weighted := policy.Route53Group{Name: "api.example.com.", Type: "A", Style: "weighted",
		Sets: []policy.Route53RecordSet{
			{SetIdentifier: "use1", Weight: w64(70), TTL: 30, Values: []string{"198.51.100.1"}},
			{SetIdentifier: "euw1", Weight: w64(0), TTL: 30, Values: []string{"198.51.100.2"}},
		}}
	alias := policy.Route53Group{Name: "lb.example.com.", Type: "A", Style: "simple",
		Sets: []policy.Route53RecordSet{{Alias: &policy.Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "a-1.us-east-1.elb.amazonaws.com."}}}}
	adopt := weighted
	adopt.Adopt = true
	failoverSet := plainSet("api.example.com.", "primary", nil, 30, "198.51.100.9")
	failoverSet.Failover = types.ResourceRecordSetFailoverPrimary
	tests := []struct {
		name    string
		g       policy.Route53Group
		live    []types.ResourceRecordSet
		want    []string
		refused string
	}{
		{"simple: absent is created", simple, nil,
			[]string{"CREATE app.example.com. ttl=30 198.51.100.1,198.51.100.2"}, ""},
		{"simple: same values in another order and case is in sync", simple,
			[]types.ResourceRecordSet{plainSet("APP.example.com.", "", nil, 30, "198.51.100.2", "198.51.100.1")}, nil, ""},
		{"simple: different TTL is upserted", simple,
			[]types.ResourceRecordSet{plainSet("app.example.com.", "", nil, 300, "198.51.100.1", "198.51.100.2")},
			[]string{"UPSERT app.example.com. ttl=30 198.51.100.1,198.51.100.2"}, ""},
		{"simple over a weighted group: refused without adopt", simple,
			[]types.ResourceRecordSet{plainSet("app.example.com.", "x", w64(1), 30, "198.51.100.7")}, nil,
			"app.example.com. A already has weighted record sets in Route 53; set adopt: true to take it over"},
		{"weighted: absent sets are created with their weights", weighted, nil,
			[]string{"CREATE api.example.com. use1 w=70 ttl=30 198.51.100.1", "CREATE api.example.com. euw1 w=0 ttl=30 198.51.100.2"}, ""},
		{"weighted: a weight change upserts only that set; a stale member is deleted as read", weighted,
			[]types.ResourceRecordSet{
				plainSet("api.example.com.", "use1", w64(70), 30, "198.51.100.1"),
				plainSet("api.example.com.", "euw1", w64(30), 30, "198.51.100.2"),
				plainSet("api.example.com.", "old", w64(5), 30, "198.51.100.3"),
			},
			[]string{"DELETE api.example.com. old w=5 ttl=30 198.51.100.3", "UPSERT api.example.com. euw1 w=0 ttl=30 198.51.100.2"}, ""},
		{"weighted over a simple set: refused", weighted,
			[]types.ResourceRecordSet{plainSet("api.example.com.", "", nil, 60, "203.0.113.1")}, nil,
			"api.example.com. A already has a simple record set in Route 53; set adopt: true to take it over"},
		{"weighted over failover sets with adopt: delete them, then create", adopt,
			[]types.ResourceRecordSet{failoverSet},
			[]string{"DELETE api.example.com. primary ttl=30 198.51.100.9",
				"CREATE api.example.com. use1 w=70 ttl=30 198.51.100.1", "CREATE api.example.com. euw1 w=0 ttl=30 198.51.100.2"}, ""},
		{"alias replacing plain values: delete and create", alias,
			[]types.ResourceRecordSet{plainSet("lb.example.com.", "", nil, 30, "198.51.100.1")},
			[]string{"DELETE lb.example.com. ttl=30 198.51.100.1", "CREATE lb.example.com. alias=a-1.us-east-1.elb.amazonaws.com.@Z35SXDOTRQ7X7K"}, ""},
		{"alias read back the same is in sync", alias,
			[]types.ResourceRecordSet{{Name: aws.String("lb.example.com."), Type: types.RRTypeA,
				AliasTarget: &types.AliasTarget{DNSName: aws.String("A-1.us-east-1.elb.amazonaws.com"), HostedZoneId: aws.String("Z35SXDOTRQ7X7K")}}}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := planGroup(tc.g, tc.live)
			if p.refused != tc.refused {
				t.Errorf("refused = %q, want %q", p.refused, tc.refused)
			}
			if got := summarize(p.changes); !slices.Equal(got, tc.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestChangeCost(t *testing.T) {
	rs := plainSet("a.example.com.", "", nil, 30, "198.51.100.1", "198.51.100.22")
	if got := changeCost(types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: &rs}); got != (cost{2, 25}) {
		t.Errorf("CREATE cost = %+v, want {2 25}", got)
	}
	if got := changeCost(types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &rs}); got != (cost{4, 50}) {
		t.Errorf("UPSERT cost = %+v, want {4 50} (counted twice)", got)
	}
	al := types.ResourceRecordSet{Name: aws.String("a."), Type: types.RRTypeA, AliasTarget: &types.AliasTarget{DNSName: aws.String("x.")}}
	if got := changeCost(types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &al}); got != (cost{2, 0}) {
		t.Errorf("alias UPSERT cost = %+v, want {2 0}", got)
	}
}

func TestBatches(t *testing.T) {
	u := func(key string, records, chars int) unit { return unit{key: key, cost: cost{records, chars}} }
	keys := func(bs [][]unit) [][]string {
		var out [][]string
		for _, b := range bs {
			var ks []string
			for _, x := range b {
				ks = append(ks, x.key)
			}
			out = append(out, ks)
		}
		return out
	}
	tests := []struct {
		name   string
		units  []unit
		lim    cost
		want   [][]string
		tooBig []string
	}{
		{"everything fits in one batch", []unit{u("a", 10, 100), u("b", 20, 100)}, cost{1000, 32000}, [][]string{{"a", "b"}}, nil},
		{"records limit splits between groups", []unit{u("a", 600, 10), u("b", 600, 10), u("c", 400, 10)}, cost{1000, 32000}, [][]string{{"a"}, {"b", "c"}}, nil},
		{"characters limit splits too", []unit{u("a", 1, 20000), u("b", 1, 20000)}, cost{1000, 32000}, [][]string{{"a"}, {"b"}}, nil},
		{"exactly at the limit still fits", []unit{u("a", 500, 16000), u("b", 500, 16000)}, cost{1000, 32000}, [][]string{{"a", "b"}}, nil},
		{"a group larger than a batch is set aside, never split", []unit{u("a", 10, 10), u("big", 1001, 10), u("c", 10, 10)}, cost{1000, 32000}, [][]string{{"a", "c"}}, []string{"big"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, big := batches(tc.units, tc.lim)
			if got := keys(bs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("batches = %v, want %v", got, tc.want)
			}
			var bk []string
			for _, b := range big {
				bk = append(bk, b.key)
			}
			if !slices.Equal(bk, tc.tooBig) {
				t.Errorf("too big = %v, want %v", bk, tc.tooBig)
			}
		})
	}
}

// fakeClient is a small in-memory Client: one zone, record sets kept in
// Route 53's listing order, InvalidChangeBatch for changes naming a
// poisoned name, and a log of calls.
type fakeClient struct {
	zoneID, zoneName string
	sets             []types.ResourceRecordSet
	poison           string
	beforeChange     func(f *fakeClient)
	calls            []string
	batches          [][]types.Change
}

func (f *fakeClient) GetHostedZone(_ context.Context, in *awsr53.GetHostedZoneInput, _ ...func(*awsr53.Options)) (*awsr53.GetHostedZoneOutput, error) {
	f.calls = append(f.calls, "GetHostedZone")
	if aws.ToString(in.Id) != f.zoneID {
		return nil, &types.NoSuchHostedZone{Message: aws.String("no zone " + aws.ToString(in.Id))}
	}
	return &awsr53.GetHostedZoneOutput{HostedZone: &types.HostedZone{Id: aws.String("/hostedzone/" + f.zoneID), Name: aws.String(f.zoneName)}}, nil
}

func (f *fakeClient) ListHostedZonesByName(context.Context, *awsr53.ListHostedZonesByNameInput, ...func(*awsr53.Options)) (*awsr53.ListHostedZonesByNameOutput, error) {
	f.calls = append(f.calls, "ListHostedZonesByName")
	return &awsr53.ListHostedZonesByNameOutput{HostedZones: []types.HostedZone{
		{Id: aws.String("/hostedzone/" + f.zoneID), Name: aws.String(f.zoneName)},
		{Id: aws.String("/hostedzone/ZOTHER"), Name: aws.String("z" + f.zoneName)},
	}}, nil
}

func (f *fakeClient) sort() {
	slices.SortStableFunc(f.sets, func(a, b types.ResourceRecordSet) int {
		if c := strings.Compare(reversedKey(aws.ToString(a.Name)), reversedKey(aws.ToString(b.Name))); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Type), string(b.Type)); c != 0 {
			return c
		}
		return strings.Compare(aws.ToString(a.SetIdentifier), aws.ToString(b.SetIdentifier))
	})
}

func (f *fakeClient) ListResourceRecordSets(_ context.Context, in *awsr53.ListResourceRecordSetsInput, _ ...func(*awsr53.Options)) (*awsr53.ListResourceRecordSetsOutput, error) {
	f.calls = append(f.calls, "List "+aws.ToString(in.StartRecordName))
	f.sort()
	start := reversedKey(aws.ToString(in.StartRecordName))
	i := 0
	for i < len(f.sets) {
		rs := f.sets[i]
		k := reversedKey(aws.ToString(rs.Name))
		if k > start || (k == start && string(rs.Type) > string(in.StartRecordType)) ||
			(k == start && string(rs.Type) == string(in.StartRecordType) && aws.ToString(rs.SetIdentifier) >= aws.ToString(in.StartRecordIdentifier)) {
			break
		}
		i++
	}
	n := int(aws.ToInt32(in.MaxItems))
	out := &awsr53.ListResourceRecordSetsOutput{}
	end := min(i+n, len(f.sets))
	out.ResourceRecordSets = slices.Clone(f.sets[i:end])
	if end < len(f.sets) {
		nx := f.sets[end]
		out.IsTruncated, out.NextRecordName, out.NextRecordType, out.NextRecordIdentifier = true, nx.Name, nx.Type, nx.SetIdentifier
	}
	return out, nil
}

func (f *fakeClient) ChangeResourceRecordSets(_ context.Context, in *awsr53.ChangeResourceRecordSetsInput, _ ...func(*awsr53.Options)) (*awsr53.ChangeResourceRecordSetsOutput, error) {
	f.calls = append(f.calls, "Change")
	f.batches = append(f.batches, in.ChangeBatch.Changes)
	if f.beforeChange != nil {
		f.beforeChange(f)
		f.beforeChange = nil
	}
	same := func(x, rs types.ResourceRecordSet) bool {
		return policy.CanonicalName(aws.ToString(x.Name)) == policy.CanonicalName(aws.ToString(rs.Name)) && x.Type == rs.Type &&
			aws.ToString(x.SetIdentifier) == aws.ToString(rs.SetIdentifier)
	}
	refuse := func(msg string) (*awsr53.ChangeResourceRecordSetsOutput, error) {
		return nil, &types.InvalidChangeBatch{Message: aws.String("ChangeBatch errors occurred"), Messages: []string{msg}}
	}
	// Changes apply in order to a working copy, all or nothing.
	work := slices.Clone(f.sets)
	for _, c := range in.ChangeBatch.Changes {
		rs := *c.ResourceRecordSet
		if aws.ToString(rs.Name) == f.poison {
			return refuse("poisoned " + f.poison)
		}
		exists := slices.ContainsFunc(work, func(x types.ResourceRecordSet) bool { return same(x, rs) })
		switch c.Action {
		case types.ChangeActionDelete:
			if !slices.ContainsFunc(work, func(x types.ResourceRecordSet) bool { return reflect.DeepEqual(x, rs) }) {
				return refuse("values do not match: " + aws.ToString(rs.Name))
			}
		case types.ChangeActionCreate:
			if exists {
				return refuse("already exists: " + aws.ToString(rs.Name))
			}
		}
		work = slices.DeleteFunc(work, func(x types.ResourceRecordSet) bool { return same(x, rs) })
		if c.Action != types.ChangeActionDelete {
			work = append(work, rs)
		}
	}
	f.sets = work
	return &awsr53.ChangeResourceRecordSetsOutput{ChangeInfo: &types.ChangeInfo{Id: aws.String(fmt.Sprintf("/change/C%d", len(f.batches))), Status: types.ChangeStatusInsync}}, nil
}

func (f *fakeClient) GetChange(_ context.Context, in *awsr53.GetChangeInput, _ ...func(*awsr53.Options)) (*awsr53.GetChangeOutput, error) {
	f.calls = append(f.calls, "GetChange")
	return &awsr53.GetChangeOutput{ChangeInfo: &types.ChangeInfo{Id: in.Id, Status: types.ChangeStatusInsync}}, nil
}

func TestListOwned_readsOnlyOwnedNames(t *testing.T) {
	f := &fakeClient{zoneID: "Z1", zoneName: "example.com."}
	// 1,000 foreign names between two owned ones, a weighted group of 400
	// sets (more than a page) at an owned name, and owned names next to
	// each other.
	for i := range 1000 {
		f.sets = append(f.sets, plainSet(fmt.Sprintf("m%04d.example.com.", i), "", nil, 60, "203.0.113.1"))
	}
	for i := range 400 {
		f.sets = append(f.sets, plainSet("big.example.com.", fmt.Sprintf("s%03d", i), w64(1), 60, "203.0.113.2"))
	}
	f.sets = append(f.sets, plainSet("a.example.com.", "", nil, 60, "198.51.100.1"), plainSet("z1.example.com.", "", nil, 60, "198.51.100.2"),
		plainSet("z2.example.com.", "", nil, 60, "198.51.100.3"), plainSet("a-b.example.com.", "", nil, 60, "198.51.100.4"))
	r, err := New(Config{}, f)
	if err != nil {
		t.Fatal(err)
	}
	owned := []string{"a.example.com.", "big.example.com.", "z1.example.com.", "z2.example.com.", "absent.example.com.", "a-b.example.com."}
	got, err := r.listOwned(t.Context(), "Z1", owned)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for n, sets := range got {
		counts[n] = len(sets)
	}
	want := map[string]int{"a.example.com.": 1, "big.example.com.": 400, "z1.example.com.": 1, "z2.example.com.": 1, "a-b.example.com.": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("record sets by name = %v, want %v", counts, want)
	}
	// Reading the 1,000 foreign names would take at least 4 pages more.
	if n := len(f.calls); n > 6 {
		t.Errorf("%d list calls (%v); want at most 6: foreign names must be skipped", n, f.calls)
	}
}

func TestSend_splitsARefusedBatchByGroup(t *testing.T) {
	f := &fakeClient{zoneID: "Z1", zoneName: "example.com.", poison: "bad.example.com."}
	r, err := New(Config{}, f)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) policy.Route53Group {
		return policy.Route53Group{Pool: name, HostedZoneID: "Z1", Name: name, Type: "A", Style: "simple",
			Sets: []policy.Route53RecordSet{{TTL: 30, Values: []string{"198.51.100.1"}}}}
	}
	groups := []policy.Route53Group{mk("good1.example.com."), mk("bad.example.com."), mk("good2.example.com.")}
	ru := &run{zones: map[zoneRef]zoneInfo{}, applied: map[string]string{}, pending: map[string][]string{}}
	if err := r.pass(t.Context(), ru, groups); err != nil {
		t.Fatalf("pass: %v (a refused batch is reported in status, not retried)", err)
	}
	if len(f.batches) != 4 {
		t.Errorf("%d batches sent, want 4 (one with all three groups, then one per group)", len(f.batches))
	}
	states := map[string]string{}
	for _, s := range r.Status() {
		states[s.Name] = s.State
		if s.Name == "bad.example.com." && !slices.Equal(s.Messages, []string{"poisoned bad.example.com."}) {
			t.Errorf("bad's messages = %q, want Route 53's message", s.Messages)
		}
	}
	want := map[string]string{"good1.example.com.": StateInSync, "bad.example.com.": StateError, "good2.example.com.": StateInSync}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states = %v, want %v", states, want)
	}
}

func TestResolveZone(t *testing.T) {
	f := &fakeClient{zoneID: "Z1", zoneName: "example.com."}
	r, _ := New(Config{}, f)
	ru := &run{zones: map[zoneRef]zoneInfo{}}
	if z, err := r.resolveZone(t.Context(), ru, zoneRef{name: "example.com."}); err != nil || z.id != "Z1" {
		t.Errorf("by name: %+v, %v; want Z1", z, err)
	}
	if _, err := r.resolveZone(t.Context(), ru, zoneRef{name: "ample.com."}); err == nil || !strings.Contains(err.Error(), "no hosted zone is named ample.com.") {
		t.Errorf("by a name that only starts the listing: %v; want no hosted zone", err)
	}
	if _, err := r.resolveZone(t.Context(), ru, zoneRef{id: "Z1", name: "example.org."}); err == nil || !strings.Contains(err.Error(), "is named example.com., not example.org.") {
		t.Errorf("id with the wrong name: %v", err)
	}
	n := len(f.calls)
	if _, err := r.resolveZone(t.Context(), ru, zoneRef{name: "example.com."}); err != nil || len(f.calls) != n {
		t.Errorf("second lookup made calls (%v) or failed (%v); want it cached", f.calls[n:], err)
	}
}

func TestReconcileZone_rereadsAfterAStaleRead(t *testing.T) {
	// Another leader's batch lands between our read and our write: our
	// CREATE is refused, and the name is read and planned again at once.
	f := &fakeClient{zoneID: "Z1", zoneName: "example.com."}
	f.beforeChange = func(f *fakeClient) {
		f.sets = append(f.sets, plainSet("www.example.com.", "", nil, 30, "198.51.100.9"))
	}
	r, err := New(Config{}, f)
	if err != nil {
		t.Fatal(err)
	}
	g := policy.Route53Group{Pool: "www", HostedZoneID: "Z1", Name: "www.example.com.", Type: "A", Style: "simple",
		Sets: []policy.Route53RecordSet{{TTL: 30, Values: []string{"198.51.100.1"}}}}
	ru := &run{zones: map[zoneRef]zoneInfo{}, applied: map[string]string{}, pending: map[string][]string{}}
	if err := r.pass(t.Context(), ru, []policy.Route53Group{g}); err != nil {
		t.Fatal(err)
	}
	if got := summarize(f.batches[len(f.batches)-1]); !slices.Equal(got, []string{"UPSERT www.example.com. ttl=30 198.51.100.1"}) {
		t.Errorf("last batch %q: want the UPSERT planned after reading again", got)
	}
	if st := r.Status(); len(st) != 1 || st[0].State != StateInSync {
		t.Errorf("status %+v: want in sync", st)
	}
}

// BenchmarkFingerprint2000 measures what the reconciler spends on a new
// State to find the names whose records changed: the fingerprints of
// 2,000 groups.
func BenchmarkFingerprint2000(b *testing.B) {
	g := policy.Route53Group{Pool: "p.example.test.", ZoneName: "example.com.", Name: "p.example.com.", Type: "A", Style: "weighted",
		Sets: []policy.Route53RecordSet{
			{SetIdentifier: "use1", Weight: w64(3), TTL: 30, Values: []string{"198.51.100.1", "198.51.100.2"}},
			{SetIdentifier: "euw1", Weight: w64(0), TTL: 30, Values: []string{"203.0.113.1"}},
		}}
	b.ReportAllocs()
	for b.Loop() {
		for range 2000 {
			_ = fingerprint(g)
		}
	}
}

func TestNew_badConfig(t *testing.T) {
	f := &fakeClient{zoneID: "Z1", zoneName: "example.com."}
	for name, tc := range map[string]struct {
		cfg Config
		c   Client
	}{
		"nil client":             {Config{}, nil},
		"negative interval":      {Config{ResyncInterval: -time.Second}, f},
		"batch above Route 53's": {Config{MaxBatchRecords: MaxBatchRecords + 1}, f},
	} {
		if _, err := New(tc.cfg, tc.c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// blockingSource never publishes.
type blockingSource struct{}

func (blockingSource) Watch() (*policy.State, <-chan struct{}) { return nil, nil }

func TestRun_onceAtATime(t *testing.T) {
	r, err := New(Config{}, &fakeClient{zoneID: "Z1", zoneName: "example.com."})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- r.Run(ctx, blockingSource{}) }()
	}
	// Exactly one of the two refuses at once; the other runs until
	// cancelled.
	first := <-done
	cancel()
	second := <-done
	if first == nil || second != nil {
		t.Errorf("runs returned %v, then %v; want one refused at once, then one ended by cancel", first, second)
	}
}

func TestOnlyRefusals(t *testing.T) {
	other := fmt.Errorf("throttled")
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errNotRetried, true},
		{errors.Join(errNotRetried, errNotRetried), true},
		{errors.Join(errNotRetried, other), false},
		{errors.Join(errors.Join(errNotRetried), errors.Join(other)), false},
		{other, false},
	} {
		if got := onlyRefusals(tc.err); got != tc.want {
			t.Errorf("onlyRefusals(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestPlanGroup_converges applies the plan of random live states to a
// fake zone and plans again: one round always reaches the desired records
// (nothing left to change), every DELETE names a live record set exactly
// as read, and records of other names are untouched.
func TestPlanGroup_converges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ips := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.1"}
	randValues := func() []string {
		n := 1 + rng.IntN(3)
		var vs []string
		for range n {
			if v := ips[rng.IntN(len(ips))]; !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
		slices.Sort(vs)
		return vs
	}
	seen := map[string]int{}
	for i := range 500 {
		g := policy.Route53Group{Name: "www.example.com.", Type: "A", Style: "simple", Adopt: rng.IntN(2) == 0}
		ids := []string{"use1", "euw1", "apse2"}
		if rng.IntN(2) == 0 {
			g.Style = "weighted"
			for _, id := range ids[:1+rng.IntN(3)] {
				set := policy.Route53RecordSet{SetIdentifier: id, Weight: w64(int64(rng.IntN(4))), TTL: 30, Values: randValues()}
				if rng.IntN(4) == 0 {
					set = policy.Route53RecordSet{SetIdentifier: id, Weight: set.Weight, Alias: &policy.Route53Alias{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "lb-" + id + ".us-east-1.elb.amazonaws.com."}}
				}
				g.Sets = append(g.Sets, set)
			}
		} else {
			g.Sets = []policy.Route53RecordSet{{TTL: 30, Values: randValues()}}
		}
		f := &fakeClient{zoneID: "Z1", zoneName: "example.com."}
		f.sets = append(f.sets, plainSet("other.example.com.", "", nil, 60, "203.0.113.9"))
		// Live: some of what is wanted, changed at random, plus stale
		// or foreign record sets.
		for _, id := range ids {
			switch rng.IntN(5) {
			case 0:
				f.sets = append(f.sets, plainSet("www.example.com.", id, w64(int64(rng.IntN(3))), int64(30+rng.IntN(2)*30), randValues()...))
			case 1:
				fo := plainSet("www.example.com.", id, nil, 30, randValues()...)
				fo.Failover = types.ResourceRecordSetFailoverPrimary
				f.sets = append(f.sets, fo)
			}
		}
		if rng.IntN(3) == 0 {
			f.sets = append(f.sets, plainSet("www.example.com.", "", nil, int64(30+rng.IntN(2)*30), randValues()...))
		}
		f.sort()
		r, err := New(Config{}, f)
		if err != nil {
			t.Fatal(err)
		}
		ru := &run{zones: map[zoneRef]zoneInfo{}, applied: map[string]string{}, pending: map[string][]string{}}
		g.HostedZoneID = "Z1"
		if err := r.pass(t.Context(), ru, []policy.Route53Group{g}); err != nil {
			t.Fatalf("case %d: pass: %v", i, err)
		}
		live, err := r.listOwned(t.Context(), "Z1", []string{"www.example.com."})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Status()[0]
		p := planGroup(g, live["www.example.com."])
		switch {
		case st.State == StateRefused:
			if g.Adopt || p.refused == "" {
				t.Errorf("case %d: refused with adopt=%v (plan now %+v)", i, g.Adopt, p)
			}
		case st.State != StateInSync || len(p.changes) != 0 || p.refused != "":
			t.Errorf("case %d: state %s %q, left %q", i, st.State, st.Message, summarize(p.changes))
		}
		if v := values0(f, "other.example.com."); v != "203.0.113.9" {
			t.Errorf("case %d: other name changed to %s", i, v)
		}
		switch {
		case st.State == StateRefused:
			seen["refused"]++
		case len(f.batches) == 0:
			seen["already in sync"]++
		case g.Adopt && slices.ContainsFunc(f.batches[0], func(c types.Change) bool { return c.ResourceRecordSet.Failover != "" }):
			seen["adopted"]++
		default:
			seen["changed"]++
		}
	}
	for _, k := range []string{"refused", "already in sync", "adopted", "changed"} {
		if seen[k] == 0 {
			t.Errorf("no case was %s (%v): the generator misses a path", k, seen)
		}
	}
	t.Logf("cases: %v", seen)
}

func values0(f *fakeClient, name string) string {
	for _, rs := range f.sets {
		if aws.ToString(rs.Name) == name && len(rs.ResourceRecords) > 0 {
			return aws.ToString(rs.ResourceRecords[0].Value)
		}
	}
	return ""
}
