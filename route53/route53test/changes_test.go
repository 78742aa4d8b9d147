package route53test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/google/go-cmp/cmp"
)

const (
	create = types.ChangeActionCreate
	del    = types.ChangeActionDelete
	upsert = types.ChangeActionUpsert
)

// fixture is a started server with one zone, example.test, and a client.
type fixture struct {
	s    *Server
	c    *awsr53.Client
	zone Zone
}

func newFixture(t *testing.T, opts Options) fixture {
	t.Helper()
	s := start(t, opts)
	return fixture{s: s, c: client(t, s, ClientOptions{}), zone: zoneWith(t, s, "example.test")}
}

// snapshot returns the zone's record sets, to check that a rejected batch
// changed nothing.
func (f fixture) snapshot(t *testing.T) []RecordSet {
	t.Helper()
	sets, err := f.s.RecordSets(f.zone.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// rejected sends a batch that must fail and checks that it changed nothing.
func (f fixture) rejected(t *testing.T, changes ...types.Change) error {
	t.Helper()
	before := f.snapshot(t)
	_, err := submit(t, f.c, f.zone.ID, changes...)
	if err == nil {
		t.Fatalf("batch accepted, want an error")
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("rejected batch changed the zone (-before +after):\n%s", diff)
	}
	return err
}

// C1: a record set is identified by name, type and SetIdentifier.
func TestC1_RecordIdentityIsNameTypeSetIdentifier(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, weighted(rrA("app.example.test", 60, "198.51.100.1"), "one", 1)),
		chg(create, weighted(rrA("app.example.test", 60, "198.51.100.2"), "two", 1)),
		chg(create, rrOf("app.example.test", types.RRTypeTxt, 60, `"hello"`)),
	)
	got := ids(listAll(t, f.c, f.zone.ID, 0))
	want := []string{"example.test. NS", "example.test. SOA", "app.example.test. A one", "app.example.test. A two", "app.example.test. TXT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("record sets (-want +got):\n%s", diff)
	}
	err := f.rejected(t, chg(create, weighted(rrA("APP.example.test.", 60, "198.51.100.9"), "two", 5)))
	wantBatchError(t, err, "Tried to create resource record set [name='app.example.test.', type='A', set-identifier='two'] but it already exists")
}

// C2: CREATE of an existing identity fails with "already exists".
func TestC2_CreateExistingFails(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("www.example.test", 60, "198.51.100.1")))
	err := f.rejected(t, chg(create, rrA("www.example.test", 300, "198.51.100.2")))
	wantBatchError(t, err, "Tried to create resource record set [name='www.example.test.', type='A'] but it already exists")
}

// C3: DELETE of a missing identity fails with "not found", naming the set
// identifier when there is one.
func TestC3_DeleteMissingFails(t *testing.T) {
	f := newFixture(t, Options{})
	err := f.rejected(t, chg(del, rrA("k.example.test", 60, "198.51.100.1")))
	wantBatchError(t, err, "Tried to delete resource record set [name='k.example.test.', type='A'] but it was not found")
	err = f.rejected(t, chg(del, weighted(rrA("k.example.test", 60, "198.51.100.1"), "srv1", 10)))
	wantBatchError(t, err, "Tried to delete resource record set [name='k.example.test.', type='A', set-identifier='srv1'] but it was not found")
}

