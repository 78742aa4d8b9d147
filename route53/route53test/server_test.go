package route53test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/google/go-cmp/cmp"
)

// Out-of-band edits go through the same validation and show up in listings.
func TestServer_OutOfBandEdits(t *testing.T) {
	f := newFixture(t, Options{})
	mustSubmit(t, f.c, f.zone.ID, chg(create, weighted(rrA("app.example.test", 60, "198.51.100.1"), "use1", 10)))
	// Someone else sets the weight to 0.
	ci, err := f.s.Upsert(f.zone.ID, RecordSet{Name: "app.example.test", Type: "A", SetIdentifier: "use1", Weight: ptr[int64](0),
		TTL: ptr[int64](60), ResourceRecords: []string{"198.51.100.1"}})
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	if ci.Status != StatusPending || ci.ID == "" {
		t.Errorf("ChangeInfo = %+v", ci)
	}
	sets := listAll(t, f.c, f.zone.ID, 0)
	if aws.ToInt64(sets[2].Weight) != 0 {
		t.Errorf("weight seen by the client = %d, want 0", aws.ToInt64(sets[2].Weight))
	}
	// An invalid edit is refused with the API's error and changes nothing.
	before := f.snapshot(t)
	_, err = f.s.Edit(f.zone.ID, ChangeBatch{Changes: []Change{
		{Action: ActionCreate, RecordSet: RecordSet{Name: "new.example.test", Type: "A", TTL: ptr[int64](60), ResourceRecords: []string{"198.51.100.9"}}},
		{Action: ActionDelete, RecordSet: RecordSet{Name: "missing.example.test", Type: "A", TTL: ptr[int64](60), ResourceRecords: []string{"198.51.100.9"}}},
	}})
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != "InvalidChangeBatch" || len(apiErr.Messages) != 1 {
		t.Fatalf("Edit error = %v, want InvalidChangeBatch with one message", err)
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("refused edit changed the zone:\n%s", diff)
	}
	if _, err := f.s.Delete(f.zone.ID, "APP.example.test", "A", "use1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := len(listAll(t, f.c, f.zone.ID, 0)); n != 2 {
		t.Errorf("%d record sets after Delete, want 2", n)
	}
	if _, err := f.s.Edit("ZNOSUCHZONE", ChangeBatch{}); !errors.As(err, &apiErr) || apiErr.Code != "NoSuchHostedZone" {
		t.Errorf("Edit on an unknown zone: %v", err)
	}
	if len(f.s.CallsTo("ChangeResourceRecordSets")) != 1 {
		t.Errorf("out-of-band edits appear in the call log")
	}
}

