package route53test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/google/go-cmp/cmp"
)

// listFixture holds names whose order shows every listing rule.
func listFixture(t *testing.T) fixture {
	t.Helper()
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, rrA("z.example.test", 60, "198.51.100.1")),
		chg(create, rrOf("a.example.test", types.RRTypeTxt, 60, `"t"`)),
		chg(create, rrOf("a.example.test", types.RRTypeAaaa, 60, "2001:db8::1")),
		chg(create, weighted(rrA("a.example.test", 60, "198.51.100.2"), "two", 1)),
		chg(create, weighted(rrA("a.example.test", 60, "198.51.100.3"), "one", 1)),
		chg(create, rrA("b.a.example.test", 60, "198.51.100.4")),
		chg(create, rrA("a-b.example.test", 60, "198.51.100.5")),
		chg(create, rrA("*.example.test", 60, "198.51.100.6")),
	)
	return f
}

// listOrder is the expected order of listFixture: names by reversed labels
// compared byte by byte with the trailing dot ("test.example.*." <
// "test.example.a-b." < "test.example.a." < "test.example.a.b."), then type,
// then SetIdentifier.
var listOrder = []string{
	"example.test. NS",
	"example.test. SOA",
	`\052.example.test. A`,
	"a-b.example.test. A",
	"a.example.test. A one",
	"a.example.test. A two",
	"a.example.test. AAAA",
	"a.example.test. TXT",
	"b.a.example.test. A",
	"z.example.test. A",
}

// L1: listing order.
func TestL1_ListingOrder(t *testing.T) {
	f := listFixture(t)
	if diff := cmp.Diff(listOrder, ids(listAll(t, f.c, f.zone.ID, 0))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// L2: name, type and identifier give the start position.
func TestL2_StartPosition(t *testing.T) {
	f := listFixture(t)
	list := func(name string, typ types.RRType, ident string) ([]string, error) {
		in := &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID), StartRecordType: typ}
		if name != "" {
			in.StartRecordName = aws.String(name)
		}
		if ident != "" {
			in.StartRecordIdentifier = aws.String(ident)
		}
		out, err := f.c.ListResourceRecordSets(t.Context(), in)
		if err != nil {
			return nil, err
		}
		return ids(out.ResourceRecordSets), nil
	}
	tests := []struct {
		name, start string
		typ         types.RRType
		ident       string
		from        int // index into listOrder
	}{
		{"name only", "a.example.test", "", "", 4},
		{"name in other case, no dot", "A.Example.Test", "", "", 4},
		// "test.example.aa." sorts after "test.example.a.b.": '.' < 'a'.
		{"name that does not exist", "aa.example.test", "", "", 9},
		{"name between names", "a0.example.test", "", "", 9},
		{"digit sorts after the raw asterisk", "0.example.test", "", "", 3},
		{"name before all but the apex", "!.example.test", "", "", 2},
		{"name and type", "a.example.test", types.RRTypeAaaa, "", 6},
		{"type between types", "a.example.test", types.RRTypeCname, "", 7},
		{"type after the last of the name", "a.example.test", types.RRTypeTxt, "", 7},
		{"identifier inside a weighted group", "a.example.test", types.RRTypeA, "two", 5},
		{"wildcard by escape", `\052.example.test`, "", "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := list(tc.start, tc.typ, tc.ident)
			if err != nil {
				t.Fatalf("ListResourceRecordSets: %v", err)
			}
			if diff := cmp.Diff(listOrder[tc.from:], got); diff != "" {
				t.Errorf("from %s/%s/%s (-want +got):\n%s", tc.start, tc.typ, tc.ident, diff)
			}
		})
	}
	t.Run("identifier without type", func(t *testing.T) {
		_, err := list("a.example.test", "", "one")
		wantAPIError(t, err, "InvalidInput", "")
	})
	t.Run("type without name", func(t *testing.T) {
		_, err := list("", types.RRTypeA, "")
		var inv *types.InvalidInput
		if !errors.As(err, &inv) {
			t.Fatalf("error = %v, want InvalidInput", err)
		}
		wantStatus(t, err, 400)
	})
}