// C4: DELETE must match the live record set: TTL, values (as a set), alias
// target and routing fields; MultiValueAnswer may be omitted.
func TestC4_DeleteMustMatchLiveValues(t *testing.T) {
	const mismatch = "Tried to delete resource record set [name='%s', type='A'%s] but the values provided do not match the current values"
	live := weighted(rrA("w.example.test", 60, "198.51.100.1", "198.51.100.2"), "one", 10)
	mv := rrA("mv.example.test", 60, "198.51.100.1")
	mv.SetIdentifier, mv.MultiValueAnswer = aws.String("m1"), aws.Bool(true)
	elb := alias("lb.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "my-lb-1.us-east-1.elb.amazonaws.com", true)
	tests := []struct {
		name    string
		live    types.ResourceRecordSet
		delete  func(types.ResourceRecordSet) types.ResourceRecordSet
		wantErr string
	}{
		{"exact copy", live, func(r types.ResourceRecordSet) types.ResourceRecordSet { return r }, ""},
		{"values in another order", live, func(r types.ResourceRecordSet) types.ResourceRecordSet {
			r.ResourceRecords = []types.ResourceRecord{r.ResourceRecords[1], r.ResourceRecords[0]}
			return r
		}, ""},
		{"other TTL", live, func(r types.ResourceRecordSet) types.ResourceRecordSet { r.TTL = aws.Int64(61); return r },
			fmt.Sprintf(mismatch, "w.example.test.", ", set-identifier='one'")},
		{"missing value", live, func(r types.ResourceRecordSet) types.ResourceRecordSet {
			r.ResourceRecords = r.ResourceRecords[:1]
			return r
		},
			fmt.Sprintf(mismatch, "w.example.test.", ", set-identifier='one'")},
		{"other weight", live, func(r types.ResourceRecordSet) types.ResourceRecordSet { r.Weight = aws.Int64(0); return r },
			fmt.Sprintf(mismatch, "w.example.test.", ", set-identifier='one'")},
		{"multivalue flag omitted", mv, func(r types.ResourceRecordSet) types.ResourceRecordSet { r.MultiValueAnswer = nil; return r }, ""},
		{"alias with other health flag", elb, func(r types.ResourceRecordSet) types.ResourceRecordSet {
			a := *r.AliasTarget
			a.EvaluateTargetHealth = false
			r.AliasTarget = &a
			return r
		}, fmt.Sprintf(mismatch, "lb.example.test.", "")},
		{"alias in other case", elb, func(r types.ResourceRecordSet) types.ResourceRecordSet {
			a := *r.AliasTarget
			a.DNSName = aws.String("MY-LB-1.us-east-1.elb.amazonaws.com.")
			r.AliasTarget = &a
			return r
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			mustSubmit(t, f.c, f.zone.ID, chg(create, tc.live))
			d := tc.delete(tc.live)
			if tc.wantErr != "" {
				wantBatchError(t, f.rejected(t, chg(del, d)), tc.wantErr)
				return
			}
			mustSubmit(t, f.c, f.zone.ID, chg(del, d))
			if n := len(f.snapshot(t)); n != 2 {
				t.Errorf("zone holds %d record sets after DELETE, want 2", n)
			}
		})
	}
}

// C5: UPSERT creates a missing record set and replaces an existing one
// whole.
func TestC5_UpsertCreatesOrReplacesWhole(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID, chg(upsert, weighted(rrA("app.example.test", 60, "198.51.100.1", "198.51.100.2"), "one", 10)))
	mustSubmit(t, f.c, f.zone.ID, chg(upsert, weighted(rrA("app.example.test", 300, "198.51.100.3"), "one", 0)))
	got, ok := f.s.RecordSet(f.zone.ID, "app.example.test", "A", "one")
	if !ok {
		t.Fatal("record set missing after UPSERT")
	}
	want := RecordSet{Name: "app.example.test.", Type: "A", SetIdentifier: "one", Weight: ptr[int64](0), TTL: ptr[int64](300),
		ResourceRecords: []string{"198.51.100.3"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after second UPSERT (-want +got):\n%s", diff)
	}
	// A plain record set upserted into an alias replaces the form too.
	mustSubmit(t, f.c, f.zone.ID, chg(upsert, rrA("web.example.test", 60, "198.51.100.1")))
	mustSubmit(t, f.c, f.zone.ID, chg(upsert, alias("web.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "web-1.us-east-1.elb.amazonaws.com", true)))
	got, _ = f.s.RecordSet(f.zone.ID, "web.example.test", "A", "")
	if got.TTL != nil || got.ResourceRecords != nil || got.AliasTarget == nil {
		t.Errorf("after UPSERT to alias: %+v", got)
	}
}

// C6: a batch with any invalid change applies nothing and reports every
// problem together.
func TestC6_BatchIsAllOrNothing(t *testing.T) {
	for _, form := range []ErrorForm{FormInvalidChangeBatch, FormErrorResponse} {
		t.Run(fmt.Sprintf("error form %d", form), func(t *testing.T) {
			f := newFixture(t, Options{ChangeBatchErrorForm: form})
			mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("old.example.test", 60, "198.51.100.1")))
			err := f.rejected(t,
				chg(create, rrA("new.example.test", 60, "198.51.100.2")),
				chg(create, rrA("old.example.test", 60, "198.51.100.3")),
				chg(del, rrA("gone.example.test", 60, "198.51.100.4")),
			)
			msgs := []string{
				"Tried to create resource record set [name='old.example.test.', type='A'] but it already exists",
				"Tried to delete resource record set [name='gone.example.test.', type='A'] but it was not found",
			}
			if form == FormInvalidChangeBatch {
				wantBatchError(t, err, msgs...)
			} else {
				var icb *types.InvalidChangeBatch
				if !errors.As(err, &icb) {
					t.Fatalf("error = %v, want InvalidChangeBatch", err)
				}
				if len(icb.Messages) != 0 || aws.ToString(icb.Message) != strings.Join(msgs, "; ") {
					t.Errorf("ErrorResponse form: Message %q, Messages %v", aws.ToString(icb.Message), icb.Messages)
				}
				wantStatus(t, err, 400)
			}
			if _, ok := f.s.RecordSet(f.zone.ID, "new.example.test", "A", ""); ok {
				t.Errorf("the valid change of a rejected batch was applied")
			}
		})
	}
}

// C7: changes apply in order to a working copy: DELETE then CREATE of one
// identity works; other repeats are an invalid set of changes.
func TestC7_ChangesApplyInOrder(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID, chg(create, rrOf("ds01.example.test", types.RRTypeCname, 60, "a.example.org")))

	t.Run("delete then create", func(t *testing.T) {
		mustSubmit(t, f.c, f.zone.ID,
			chg(del, rrOf("ds01.example.test", types.RRTypeCname, 60, "a.example.org")),
			chg(create, rrOf("ds01.example.test", types.RRTypeCname, 300, "b.example.org")))
		got, _ := f.s.RecordSet(f.zone.ID, "ds01.example.test", "CNAME", "")
		if !cmp.Equal(got.ResourceRecords, []string{"b.example.org"}) || *got.TTL != 300 {
			t.Errorf("after DELETE+CREATE: %+v", got)
		}
	})
	const invalidSet = "The request contains an invalid set of changes for a resource record set 'CNAME ds01.example.test.'"
	for _, tc := range []struct {
		name  string
		first types.ChangeAction
		then  types.ChangeAction
	}{
		{"delete twice", del, del},
		{"create then delete", create, del},
		{"upsert twice", upsert, upsert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := rrOf("ds01.example.test", types.RRTypeCname, 300, "b.example.org")
			if tc.first == create {
				mustSubmit(t, f.c, f.zone.ID, chg(del, live))
			}
			err := f.rejected(t, chg(tc.first, live), chg(tc.then, live))
			wantBatchError(t, err, invalidSet)
			if tc.first == create {
				mustSubmit(t, f.c, f.zone.ID, chg(create, live))
			}
		})
	}
}

