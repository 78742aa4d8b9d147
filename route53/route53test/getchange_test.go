package route53test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

func getChange(t *testing.T, c *awsr53.Client, id string) *types.ChangeInfo {
	t.Helper()
	out, err := c.GetChange(t.Context(), &awsr53.GetChangeInput{Id: aws.String(id)})
	if err != nil {
		t.Fatalf("GetChange(%s): %v", id, err)
	}
	return out.ChangeInfo
}

// G1: a change is PENDING when submitted and INSYNC once the delay passed.
func TestG1_PendingThenInsync(t *testing.T) {
	clock := newFakeClock()
	f := newFixture(t, Options{Now: clock.Now, InsyncDelay: time.Minute})
	out, err := f.c.ChangeResourceRecordSets(t.Context(), &awsr53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(f.zone.ID),
		ChangeBatch:  &types.ChangeBatch{Comment: aws.String("first sync"), Changes: []types.Change{chg(create, rrA("a.example.test", 60, "198.51.100.1"))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ci := out.ChangeInfo
	if ci.Status != types.ChangeStatusPending || !aws.ToTime(ci.SubmittedAt).Equal(clock.Now()) || aws.ToString(ci.Comment) != "first sync" {
		t.Errorf("ChangeInfo = %s %v %q", ci.Status, aws.ToTime(ci.SubmittedAt), aws.ToString(ci.Comment))
	}
	clock.Advance(59 * time.Second)
	if got := getChange(t, f.c, *ci.Id); got.Status != types.ChangeStatusPending || aws.ToString(got.Id) != aws.ToString(ci.Id) {
		t.Errorf("after 59s: %s %s, want PENDING", aws.ToString(got.Id), got.Status)
	}
	clock.Advance(time.Second)
	if got := getChange(t, f.c, *ci.Id); got.Status != types.ChangeStatusInsync {
		t.Errorf("after 60s: %s, want INSYNC", got.Status)
	}

	t.Run("delay 0: the answer is PENDING, GetChange INSYNC", func(t *testing.T) {
		f.s.SetInsyncDelay(0)
		out := mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("b.example.test", 60, "198.51.100.1")))
		if out.ChangeInfo.Status != types.ChangeStatusPending {
			t.Errorf("answer status %s", out.ChangeInfo.Status)
		}
		if got := getChange(t, f.c, *out.ChangeInfo.Id); got.Status != types.ChangeStatusInsync {
			t.Errorf("GetChange status %s", got.Status)
		}
	})
	t.Run("negative delay: PENDING until SyncPending", func(t *testing.T) {
		f.s.SetInsyncDelay(-1)
		f.s.SyncPending() // the zone's own creation change
		out := mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("c.example.test", 60, "198.51.100.1")))
		clock.Advance(24 * time.Hour)
		if got := getChange(t, f.c, *out.ChangeInfo.Id); got.Status != types.ChangeStatusPending {
			t.Errorf("a day later: %s", got.Status)
		}
		if n := f.s.SyncPending(); n != 1 {
			t.Errorf("SyncPending = %d, want 1", n)
		}
		if got := getChange(t, f.c, *out.ChangeInfo.Id); got.Status != types.ChangeStatusInsync {
			t.Errorf("after SyncPending: %s", got.Status)
		}
	})
}

// G2: an unknown change is 404 NoSuchChange; SubmittedAt is ISO 8601 UTC
// with milliseconds.
func TestG2_NoSuchChangeAndTimeFormat(t *testing.T) {
	f := newFixture(t, Options{})
	_, err := f.c.GetChange(t.Context(), &awsr53.GetChangeInput{Id: aws.String("/change/CNOSUCHCHANGE01")})
	var nsc *types.NoSuchChange
	if !errors.As(err, &nsc) {
		t.Fatalf("error = %v, want NoSuchChange", err)
	}
	wantStatus(t, err, 404)

	out := mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
	status, h, body := raw(t, "GET", f.s.URL()+"/2013-04-01/change/"+bareID(*out.ChangeInfo.Id), "")
	if status != 200 || h.Get("Content-Type") != "text/xml" || h.Get("X-Amzn-Requestid") == "" {
		t.Errorf("status %d, headers %v", status, h)
	}
	re := regexp.MustCompile(`<GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C[0-9A-Z]{13}</Id><Status>INSYNC</Status><SubmittedAt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z</SubmittedAt></ChangeInfo></GetChangeResponse>`)
	if !re.MatchString(body) {
		t.Errorf("body %s does not match %s", body, re)
	}
}

// G3: the SDK waiter polls GetChange until INSYNC, and any error ends the
// wait.
func TestG3_Waiter(t *testing.T) {
	f := newFixture(t, Options{InsyncDelay: -1})
	out := mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("a.example.test", 60, "198.51.100.1")))
	w := awsr53.NewResourceRecordSetsChangedWaiter(f.c, func(o *awsr53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	})
	done := make(chan error, 1)
	go func() {
		done <- w.Wait(t.Context(), &awsr53.GetChangeInput{Id: out.ChangeInfo.Id}, 30*time.Second)
	}()
	waitFor(t, 10*time.Second, "the waiter to poll twice", func() bool { return len(f.s.CallsTo("GetChange")) >= 2 })
	f.s.SyncPending()
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}

	if err := w.Wait(t.Context(), &awsr53.GetChangeInput{Id: aws.String("CNOSUCHCHANGE01")}, 30*time.Second); err == nil {
		t.Errorf("waiting on an unknown change succeeded")
	}
	f.s.SetInsyncDelay(-1)
	out = mustSubmit(t, f.c, f.zone.ID, chg(create, rrA("b.example.test", 60, "198.51.100.1")))
	if err := w.Wait(t.Context(), &awsr53.GetChangeInput{Id: out.ChangeInfo.Id}, 100*time.Millisecond); err == nil {
		t.Errorf("waiting on a change held PENDING succeeded")
	}
}