// L3: at most 300 per page; MaxItems echoes the request; Next fields only
// when truncated, NextRecordIdentifier only when the next set has one.
func TestL3_PageSizeAndNextFields(t *testing.T) {
	f := newFixture(t, Options{})
	var changes []types.Change
	for i := range 348 {
		changes = append(changes, chg(create, rrA(fmt.Sprintf("h%03d.example.test", i), 60, "198.51.100.1")))
	}
	mustSubmit(t, f.c, f.zone.ID, changes...)
	mustSubmit(t, f.c, f.zone.ID,
		chg(create, weighted(rrA("w.example.test", 60, "198.51.100.1"), "x", 1)),
		chg(create, weighted(rrA("w.example.test", 60, "198.51.100.1"), "y", 1)))

	out, err := f.c.ListResourceRecordSets(t.Context(), &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID), MaxItems: aws.Int32(1000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceRecordSets) != 300 || !out.IsTruncated || aws.ToInt32(out.MaxItems) != 1000 {
		t.Errorf("got %d sets, truncated %v, MaxItems %d; want 300, true, 1000", len(out.ResourceRecordSets), out.IsTruncated, aws.ToInt32(out.MaxItems))
	}
	if aws.ToString(out.NextRecordName) != "h298.example.test." || out.NextRecordType != types.RRTypeA || out.NextRecordIdentifier != nil {
		t.Errorf("next = %v %v %v", aws.ToString(out.NextRecordName), out.NextRecordType, out.NextRecordIdentifier)
	}
	// Default page size.
	out, err = f.c.ListResourceRecordSets(t.Context(), &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceRecordSets) != 300 || aws.ToInt32(out.MaxItems) != 300 {
		t.Errorf("default page: %d sets, MaxItems %d", len(out.ResourceRecordSets), aws.ToInt32(out.MaxItems))
	}
	// The page before a weighted set carries its identifier.
	out, err = f.c.ListResourceRecordSets(t.Context(), &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID),
		StartRecordName: aws.String("h347.example.test"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.NextRecordName) != "w.example.test." || aws.ToString(out.NextRecordIdentifier) != "x" {
		t.Errorf("next = %v %v", aws.ToString(out.NextRecordName), aws.ToString(out.NextRecordIdentifier))
	}
	// The last page has no Next fields.
	out, err = f.c.ListResourceRecordSets(t.Context(), &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID),
		StartRecordName: aws.String("w.example.test"), MaxItems: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if out.IsTruncated || out.NextRecordName != nil || out.NextRecordType != "" || out.NextRecordIdentifier != nil || len(out.ResourceRecordSets) != 2 {
		t.Errorf("last page: truncated %v next %v/%v/%v, %d sets", out.IsTruncated, out.NextRecordName, out.NextRecordType, out.NextRecordIdentifier, len(out.ResourceRecordSets))
	}
	if n := len(listAll(t, f.c, f.zone.ID, 0)); n != 352 {
		t.Errorf("paginated listing holds %d sets, want 352", n)
	}
}

// L4: listings show PENDING changes at once.
func TestL4_PendingChangesAreListed(t *testing.T) {
	f := newFixture(t, Options{InsyncDelay: -1})
	out := mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("new.example.test", 60, "198.51.100.1")))
	ci, _ := f.s.Change(*out.ChangeInfo.Id)
	if ci.Status != StatusPending {
		t.Fatalf("change status %s, want PENDING", ci.Status)
	}
	if got := ids(listAll(t, f.c, f.zone.ID, 0)); len(got) != 3 || got[2] != "new.example.test. A" {
		t.Errorf("listing = %v, want the pending record set", got)
	}
}

// L5: the SDK paginator crosses a page boundary inside a weighted group, but
// only without StopOnDuplicateToken, which compares NextRecordName alone.
func TestL5_PaginatorInsideWeightedGroup(t *testing.T) {
	f := newFixture(t, Options{})
	for _, id := range []string{"a", "b", "c"} {
		mustSubmit(t, f.c, f.zone.ID, chg(create, weighted(rrA("app.example.test", 60, "198.51.100.1"), id, 1)))
	}
	want := []string{"example.test. NS", "example.test. SOA", "app.example.test. A a", "app.example.test. A b", "app.example.test. A c"}
	if diff := cmp.Diff(want, ids(listAll(t, f.c, f.zone.ID, 1))); diff != "" {
		t.Errorf("paged with MaxItems 1 (-want +got):\n%s", diff)
	}
	p := awsr53.NewListResourceRecordSetsPaginator(f.c, &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone.ID), MaxItems: aws.Int32(1)},
		func(o *awsr53.ListResourceRecordSetsPaginatorOptions) { o.StopOnDuplicateToken = true })
	var got []types.ResourceRecordSet
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.ResourceRecordSets...)
	}
	if len(got) >= len(want) {
		t.Errorf("StopOnDuplicateToken listed all %d sets; the pitfall this test documents has gone", len(got))
	}
}