// C8: a name outside the zone is refused.
func TestC8_NameOutsideZoneRefused(t *testing.T) {
	f := newFixture(t, Options{})
	err := f.rejected(t, chg(create, rrA("www.other.org", 60, "198.51.100.1")))
	wantBatchError(t, err, "RRSet with DNS name www.other.org. is not permitted in zone example.test.")
	// A name that merely ends with the zone's text is outside it too.
	err = f.rejected(t, chg(create, rrA("badexample.test", 60, "198.51.100.1")))
	wantBatchError(t, err, "RRSet with DNS name badexample.test. is not permitted in zone example.test.")
}

// C9: a CNAME excludes other types at its name, and is forbidden at the apex.
func TestC9_CNAMEExclusivity(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, rrOf("demo.example.test", types.RRTypeCname, 60, "target.example.org")),
		chg(create, rrA("host.example.test", 60, "198.51.100.1")))

	err := f.rejected(t, chg(create, rrA("demo.example.test", 60, "198.51.100.2")))
	wantBatchError(t, err, "RRSet of type A with DNS name demo.example.test. is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone example.test.")
	err = f.rejected(t, chg(create, rrOf("host.example.test", types.RRTypeCname, 60, "target.example.org")))
	wantBatchError(t, err, "RRSet of type CNAME with DNS name host.example.test. is not permitted as it conflicts with other records with the same DNS name in zone example.test.")
	err = f.rejected(t, chg(create, rrOf("example.test", types.RRTypeCname, 60, "target.example.org")))
	wantBatchError(t, err, "RRSet of type CNAME with DNS name example.test. is not permitted at apex in zone example.test.")

	// Replacing the A by a CNAME in one batch is fine.
	mustSubmit(t, f.c, f.zone.ID,
		chg(del, rrA("host.example.test", 60, "198.51.100.1")),
		chg(create, rrOf("host.example.test", types.RRTypeCname, 60, "target.example.org")))
}

