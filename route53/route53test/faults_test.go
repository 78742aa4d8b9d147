package route53test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func getZone(t *testing.T, c *awsr53.Client, id string) error {
	t.Helper()
	_, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String(id)})
	return err
}

// T1: beyond the configured rate, requests get 400 Throttling "Rate
// exceeded", which the SDK surfaces as a generic API error and retries.
func TestT1_Throttling(t *testing.T) {
	clock := newFakeClock()
	f := newFixture(t, Options{Now: clock.Now, Faults: Faults{ThrottleRate: 5, ThrottleBurst: 5}})
	for i := range 5 {
		if err := getZone(t, f.c, f.zone.ID); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := getZone(t, f.c, f.zone.ID)
	var ge *smithy.GenericAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("6th call: error = %v (%T), want *smithy.GenericAPIError", err, err)
	}
	wantAPIError(t, err, "Throttling", "Rate exceeded")
	wantStatus(t, err, 400)
	clock.Advance(time.Second)
	for i := range 5 {
		if err := getZone(t, f.c, f.zone.ID); err != nil {
			t.Fatalf("call %d after refill: %v", i, err)
		}
	}
	if err := getZone(t, f.c, f.zone.ID); err == nil {
		t.Errorf("call beyond the refilled bucket succeeded")
	}
	calls := f.s.Calls()
	throttled := 0
	for _, c := range calls {
		if c.ErrorCode == "Throttling" {
			throttled++
		}
	}
	if len(calls) != 12 || throttled != 2 {
		t.Errorf("call log: %d calls, %d throttled; want 12 and 2", len(calls), throttled)
	}
	if got := PeakCalls(calls, 0); got != 6 {
		t.Errorf("PeakCalls at one instant = %d, want 6", got)
	}

	t.Run("half throttled, the SDK retries through", func(t *testing.T) {
		if err := f.s.SetFaults(Faults{ThrottleFraction: 0.5}); err != nil {
			t.Fatal(err)
		}
		f.s.ResetCalls()
		c := client(t, f.s, ClientOptions{MaxAttempts: 5, NoBackoff: true})
		for i := range 10 {
			if err := getZone(t, c, f.zone.ID); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		calls := f.s.Calls()
		var attempts []int
		throttled := 0
		for _, c := range calls {
			attempts = append(attempts, c.Attempt)
			if c.ErrorCode == "Throttling" {
				throttled++
			}
		}
		if len(calls) != 19 || throttled != 9 {
			t.Errorf("%d requests, %d throttled; want 19 and 9", len(calls), throttled)
		}
		if attempts[0] != 1 || attempts[1] != 1 || attempts[2] != 2 || calls[0].MaxAttempts != 5 {
			t.Errorf("attempt headers %v (max %d), want 1, 1, 2, ... of 5", attempts[:3], calls[0].MaxAttempts)
		}
	})
	t.Run("a throttled batch is logged with its changes", func(t *testing.T) {
		if err := f.s.SetFaults(Faults{ThrottleFraction: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := submit(t, f.c, f.zone.ID, chg(create, rrA("th.example.test", 60, "198.51.100.1")))
		wantAPIError(t, err, "Throttling", "Rate exceeded")
		calls := f.s.CallsTo("ChangeResourceRecordSets")
		last := calls[len(calls)-1]
		if last.ErrorCode != "Throttling" || last.ZoneID != f.zone.ID || last.Batch == nil || last.Batch.Changes[0].RecordSet.Name != "th.example.test" {
			t.Errorf("logged call = %+v", last)
		}
	})
	t.Run("retry-after header", func(t *testing.T) {
		if err := f.s.SetFaults(Faults{ThrottleFraction: 1, RetryAfter: 1500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		status, h, _ := raw(t, "GET", f.s.URL()+"/2013-04-01/hostedzone/"+f.zone.ID, "")
		if status != 400 || h.Get("X-Amz-Retry-After") != "1500" {
			t.Errorf("status %d, X-Amz-Retry-After %q", status, h.Get("X-Amz-Retry-After"))
		}
	})
}

// T2: PriorRequestNotComplete is a per-zone injectable fault of
// ChangeResourceRecordSets; the SDK retries it.
func TestT2_PriorRequestNotComplete(t *testing.T) {
	f := newFixture(t, Options{})
	other := zoneWith(t, f.s, "example.org")
	f.s.FailPriorRequest(f.zone.ID, 1)
	err := f.rejected(t, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
	var prnc *types.PriorRequestNotComplete
	if !errors.As(err, &prnc) {
		t.Fatalf("error = %v, want PriorRequestNotComplete", err)
	}
	if got := aws.ToString(prnc.Message); got != "The request was rejected because Route 53 was still processing a prior request." {
		t.Errorf("message %q", got)
	}
	wantStatus(t, err, 400)

	f.s.FailPriorRequest(f.zone.ID, 2)
	mustSubmit(t, f.c, other.ID, chg(create, rrA("a.example.org", 60, "198.51.100.1")))
	f.s.ResetCalls()
	retrying := client(t, f.s, ClientOptions{MaxAttempts: 5, NoBackoff: true})
	mustSubmit(t, retrying, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
	var got []string
	for _, c := range f.s.CallsTo("ChangeResourceRecordSets") {
		got = append(got, c.ErrorCode)
	}
	if diff := cmp.Diff([]string{"PriorRequestNotComplete", "PriorRequestNotComplete", ""}, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	for _, c := range f.s.CallsTo("ChangeResourceRecordSets") {
		if c.Batch == nil || len(c.Batch.Changes) != 1 || c.Batch.Changes[0].RecordSet.Name != "a.example.test" || c.ZoneID != f.zone.ID {
			t.Errorf("call %+v does not carry its batch", c)
		}
	}

	t.Run("by fraction", func(t *testing.T) {
		if err := f.s.SetFaults(Faults{PriorRequestFraction: 1}); err != nil {
			t.Fatal(err)
		}
		defer f.s.SetFaults(Faults{})
		if err := getZone(t, f.c, f.zone.ID); err != nil {
			t.Errorf("GetHostedZone hit a ChangeResourceRecordSets fault: %v", err)
		}
		_, err := submit(t, f.c, other.ID, chg(create, rrA("b.example.org", 60, "198.51.100.1")))
		if !errors.As(err, &prnc) {
			t.Errorf("error = %v, want PriorRequestNotComplete", err)
		}
	})
}

// T3: a new zone may answer NoSuchHostedZone for a while.
func TestT3_NewZoneBrieflyMissing(t *testing.T) {
	clock := newFakeClock()
	f := newFixture(t, Options{Now: clock.Now, NewZoneDelay: 30 * time.Second})
	_, err := submit(t, f.c, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) {
		t.Fatalf("error = %v, want NoSuchHostedZone", err)
	}
	if err := getZone(t, f.c, f.zone.ID); !errors.As(err, &nsz) {
		t.Errorf("GetHostedZone: %v, want NoSuchHostedZone", err)
	}
	clock.Advance(30 * time.Second)
	mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
}

// Server errors are retried by the SDK and answered with the chosen status.
func TestFaults_ServerErrors(t *testing.T) {
	f := newFixture(t, Options{Faults: Faults{ServerErrorFraction: 1, ServerErrorStatus: 503}})
	c := client(t, f.s, ClientOptions{MaxAttempts: 3, NoBackoff: true})
	err := getZone(t, c, f.zone.ID)
	wantAPIError(t, err, "ServiceUnavailable", "")
	wantStatus(t, err, 503)
	calls := f.s.Calls()
	if len(calls) != 3 || calls[2].Attempt != 3 || calls[2].Status != 503 {
		t.Errorf("calls = %+v, want 3 attempts answered 503", calls)
	}
	if err := f.s.SetFaults(Faults{ServerErrorFraction: 0.5}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := getZone(t, c, f.zone.ID); err != nil {
			t.Errorf("call %d with half the requests failing: %v", i, err)
		}
	}
}

// Latency delays every answer by at least the configured time.
func TestFaults_Latency(t *testing.T) {
	f := newFixture(t, Options{Faults: Faults{Latency: 40 * time.Millisecond}})
	t0 := time.Now()
	if err := getZone(t, f.c, f.zone.ID); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 40*time.Millisecond {
		t.Errorf("call took %v, want at least 40ms", d)
	}
}

// Bad switches are refused and change nothing.
func TestFaults_Validation(t *testing.T) {
	for _, bad := range []Faults{
		{ThrottleFraction: 1.5}, {ServerErrorFraction: -0.1}, {ThrottleRate: -1}, {ServerErrorStatus: 404}, {Latency: -time.Second},
	} {
		if _, err := New(Options{Faults: bad}); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
	s, err := New(Options{Faults: Faults{ThrottleFraction: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetFaults(Faults{PriorRequestFraction: 2}); err == nil {
		t.Errorf("SetFaults accepted a fraction of 2")
	}
	if got := s.Faults(); got.ThrottleFraction != 0.25 || got.PriorRequestFraction != 0 {
		t.Errorf("Faults after a refused SetFaults = %+v", got)
	}
}