// The call log records every request with its decoded batch.
func TestServer_CallLog(t *testing.T) {
	clock := newFakeClock()
	f := newFixture(t, Options{Now: clock.Now})
	lb := alias("App.example.test", types.RRTypeA, "Z35SXDOTRQ7X7K", "lb-1.us-east-1.elb.amazonaws.com", true)
	lb.SetIdentifier, lb.Weight = aws.String("use1"), aws.Int64(0)
	out, err := f.c.ChangeResourceRecordSets(t.Context(), &awsr53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String("/hostedzone/" + f.zone.ID),
		ChangeBatch: &types.ChangeBatch{Comment: aws.String(`say "hi"`), Changes: []types.Change{
			chg(upsert, lb), chg(create, rrOf("t.example.test", types.RRTypeTxt, 30, `"a&b"`)),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	getChange(t, f.c, *out.ChangeInfo.Id)
	_, _ = submit(t, f.c, f.zone.ID, chg(del, rrA("x.example.test", 60, "198.51.100.1")))

	calls := f.s.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	want := &ChangeBatch{Comment: `say "hi"`, Changes: []Change{
		{Action: ActionUpsert, RecordSet: RecordSet{Name: "App.example.test", Type: "A", SetIdentifier: "use1", Weight: ptr[int64](0),
			AliasTarget: &AliasTarget{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: "lb-1.us-east-1.elb.amazonaws.com", EvaluateTargetHealth: true}}},
		{Action: ActionCreate, RecordSet: RecordSet{Name: "t.example.test", Type: "TXT", TTL: ptr[int64](30), ResourceRecords: []string{`"a&b"`}}},
	}}
	c0 := calls[0]
	if diff := cmp.Diff(want, c0.Batch); diff != "" {
		t.Errorf("decoded batch (-want +got):\n%s", diff)
	}
	if c0.Op != "ChangeResourceRecordSets" || c0.ZoneID != f.zone.ID || c0.ChangeID != bareID(*out.ChangeInfo.Id) ||
		c0.Status != 200 || c0.Attempt != 1 || !c0.Time.Equal(clock.Now().Add(-time.Second)) || c0.Method != "POST" ||
		c0.SigningScope != "us-east-1/route53" {
		t.Errorf("first call = %+v", c0)
	}
	if c := calls[1]; c.Op != "GetChange" || c.ChangeID != c0.ChangeID || c.ZoneID != f.zone.ID {
		t.Errorf("second call = %+v", c)
	}
	if c := calls[2]; c.ErrorCode != "InvalidChangeBatch" || c.Status != 400 || len(c.ErrorMessages) != 1 || c.Batch == nil {
		t.Errorf("third call = %+v", c)
	}
	if got := PeakCalls(calls, 500*time.Millisecond); got != 2 {
		t.Errorf("PeakCalls(500ms) = %d, want 2", got)
	}
}

// Wire details: the trailing-slash path of other SDKs, headers, unknown
// operations, malformed bodies.
func TestServer_WireDetails(t *testing.T) {
	f := newFixture(t, Options{})
	body := `<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><ResourceRecordSet><Type>A</Type><TTL>60</TTL><Name>s.example.test</Name><ResourceRecords><ResourceRecord><Value>198.51.100.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet><Action>CREATE</Action></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
	status, h, resp := raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID+"/rrset/", body)
	if status != 200 || !strings.Contains(resp, "<ChangeResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/C") {
		t.Errorf("trailing slash, elements out of order: status %d body %s", status, resp)
	}
	if h.Get("Content-Type") != "text/xml" || len(h.Get("X-Amzn-Requestid")) != 36 {
		t.Errorf("headers %v", h)
	}
	if _, ok := f.s.RecordSet(f.zone.ID, "s.example.test", "A", ""); !ok {
		t.Errorf("record set not created")
	}
	status, h, resp = raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone",
		`<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>raw.example.test</Name><CallerReference>raw-1</CallerReference></CreateHostedZoneRequest>`)
	if status != 201 || !strings.Contains(h.Get("Location"), "/2013-04-01/hostedzone/Z") || !strings.Contains(resp, "<Name>raw.example.test.</Name>") {
		t.Errorf("CreateHostedZone: %d %v %s", status, h, resp)
	}
	if c := f.s.Calls(); c[len(c)-1].SigningScope != "" {
		t.Errorf("unsigned request has signing scope %q", c[len(c)-1].SigningScope)
	}
	status, _, resp = raw(t, "DELETE", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID, "")
	if status != 404 || !strings.Contains(resp, "<Code>UnknownOperationException</Code>") {
		t.Errorf("unknown operation: %d %s", status, resp)
	}
	status, _, resp = raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID+"/rrset", "<ChangeResourceRecordSetsRequest><ChangeBatch>")
	if status != 400 || !strings.Contains(resp, "<Code>InvalidInput</Code>") || !strings.Contains(resp, "Invalid XML") {
		t.Errorf("truncated XML: %d %s", status, resp)
	}
	status, _, resp = raw(t, "POST", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID+"/rrset",
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>n.example.test</Name><Type>A</Type><TTL>sixty</TTL></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`)
	var er xmlErrorResponse
	if err := xml.Unmarshal([]byte(resp), &er); err != nil || status != 400 ||
		er.Error.Message != "Invalid XML ; cvc-datatype-valid.1.2.1: 'sixty' is not a valid value for 'integer'." {
		t.Errorf("non-numeric TTL: %d %s", status, resp)
	}
	_, err := f.c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String(strings.Repeat("Z", 33))})
	wantAPIError(t, err, "InvalidInput", "")
}

// Run serves until its context ends; the address is logged.
func TestRun(t *testing.T) {
	addrs := make(chan string, 1)
	logger := slog.New(&captureHandler{attr: "addr", out: addrs})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "127.0.0.1:0", Options{Logger: logger, Zones: []string{"example.test", "example.org"}})
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not log its address")
	}
	c := NewClient("http://"+addr, ClientOptions{MaxAttempts: 1})
	out, err := c.ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{})
	if err != nil {
		t.Fatalf("ListHostedZonesByName: %v", err)
	}
	if len(out.HostedZones) != 2 || aws.ToString(out.HostedZones[0].Name) != "example.org." {
		t.Errorf("zones = %+v", out.HostedZones)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := NewClient("http://"+addr, ClientOptions{MaxAttempts: 1}).ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{}); err == nil {
		t.Errorf("server still answers after Run returned")
	}
	if err := Run(t.Context(), "127.0.0.1:0", Options{Zones: []string{"a..b"}}); err == nil {
		t.Errorf("Run with a bad zone name succeeded")
	}
}