// C10: a request holds at most 1,000 records and 32,000 value characters,
// UPSERT counting twice; a zone holds at most its quota of record sets.
func TestC10_RequestAndZoneLimits(t *testing.T) {
	manyA := func(name string, n int) types.ResourceRecordSet {
		var vals []string
		for i := range n {
			vals = append(vals, fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256))
		}
		return rrA(name, 60, vals...)
	}
	longTXT := func(name string, n int) types.ResourceRecordSet {
		var vals []string
		for i := range n {
			vals = append(vals, fmt.Sprintf(`"%03d%s"`, i, strings.Repeat("x", 995)))
		}
		return rrOf(name, types.RRTypeTxt, 60, vals...)
	}
	const records = "Number of records limit of 1000 exceeded."
	const chars = "RDATA character limit of 32000 exceeded."
	tests := []struct {
		name    string
		changes []types.Change
		want    []string
	}{
		{"1000 records by CREATE", []types.Change{chg(create, manyA("a.example.test", 1000))}, nil},
		{"1001 records by CREATE", []types.Change{chg(create, manyA("a.example.test", 1001))}, []string{records}},
		{"500 records by UPSERT", []types.Change{chg(upsert, manyA("a.example.test", 500))}, nil},
		{"501 records by UPSERT", []types.Change{chg(upsert, manyA("a.example.test", 501))}, []string{records}},
		{"1001 records across changes", []types.Change{chg(create, manyA("a.example.test", 600)), chg(create, manyA("b.example.test", 401))}, []string{records}},
		{"32000 characters by CREATE", []types.Change{chg(create, longTXT("t.example.test", 32))}, nil},
		{"33000 characters by CREATE", []types.Change{chg(create, longTXT("t.example.test", 33))}, []string{chars}},
		{"16000 characters by UPSERT", []types.Change{chg(upsert, longTXT("t.example.test", 16))}, nil},
		{"17000 characters by UPSERT", []types.Change{chg(upsert, longTXT("t.example.test", 17))}, []string{chars}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			if tc.want == nil {
				mustSubmit(t, f.c, f.zone.ID, tc.changes...)
				return
			}
			wantBatchError(t, f.rejected(t, tc.changes...), tc.want...)
		})
	}
	t.Run("zone quota", func(t *testing.T) {
		f := newFixture(t, Options{MaxRecordSetsPerZone: 4})
		mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")), chg(create, rrA("b.example.test", 60, "198.51.100.1")))
		err := f.rejected(t, chg(create, rrA("c.example.test", 60, "198.51.100.1")))
		wantBatchError(t, err, "Exceeded limit MAX_RRSETS_BY_ZONE for zone: "+f.zone.ID)
		// Replacing within the quota is fine.
		mustSubmit(t, f.c, f.zone.ID, chg(del, rrA("b.example.test", 60, "198.51.100.1")), chg(create, rrA("c.example.test", 60, "198.51.100.1")))
	})
}

// C11: field ranges and enums are checked; violations are InvalidInput and
// change nothing.
func TestC11_FieldRangesAndEnums(t *testing.T) {
	base := func() types.ResourceRecordSet { return rrA("f.example.test", 60, "198.51.100.1") }
	with := func(mod func(*types.ResourceRecordSet)) types.ResourceRecordSet {
		r := base()
		mod(&r)
		return r
	}
	tests := []struct {
		name   string
		rs     types.ResourceRecordSet
		wantOK bool
		msg    string // substring of the InvalidInput message
	}{
		{"weight 0", weighted(base(), "s", 0), true, ""},
		{"weight 255", weighted(base(), "s", 255), true, ""},
		{"weight 256", weighted(base(), "s", 256), false, "Member must have value less than or equal to 255"},
		{"weight -1", weighted(base(), "s", -1), false, "Member must have value greater than or equal to 0"},
		{"set identifier of 128", weighted(base(), strings.Repeat("s", 128), 1), true, ""},
		{"set identifier of 129", weighted(base(), strings.Repeat("s", 129), 1), false, "resourceRecordSet.setIdentifier' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"TTL 0", with(func(r *types.ResourceRecordSet) { r.TTL = aws.Int64(0) }), true, ""},
		{"TTL 2147483647", with(func(r *types.ResourceRecordSet) { r.TTL = aws.Int64(2147483647) }), true, ""},
		{"TTL 2147483648", with(func(r *types.ResourceRecordSet) { r.TTL = aws.Int64(2147483648) }), false, "tTL' failed to satisfy constraint"},
		{"TTL -1", with(func(r *types.ResourceRecordSet) { r.TTL = aws.Int64(-1) }), false, "tTL' failed to satisfy constraint"},
		{"no values", with(func(r *types.ResourceRecordSet) { r.ResourceRecords = []types.ResourceRecord{} }), false, "The content of element 'ResourceRecords' is not complete"},
		{"value of 4001", with(func(r *types.ResourceRecordSet) {
			r.Type = types.RRTypeTxt
			r.ResourceRecords = []types.ResourceRecord{{Value: aws.String(`"` + strings.Repeat("v", 3999) + `"`)}}
		}), false, "Member must have length less than or equal to 4000"},
		{"name over 1024 characters", with(func(r *types.ResourceRecordSet) { r.Name = aws.String(strings.Repeat("a.", 507) + "example.test") }), false, "Member must have length less than or equal to 1024"},
		{"failover TERTIARY", with(func(r *types.ResourceRecordSet) { r.SetIdentifier = aws.String("s"); r.Failover = "TERTIARY" }), false, "Member must satisfy enum value set: [PRIMARY, SECONDARY]"},
		{"region eu-west-1", with(func(r *types.ResourceRecordSet) {
			r.SetIdentifier = aws.String("s")
			r.Region = types.ResourceRecordSetRegionEuWest1
		}), true, ""},
		{"region mars-1", with(func(r *types.ResourceRecordSet) { r.SetIdentifier = aws.String("s"); r.Region = "mars-1" }), false, "resourceRecordSet.region' failed to satisfy constraint: Member must satisfy enum value set"},
		{"type BOGUS", with(func(r *types.ResourceRecordSet) { r.Type = "BOGUS" }), false, "Value 'BOGUS' at 'changeBatch.changes.1.member.resourceRecordSet.type'"},
	}
	f := newFixture(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantOK {
				mustSubmit(t, f.c, f.zone.ID, chg(create, tc.rs))
				mustSubmit(t, f.c, f.zone.ID, chg(del, tc.rs))
				return
			}
			err := f.rejected(t, chg(create, tc.rs))
			var inv *types.InvalidInput
			if !errors.As(err, &inv) {
				t.Fatalf("error = %v, want InvalidInput", err)
			}
			if !strings.Contains(aws.ToString(inv.Message), tc.msg) {
				t.Errorf("message %q does not contain %q", aws.ToString(inv.Message), tc.msg)
			}
			wantStatus(t, err, 400)
		})
	}
	t.Run("several violations reported together", func(t *testing.T) {
		r := weighted(base(), "s", 300)
		r.TTL = aws.Int64(-5)
		err := f.rejected(t, chg(create, r))
		var inv *types.InvalidInput
		if !errors.As(err, &inv) || !strings.HasPrefix(aws.ToString(inv.Message), "2 validation errors detected: ") {
			t.Errorf("error = %v, want 2 validation errors", err)
		}
	})
}