// captureHandler sends the value of one attribute to out.
type captureHandler struct {
	attr string
	out  chan<- string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == h.attr {
			select {
			case h.out <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// Start, URL and Close behave across the lifecycle.
func TestServer_Lifecycle(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "" {
		t.Errorf("URL before Start = %q", s.URL())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL())
	}
	if err := s.Start(); err == nil {
		t.Errorf("second Start succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Errorf("Start after Close succeeded")
	}
	if _, err := New(Options{MaxRecordSetsPerZone: -1}); err == nil {
		t.Errorf("New accepted a negative quota")
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		in, want, sortKey string
	}{
		{"Example.Test", "example.test.", "test.example."},
		{"www.example.test.", "www.example.test.", "test.example.www."},
		{"*.example.test", `\052.example.test.`, "test.example.*."},
		{`\052.example.test`, `\052.example.test.`, "test.example.*."},
		{`a\.b.example.test`, `a\056b.example.test.`, "test.example.a.b."},
		{"under_score.example.test", "under_score.example.test.", "test.example.under_score."},
		{".", ".", ""},
	}
	for _, tc := range tests {
		n, err := parseName(tc.in)
		if err != nil {
			t.Errorf("parseName(%q): %v", tc.in, err)
			continue
		}
		if n.String() != tc.want || n.sortKey() != tc.sortKey {
			t.Errorf("parseName(%q) = %q / %q, want %q / %q", tc.in, n.String(), n.sortKey(), tc.want, tc.sortKey)
		}
	}
	for _, bad := range []string{"", "a..b", strings.Repeat("x", 64) + ".test", strings.Repeat("abcdefghi.", 26) + "test"} {
		if _, err := parseName(bad); err == nil {
			t.Errorf("parseName(%q) succeeded", bad)
		}
	}
}

// FuzzParseName checks that the returned form parses back to itself.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"example.test", `\052.a.b`, "A-b_c.", `x\\y`, `\377.test`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseName(s)
		if err != nil {
			return
		}
		again, err := parseName(n.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", n.String(), s, err)
		}
		if again.String() != n.String() || again.sortKey() != n.sortKey() {
			t.Fatalf("%q: %q/%q then %q/%q", s, n.String(), n.sortKey(), again.String(), again.sortKey())
		}
	})
}

// Concurrent batches are serialised: of many CREATEs of one identity,
// exactly one wins, and the others see it.
func TestServer_ConcurrentBatchesAreSerialised(t *testing.T) {
	f := newFixture(t, Options{})
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := submit(t, f.c, f.zone.ID, chg(create, rrA("race.example.test", 60, fmt.Sprintf("198.51.100.%d", i+1))),
				chg(create, rrA(fmt.Sprintf("r%d.example.test", i), 60, "198.51.100.1")))
			errs <- err
		}()
	}
	won := 0
	for range n {
		err := <-errs
		if err == nil {
			won++
			continue
		}
		wantBatchError(t, err, "Tried to create resource record set [name='race.example.test.', type='A'] but it already exists")
	}
	if won != 1 {
		t.Errorf("%d batches won, want 1", won)
	}
	if sets := f.snapshot(t); len(sets) != 4 {
		t.Errorf("zone holds %d record sets, want 4 (apex NS, SOA, the winner's two)", len(sets))
	}
}

// The call log keeps the newest calls within its limit.
func TestServer_CallLogLimit(t *testing.T) {
	f := newFixture(t, Options{CallLogLimit: 3})
	for range 5 {
		if err := getZone(t, f.c, f.zone.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.c.GetChange(t.Context(), &awsr53.GetChangeInput{Id: aws.String("CNOSUCH")}); err == nil {
		t.Fatal("GetChange of an unknown change succeeded")
	}
	calls := f.s.Calls()
	if len(calls) != 3 || calls[2].Op != "GetChange" || calls[0].Op != "GetHostedZone" {
		t.Errorf("calls = %v", calls)
	}
	if _, err := f.s.Delete(f.zone.ID, "Missing.example.test", "A", "w1"); err == nil ||
		!strings.Contains(err.Error(), "[name='missing.example.test.', type='A', set-identifier='w1'] but it was not found") {
		t.Errorf("Delete of a missing set: %v", err)
	}
}

// A held batch whose client has gone away is still applied on release, as
// a batch in flight from a dead leader would be.
func TestServer_HoldChanges(t *testing.T) {
	f := newFixture(t, Options{})
	release := f.s.HoldChanges()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.c.ChangeResourceRecordSets(ctx, &awsr53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(f.zone.ID),
			ChangeBatch:  &types.ChangeBatch{Changes: []types.Change{chg(create, rrA("inflight.example.test", 60, "198.51.100.1"))}},
		})
		done <- err
	}()
	waitFor(t, 10*time.Second, "the batch to be held", func() bool { return f.s.HeldChanges() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled client saw success")
	}
	if _, ok := f.s.RecordSet(f.zone.ID, "inflight.example.test", "A", ""); ok {
		t.Fatal("held batch applied before release")
	}
	release()
	release()
	waitFor(t, 10*time.Second, "the held batch to be applied", func() bool {
		_, ok := f.s.RecordSet(f.zone.ID, "inflight.example.test", "A", "")
		return ok
	})
	if n := f.s.HeldChanges(); n != 0 {
		t.Errorf("HeldChanges = %d after release", n)
	}
	// Not held any more: a batch goes straight through.
	mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("after.example.test", 60, "198.51.100.1")))

	// Close releases what is still held.
	f.s.HoldChanges()
	go func() {
		_, err := submit(t, f.c, f.zone.ID, chg(create, rrA("closing.example.test", 60, "198.51.100.1")))
		done <- err
	}()
	waitFor(t, 10*time.Second, "the second batch to be held", func() bool { return f.s.HeldChanges() == 1 })
	if err := f.s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-done
}