// C12: exactly one of alias, TTL+values (or a traffic policy instance).
func TestC12_ExactlyOneOfAliasOrTTLAndValues(t *testing.T) {
	f := newFixture(t, Options{})
	const msg = "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found %s in Change with [Action=CREATE, Name=app.example.test., Type=A, SetIdentifier=null]"
	both := alias("app.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "x.us-east-1.elb.amazonaws.com", true)
	both.TTL = aws.Int64(60)
	none := types.ResourceRecordSet{Name: aws.String("app.example.test"), Type: types.RRTypeA}
	ttlOnly := none
	ttlOnly.TTL = aws.Int64(60)
	for _, tc := range []struct {
		name string
		rs   types.ResourceRecordSet
		want string
	}{
		{"alias and TTL", both, fmt.Sprintf(msg, "more than one")},
		{"neither", none, fmt.Sprintf(msg, "none")},
		{"TTL without values", ttlOnly, fmt.Sprintf(msg, "none")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, f.rejected(t, chg(create, tc.rs)), "InvalidInput", tc.want)
		})
	}
}

// C13: a routing policy needs a SetIdentifier, and a SetIdentifier needs
// exactly one policy.
func TestC13_RoutingPolicyNeedsSetIdentifier(t *testing.T) {
	f := newFixture(t, Options{})
	noID := rrA("x.example.test", 60, "198.51.100.1")
	noID.Weight = aws.Int64(10)
	err := f.rejected(t, chg(upsert, noID))
	wantAPIError(t, err, "InvalidInput", "Invalid request: Missing field 'SetIdentifier' in Change with [Action=UPSERT, Name=x.example.test., Type=A, SetIdentifier=null]")

	noPolicy := rrA("x.example.test", 60, "198.51.100.1")
	noPolicy.SetIdentifier = aws.String("s1")
	err = f.rejected(t, chg(upsert, noPolicy))
	wantAPIError(t, err, "InvalidInput", "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, or MultiValueAnswer], but found none in Change with [Action=UPSERT, Name=x.example.test., Type=A, SetIdentifier=s1]")

	two := weighted(rrA("x.example.test", 60, "198.51.100.1"), "s1", 10)
	two.Region = types.ResourceRecordSetRegionUsEast1
	err = f.rejected(t, chg(upsert, two))
	wantAPIError(t, err, "InvalidInput", "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, or MultiValueAnswer], but found more than one in Change with [Action=UPSERT, Name=x.example.test., Type=A, SetIdentifier=s1]")
}

// C14: one name and type hold record sets of one routing policy only.
func TestC14_NoMixingOfPolicies(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, rrOf("simple.example.test", types.RRTypeCname, 60, "a.example.org")),
		chg(create, weighted(rrA("w.example.test", 60, "198.51.100.1"), "one", 1)))

	err := f.rejected(t, chg(create, weighted(rrOf("simple.example.test", types.RRTypeCname, 60, "b.example.org"), "one", 1)))
	wantBatchError(t, err, "RRSet with DNS name simple.example.test., type CNAME, SetIdentifier one cannot be created as a non-weighted set exists with the same name and type.")
	err = f.rejected(t, chg(create, rrA("w.example.test", 60, "198.51.100.2")))
	wantBatchError(t, err, "RRSet with DNS name w.example.test., type A cannot be created as other RRSets exist with the same name and type.")
	lat := rrA("w.example.test", 60, "198.51.100.2")
	lat.SetIdentifier, lat.Region = aws.String("use1"), types.ResourceRecordSetRegionUsEast1
	err = f.rejected(t, chg(create, lat))
	wantBatchError(t, err, "RRSet with DNS name w.example.test., type A, SetIdentifier use1 cannot be created as a non-latency set exists with the same name and type.")
}

// C15: the members of a weighted group share one TTL; at most 100 members.
func TestC15_WeightedGroupSameTTLAndAtMost100(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID, chg(create, weighted(rrA("w.example.test", 60, "198.51.100.1"), "a", 1)))
	err := f.rejected(t, chg(create, weighted(rrA("w.example.test", 300, "198.51.100.2"), "b", 1)))
	wantBatchError(t, err, "RRSet with DNS name w.example.test. and type A, SetIdentifier b cannot be created as weighted sets must contain the same TTL.")
	// The whole group may change TTL in one batch.
	mustSubmit(t, f.c, f.zone.ID,
		chg(upsert, weighted(rrA("w.example.test", 300, "198.51.100.1"), "a", 1)),
		chg(create, weighted(rrA("w.example.test", 300, "198.51.100.2"), "b", 1)))

	var changes []types.Change
	for i := range 99 {
		changes = append(changes, chg(create, weighted(rrA("many.example.test", 60, "198.51.100.1"), fmt.Sprint("s", i), 1)))
	}
	mustSubmit(t, f.c, f.zone.ID, changes[:98]...)
	mustSubmit(t, f.c, f.zone.ID, changes[98:]...)
	mustSubmit(t, f.c, f.zone.ID, chg(create, weighted(rrA("many.example.test", 60, "198.51.100.1"), "s99", 1)))
	err = f.rejected(t, chg(create, weighted(rrA("many.example.test", 60, "198.51.100.1"), "s100", 1)))
	wantBatchError(t, err, "Exceeded limit on number of weighted RRSets for many.example.test., type A in this zone.")
}

// C16: one latency record set per region for a name and type.
func TestC16_LatencyOnePerRegion(t *testing.T) {
	f := newFixture(t, Options{})
	lat := func(id string, region types.ResourceRecordSetRegion) types.ResourceRecordSet {
		r := rrA("lat.example.test", 60, "198.51.100.1")
		r.SetIdentifier, r.Region = aws.String(id), region
		return r
	}
	mustSubmit(t, f.c, f.zone.ID, chg(create, lat("a", types.ResourceRecordSetRegionEuWest1)), chg(create, lat("b", types.ResourceRecordSetRegionUsEast1)))
	err := f.rejected(t, chg(create, lat("c", types.ResourceRecordSetRegionEuWest1)))
	wantBatchError(t, err, "RRSet with DNS name lat.example.test., type A, SetIdentifier c, and Region Name=eu-west-1 cannot be created because a latency RRSet with the same name, type and region already exists.")
}

// C17: failover record sets come as one PRIMARY and one SECONDARY; failover
// aliases must evaluate target health.
func TestC17_FailoverPair(t *testing.T) {
	f := newFixture(t, Options{})
	fo := func(id string, role types.ResourceRecordSetFailover) types.ResourceRecordSet {
		r := rrA("fo.example.test", 60, "198.51.100.1")
		r.SetIdentifier, r.Failover = aws.String(id), role
		return r
	}
	mustSubmit(t, f.c, f.zone.ID, chg(create, fo("p", types.ResourceRecordSetFailoverPrimary)), chg(create, fo("s", types.ResourceRecordSetFailoverSecondary)))
	err := f.rejected(t, chg(create, fo("p2", types.ResourceRecordSetFailoverPrimary)))
	wantBatchError(t, err, "RRSet with DNS name fo.example.test., type A, SetIdentifier p2, and Failover PRIMARY cannot be created because a failover RRSet with the same name, type and failover value already exists.")

	fa := alias("fa.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "lb-1.us-east-1.elb.amazonaws.com", false)
	fa.SetIdentifier, fa.Failover = aws.String("p"), types.ResourceRecordSetFailoverPrimary
	wantAPIError(t, f.rejected(t, chg(create, fa)), "InvalidInput", "")
	fa.AliasTarget.EvaluateTargetHealth = true
	mustSubmit(t, f.c, f.zone.ID, chg(create, fa))
}

// C18: a HealthCheckId must name an existing health check.
func TestC18_UnknownHealthCheck(t *testing.T) {
	f := newFixture(t, Options{})
	r := weighted(rrA("hc.example.test", 60, "198.51.100.1"), "a", 1)
	r.HealthCheckId = aws.String("abcdef01-2345-6789-abcd-ef0123456789")
	err := f.rejected(t, chg(create, r))
	var nhc *types.NoSuchHealthCheck
	if !errors.As(err, &nhc) {
		t.Fatalf("error = %v, want NoSuchHealthCheck", err)
	}
	wantStatus(t, err, 404)
	f.s.AddHealthCheck(*r.HealthCheckId)
	mustSubmit(t, f.c, f.zone.ID, chg(create, r))
}

// C19: geolocation: "*" is the default location, locations are unique per
// name and type, a location is a continent or a country.
func TestC19_GeoLocation(t *testing.T) {
	f := newFixture(t, Options{})
	geo := func(id string, loc types.GeoLocation) types.ResourceRecordSet {
		r := rrA("geo.example.test", 60, "198.51.100.1")
		r.SetIdentifier, r.GeoLocation = aws.String(id), &loc
		return r
	}
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, geo("default", types.GeoLocation{CountryCode: aws.String("*")})),
		chg(create, geo("de", types.GeoLocation{CountryCode: aws.String("DE")})),
		chg(create, geo("eu", types.GeoLocation{ContinentCode: aws.String("EU")})))
	err := f.rejected(t, chg(create, geo("de2", types.GeoLocation{CountryCode: aws.String("DE")})))
	wantBatchError(t, err, "RRSet with DNS name geo.example.test., type A, SetIdentifier de2, and GeoLocation [ContinentCode=, CountryCode=DE, SubdivisionCode=] cannot be created because a geolocation RRSet with the same name, type and location already exists.")
	err = f.rejected(t, chg(create, geo("both", types.GeoLocation{ContinentCode: aws.String("EU"), CountryCode: aws.String("FR")})))
	wantAPIError(t, err, "InvalidInput", "")
	got, _ := f.s.RecordSet(f.zone.ID, "geo.example.test", "A", "default")
	if got.GeoLocation == nil || got.GeoLocation.CountryCode != "*" {
		t.Errorf("default location stored as %+v", got.GeoLocation)
	}
}

// Values are checked for the types detour writes, and duplicates refused.
func TestChangeBatch_ValueChecks(t *testing.T) {
	f := newFixture(t, Options{})
	for _, tc := range []struct {
		name string
		rs   types.ResourceRecordSet
		want string
	}{
		{"bad IPv4", rrA("v.example.test", 60, "198.51.100"), "Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '198.51.100''"},
		{"IPv6 in A", rrA("v.example.test", 60, "2001:db8::1"), "Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '2001:db8::1''"},
		{"IPv4 in AAAA", rrOf("v.example.test", types.RRTypeAaaa, 60, "198.51.100.1"), "Invalid Resource Record: 'FATAL problem: AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with '198.51.100.1''"},
		{"unquoted TXT", rrOf("v.example.test", types.RRTypeTxt, 60, "hello"), "Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'hello''"},
		{"duplicate value", rrA("v.example.test", 60, "198.51.100.1", "198.51.100.1"), "Duplicate Resource Record: '198.51.100.1'"},
		{"two CNAME values", rrOf("v.example.test", types.RRTypeCname, 60, "a.example.org", "b.example.org"), "RRSet of type CNAME with DNS name v.example.test. has more than one resource record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantBatchError(t, f.rejected(t, chg(create, tc.rs)), tc.want)
		})
	}
}

// The apex SOA and NS record sets cannot be deleted.
func TestChangeBatch_ApexRecordsStay(t *testing.T) {
	f := newFixture(t, Options{})
	sets := f.snapshot(t)
	var ns RecordSet
	for _, r := range sets {
		if r.Type == "NS" {
			ns = r
		}
	}
	d := rrOf(ns.Name, types.RRTypeNs, *ns.TTL, ns.ResourceRecords...)
	err := f.rejected(t, chg(del, d))
	wantBatchError(t, err, "A HostedZone must contain at least one NS record for the zone itself.")
	// Replacing the apex NS values is fine.
	mustSubmit(t, f.c, f.zone.ID, chg(upsert, rrOf(ns.Name, types.RRTypeNs, 3600, "ns1.example.org.", "ns2.example.org.")))
}
