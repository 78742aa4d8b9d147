package route53_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
	"github.com/detour-dns/detour/route53"
	"github.com/detour-dns/detour/route53/route53test"
)

const (
	r53Change = "ChangeResourceRecordSets"
	r53List   = "ListResourceRecordSets"
)

func TestReconciler_firstSyncCreatesRecords(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{InsyncDelay: -1})
	// Someone else's records: one beside ours, one at our name with
	// another type.
	if _, err := srv.Upsert(zid,
		route53test.RecordSet{Name: "other.example.com.", Type: "A", TTL: aws.Int64(300), ResourceRecords: []string{"203.0.113.200"}},
		route53test.RecordSet{Name: "www.example.com.", Type: "TXT", TTL: aws.Int64(300), ResourceRecords: []string{`"hello"`}},
	); err != nil {
		t.Fatal(err)
	}
	src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)

	// The change stays PENDING until the stand-in says INSYNC.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		st := r.Status()
		return len(st) == 2 && st[0].State == route53.StatePending && st[1].State == route53.StatePending
	}, "both names pending (%s)", statusString(r))
	st := r.Status()
	if st[0].ChangeID == "" || st[0].ChangeID != st[1].ChangeID || st[0].Since.IsZero() {
		t.Errorf("pending status %+v: want one change (one batch per zone) with a time", st)
	}
	if n := len(srv.CallsTo(r53Change)); n != 1 {
		t.Errorf("%d ChangeResourceRecordSets calls, want 1 batch for the zone", n)
	}
	srv.SyncPending()
	waitInSync(t, r, 2, 5*time.Second)

	if got := values(srv, zid, "www.example.com.", "A", ""); got != "198.51.100.1,198.51.100.2" {
		t.Errorf("www A = %s, want the primary's addresses", got)
	}
	rs, ok := srv.RecordSet(zid, "www.example.com.", "A", "")
	if !ok || aws.ToInt64(rs.TTL) != 20 {
		t.Errorf("www TTL = %v, want the pool's 20", rs.TTL)
	}
	if got := values(srv, zid, "api.example.com.", "A", "use1"); got != "alias my-alb-1.us-east-1.elb.amazonaws.com.@Z35SXDOTRQ7X7K" {
		t.Errorf("api use1 = %s", got)
	}
	if got := values(srv, zid, "api.example.com.", "A", "euw1"); got != "alias my-alb-2.eu-west-1.elb.amazonaws.com.@Z32O12XQLNTSW2" {
		t.Errorf("api euw1 = %s", got)
	}
	if w1, w2 := weight(srv, zid, "api.example.com.", "use1"), weight(srv, zid, "api.example.com.", "euw1"); w1 != 70 || w2 != 30 {
		t.Errorf("weights = %d, %d; want 70, 30", w1, w2)
	}
	if got := values(srv, zid, "other.example.com.", "A", ""); got != "203.0.113.200" {
		t.Errorf("other.example.com. = %s; records not in the spec must be untouched", got)
	}
	if got := values(srv, zid, "www.example.com.", "TXT", ""); got != `"hello"` {
		t.Errorf("www TXT = %s; other types at an owned name must be untouched", got)
	}
}

func TestReconciler_failoverIsOneChange(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	spec := loadSpec(t, wwwAndAPI)
	src := newSource(stateWith(spec))
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)
	waitInSync(t, r, 2, 5*time.Second)
	pins := map[string]policy.PoolOverrides{"www.example.test.": {Pin: &policy.Override{Kind: "pin", Pool: "www.example.test.", Endpoint: "use1"}}}

	t.Run("failover: primary down, secondary healthy", func(t *testing.T) {
		srv.ResetCalls()
		src.Publish(stateWith(spec, "www.example.test./use1"))
		testutil.WaitFor(t, 5*time.Second, func() bool {
			return values(srv, zid, "www.example.com.", "A", "") == "203.0.113.1"
		}, "www to point at the secondary")
		waitInSync(t, r, 2, 5*time.Second)
		calls := srv.CallsTo(r53Change)
		if len(calls) != 1 {
			t.Fatalf("%d ChangeResourceRecordSets calls, want exactly 1", len(calls))
		}
		b := calls[0].Batch
		if b == nil || len(b.Changes) != 1 {
			t.Fatalf("batch %+v: want one change", b)
		}
		c := b.Changes[0]
		if c.Action != "UPSERT" || c.RecordSet.Name != "www.example.com." || strings.Join(c.RecordSet.ResourceRecords, ",") != "203.0.113.1" {
			t.Errorf("change %+v: want UPSERT www.example.com. 203.0.113.1", c)
		}
	})
	t.Run("manual failover: pin back to the primary", func(t *testing.T) {
		srv.ResetCalls()
		st := stateWith(spec, "www.example.test./use1")
		st.PoolOverrides = pins
		src.Publish(st)
		testutil.WaitFor(t, 5*time.Second, func() bool {
			return values(srv, zid, "www.example.com.", "A", "") == "198.51.100.1,198.51.100.2"
		}, "www pinned to the primary")
		waitInSync(t, r, 2, 5*time.Second)
		if calls := srv.CallsTo(r53Change); len(calls) != 1 || len(calls[0].Batch.Changes) != 1 || calls[0].Batch.Changes[0].Action != "UPSERT" {
			t.Fatalf("calls %+v: want exactly one call with one UPSERT", calls)
		}
	})
	t.Run("weighted: one load balancer down moves the whole group in one batch", func(t *testing.T) {
		srv.ResetCalls()
		st := stateWith(spec, "www.example.test./use1", "api.example.test./use1")
		st.PoolOverrides = pins // www stays pinned: only api changes
		src.Publish(st)
		testutil.WaitFor(t, 5*time.Second, func() bool { return weight(srv, zid, "api.example.com.", "use1") == 0 }, "use1 weight 0")
		waitInSync(t, r, 2, 5*time.Second)
		calls := srv.CallsTo(r53Change)
		if len(calls) != 1 || len(calls[0].Batch.Changes) != 1 {
			t.Fatalf("calls %+v: want one call with one change (only use1's weight)", calls)
		}
		if w := weight(srv, zid, "api.example.com.", "euw1"); w != 30 {
			t.Errorf("euw1 weight = %d, want 30", w)
		}
	})
	t.Run("all down: weighted fails open to configured weights", func(t *testing.T) {
		src.Publish(stateWith(spec, "api.example.test./use1", "api.example.test./euw1"))
		testutil.WaitFor(t, 5*time.Second, func() bool {
			return weight(srv, zid, "api.example.com.", "use1") == 70 && weight(srv, zid, "api.example.com.", "euw1") == 30
		}, "configured weights")
		waitInSync(t, r, 2, 5*time.Second)
		for _, s := range r.Status() {
			if s.Name == "api.example.com." && !s.FailOpen {
				t.Errorf("api status %+v: want fail_open", s)
			}
		}
	})
	t.Run("a state change that changes no record makes no call", func(t *testing.T) {
		srv.ResetCalls()
		st := stateWith(spec, "api.example.test./use1", "api.example.test./euw1")
		st.Index = 99
		src.Publish(st)
		if testutil.Eventually(300*time.Millisecond, func() bool { return len(srv.Calls()) > 0 }) {
			t.Errorf("calls after an unchanged state: %+v", srv.Calls())
		}
	})
}

func TestReconciler_repairsDriftAtResync(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	if _, err := srv.Upsert(zid, route53test.RecordSet{Name: "other.example.com.", Type: "A", TTL: aws.Int64(300), ResourceRecords: []string{"203.0.113.200"}}); err != nil {
		t.Fatal(err)
	}
	src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
	r, _ := startReconciler(t, route53.Config{ResyncInterval: 200 * time.Millisecond}, sdkClient(t, srv, route53.Options{}), src)
	waitInSync(t, r, 2, 5*time.Second)

	// Someone else edits an owned record, deletes a weighted member, and
	// edits a record that is not in the spec.
	if _, err := srv.Upsert(zid,
		route53test.RecordSet{Name: "www.example.com.", Type: "A", TTL: aws.Int64(300), ResourceRecords: []string{"203.0.113.99"}},
		route53test.RecordSet{Name: "other.example.com.", Type: "A", TTL: aws.Int64(300), ResourceRecords: []string{"203.0.113.201"}},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Delete(zid, "api.example.com.", "A", "euw1"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool {
		return values(srv, zid, "www.example.com.", "A", "") == "198.51.100.1,198.51.100.2" &&
			weight(srv, zid, "api.example.com.", "euw1") == 30
	}, "the owned records repaired at the next resync")
	if rs, _ := srv.RecordSet(zid, "www.example.com.", "A", ""); aws.ToInt64(rs.TTL) != 20 {
		t.Errorf("www TTL = %d after repair, want 20", aws.ToInt64(rs.TTL))
	}
	if got := values(srv, zid, "other.example.com.", "A", ""); got != "203.0.113.201" {
		t.Errorf("other.example.com. = %s; a record not in the spec must keep someone else's edit", got)
	}
	// Listing reads only the owned names: no list call starts anywhere
	// else.
	for _, c := range srv.CallsTo(r53List) {
		if c.Status == 200 && c.Batch != nil {
			t.Errorf("unexpected batch on a list call: %+v", c)
		}
	}
}

func TestReconciler_throttledConvergesWithinTheBucket(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{Zones: []string{"example.net."}})
	if err := srv.SetFaults(route53test.Faults{ThrottleFraction: 0.5}); err != nil {
		t.Fatal(err)
	}
	pools := wwwAndAPI + `
  - name: net.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.net}
    endpoints:
      - {name: a, addresses: [198.51.100.7]}
`
	spec := loadSpec(t, strings.Replace(pools, "route53: {zone_name: example.net}", "route53: {zone_name: example.net, record_name: app.example.net}", 1))
	src := newSource(stateWith(spec))
	const rate, burst = 5, 1
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{Rate: rate, Burst: burst, MaxBackoff: time.Millisecond}), src)
	waitInSync(t, r, 3, 30*time.Second)
	src.Publish(stateWith(spec, "www.example.test./use1"))
	testutil.WaitFor(t, 30*time.Second, func() bool {
		return values(srv, zid, "www.example.com.", "A", "") == "203.0.113.1"
	}, "failover under throttling")
	waitInSync(t, r, 3, 30*time.Second)

	calls := srv.Calls()
	throttled := 0
	for _, c := range calls {
		if c.ErrorCode == "Throttling" {
			throttled++
		}
	}
	if throttled == 0 || throttled*3 < len(calls) {
		t.Errorf("%d of %d calls throttled; want about half", throttled, len(calls))
	}
	for _, w := range []time.Duration{time.Second, 2 * time.Second} {
		limit := burst + int(rate*w.Seconds())
		if peak := route53test.PeakCalls(calls, w); peak > limit {
			t.Errorf("%d calls within %v; the bucket allows %d", peak, w, limit)
		}
	}
	t.Logf("%d calls, %d throttled, peak %d/s", len(calls), throttled, route53test.PeakCalls(calls, time.Second))
}

func TestReconciler_newLeaderMidBatchConverges(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	spec := loadSpec(t, wwwAndAPI)
	src := newSource(stateWith(spec))
	release := srv.HoldChanges()
	defer release()
	r1, stop1 := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)
	testutil.WaitFor(t, 5*time.Second, func() bool { return srv.HeldChanges() == 1 }, "the first leader's batch in flight")
	if st := r1.Status(); len(st) != 2 || st[0].State != route53.StateUnknown || st[1].State != route53.StateUnknown {
		t.Errorf("status with the first batch in flight: %+v; want both names unknown", st)
	}
	stop1() // leadership lost mid-batch
	if st := r1.Status(); len(st) != 0 {
		t.Errorf("old leader status %+v: want none once it stopped", st)
	}

	// The state moves on, and a new leader starts from scratch while the
	// old batch is still in flight.
	src.Publish(stateWith(spec, "www.example.test./use1"))
	r2, _ := startReconciler(t, route53.Config{ResyncInterval: time.Hour}, sdkClient(t, srv, route53.Options{}), src)
	testutil.WaitFor(t, 5*time.Second, func() bool { return srv.HeldChanges() == 2 }, "the new leader's batch in flight too")
	release()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return values(srv, zid, "www.example.com.", "A", "") == "203.0.113.1" && weight(srv, zid, "api.example.com.", "use1") == 70
	}, "the new leader's records (status %s)", statusString(r2))
	waitInSync(t, r2, 2, 10*time.Second)
}

func TestReconciler_2000Pools(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 pools: skipped with -short")
	}
	srv, zid := startStandIn(t, route53test.Options{MaxRecordSetsPerZone: 10000})
	var b strings.Builder
	const simple, weighted = 1900, 100
	for i := range simple {
		fmt.Fprintf(&b, `
  - name: p%04d.example.test.
    policy: failover
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: p%04d.example.com}
    endpoints:
      - {name: use1, priority: 1, addresses: [198.51.100.%d, 198.51.100.%d]}
      - {name: euw1, priority: 2, addresses: [203.0.113.%d]}
`, i, i, i%250+1, (i+1)%250+1, i%250+1)
	}
	for i := range weighted {
		fmt.Fprintf(&b, `
  - name: w%04d.example.test.
    policy: weighted
    check: {type: tcp, port: 80}
    route53: {zone_name: example.com, record_name: w%04d.example.com}
    endpoints:
      - {name: use1, weight: 3, addresses: [198.51.100.%d]}
      - {name: usw2, weight: 2, addresses: [198.51.100.%d]}
      - {name: euw1, weight: 1, addresses: [203.0.113.%d]}
`, i, i, i+1, i+101, i+1)
	}
	spec := loadSpec(t, b.String())
	src := newSource(stateWith(spec))
	start := time.Now()
	r, stop := startReconciler(t, route53.Config{ResyncInterval: time.Hour}, sdkClient(t, srv, route53.Options{}), src)
	waitInSync(t, r, simple+weighted, 60*time.Second)
	elapsed := time.Since(start)

	changes := srv.CallsTo(r53Change)
	batchOf := map[string]int{}
	for i, c := range changes {
		records, chars := 0, 0
		for _, ch := range c.Batch.Changes {
			n, k := len(ch.RecordSet.ResourceRecords), 0
			for _, v := range ch.RecordSet.ResourceRecords {
				k += len(v)
			}
			if ch.Action == "UPSERT" {
				n, k = 2*n, 2*k
			}
			records, chars = records+n, chars+k
			key := ch.RecordSet.Name
			if j, seen := batchOf[key]; seen && j != i {
				t.Errorf("%s split across batches %d and %d", key, j, i)
			}
			batchOf[key] = i
		}
		if records > route53.MaxBatchRecords || chars > route53.MaxBatchChars {
			t.Errorf("batch %d: %d records, %d characters; over the limits", i, records, chars)
		}
		if c.Status != 200 {
			t.Errorf("batch %d answered %d %s %v", i, c.Status, c.ErrorCode, c.ErrorMessages)
		}
	}
	// 1,900 x 2 values + 300 weighted sets = 4,100 records: 5 batches at
	// least.
	if len(changes) > 6 {
		t.Errorf("%d ChangeResourceRecordSets calls; want at most 6", len(changes))
	}
	sets, _ := srv.RecordSets(zid)
	if len(sets) != simple+3*weighted+2 {
		t.Errorf("zone holds %d record sets, want %d", len(sets), simple+3*weighted+2)
	}
	t.Logf("first sync of %d pools: %d calls in all (%d ChangeResourceRecordSets, %d ListResourceRecordSets, %d GetChange), %v",
		simple+weighted, len(srv.Calls()), len(changes), len(srv.CallsTo(r53List)), len(srv.CallsTo("GetChange")), elapsed.Round(time.Millisecond))

	// A failover of every simple pool at once is one UPSERT each, in as
	// few batches.
	srv.ResetCalls()
	var down []string
	for i := range simple {
		down = append(down, fmt.Sprintf("p%04d.example.test./use1", i))
	}
	src.Publish(stateWith(spec, down...))
	testutil.WaitFor(t, 60*time.Second, func() bool {
		return values(srv, zid, fmt.Sprintf("p%04d.example.com.", simple-1), "A", "") == fmt.Sprintf("203.0.113.%d", (simple-1)%250+1)
	}, "every simple pool failed over")
	waitInSync(t, r, simple+weighted, 60*time.Second)
	t.Logf("failover of %d pools: %d calls (%d ChangeResourceRecordSets, %d ListResourceRecordSets)",
		simple, len(srv.Calls()), len(srv.CallsTo(r53Change)), len(srv.CallsTo(r53List)))

	// A new leader reads everything back and finds nothing to change.
	stop()
	srv.ResetCalls()
	r2, _ := startReconciler(t, route53.Config{ResyncInterval: time.Hour}, sdkClient(t, srv, route53.Options{}), src)
	waitInSync(t, r2, simple+weighted, 60*time.Second)
	if n := len(srv.CallsTo(r53Change)); n != 0 {
		t.Errorf("new leader sent %d change batches over records already in sync", n)
	}
	t.Logf("new leader over %d names in sync: %d calls (%d ListResourceRecordSets)", simple+weighted, len(srv.Calls()), len(srv.CallsTo(r53List)))
}

func TestReconciler_adopt(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	legacy := []route53test.RecordSet{
		{Name: "www.example.com.", Type: "A", SetIdentifier: "old-a", Weight: aws.Int64(1), TTL: aws.Int64(60), ResourceRecords: []string{"203.0.113.21"}},
		{Name: "www.example.com.", Type: "A", SetIdentifier: "old-b", Weight: aws.Int64(1), TTL: aws.Int64(60), ResourceRecords: []string{"203.0.113.22"}},
	}
	if _, err := srv.Upsert(zid, legacy...); err != nil {
		t.Fatal(err)
	}
	src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)

	testutil.WaitFor(t, 5*time.Second, func() bool {
		for _, s := range r.Status() {
			if s.Name == "www.example.com." {
				return s.State == route53.StateRefused
			}
		}
		return false
	}, "www refused (status %s)", statusString(r))
	for _, s := range r.Status() {
		if s.Name == "www.example.com." && !strings.Contains(s.Message, "weighted record sets") {
			t.Errorf("refusal message %q should name the other routing policy", s.Message)
		}
	}
	if got := values(srv, zid, "www.example.com.", "A", "old-a"); got != "203.0.113.21" {
		t.Errorf("refused record changed: %s", got)
	}
	if got := values(srv, zid, "www.example.com.", "A", ""); got != "absent" {
		t.Errorf("simple record created beside a refused group: %s", got)
	}

	src.Publish(stateWith(loadSpec(t, strings.Replace(wwwAndAPI, "record_name: www.example.com}", "record_name: www.example.com, adopt: true}", 1))))
	testutil.WaitFor(t, 5*time.Second, func() bool {
		return values(srv, zid, "www.example.com.", "A", "") == "198.51.100.1,198.51.100.2" &&
			values(srv, zid, "www.example.com.", "A", "old-a") == "absent" && values(srv, zid, "www.example.com.", "A", "old-b") == "absent"
	}, "adopted: the weighted sets replaced by ours")
	waitInSync(t, r, 2, 5*time.Second)
}

func TestReconciler_invalidChangeBatchReported(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	// A CNAME at the name blocks an A record set: Route 53 refuses the
	// batch, and the status carries its message.
	if _, err := srv.Upsert(zid, route53test.RecordSet{Name: "www.example.com.", Type: "CNAME", TTL: aws.Int64(60), ResourceRecords: []string{"elsewhere.example.org."}}); err != nil {
		t.Fatal(err)
	}
	src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)
	testutil.WaitFor(t, 5*time.Second, func() bool {
		var www, api string
		for _, s := range r.Status() {
			switch s.Name {
			case "www.example.com.":
				www = s.State
				if s.State == route53.StateError && (len(s.Messages) == 0 || !strings.Contains(s.Messages[0], "CNAME")) {
					t.Errorf("messages %q: want Route 53's CNAME conflict", s.Messages)
				}
			case "api.example.com.":
				api = s.State
			}
		}
		return www == route53.StateError && api == route53.StateInSync
	}, "www in error and api in sync (status %s)", statusString(r))
	if got := values(srv, zid, "www.example.com.", "CNAME", ""); got != "elsewhere.example.org." {
		t.Errorf("the CNAME changed: %s", got)
	}
}

func TestNewSDKClient_defaultChainAndEndpoint(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	c, err := route53.NewSDKClient(t.Context(), route53.Options{Endpoint: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String(zid)}); err != nil {
		t.Fatalf("get hosted zone through the stand-in: %v", err)
	}
	calls := srv.CallsTo("GetHostedZone")
	if len(calls) != 1 || calls[0].SigningScope != "us-east-1/route53" || calls[0].MaxAttempts != route53.DefaultMaxAttempts {
		t.Errorf("calls %+v: want one signed us-east-1/route53 with max %d attempts (ours, not AWS_MAX_ATTEMPTS)", calls, route53.DefaultMaxAttempts)
	}
	if _, err := route53.NewSDKClient(t.Context(), route53.Options{Rate: -1}); err == nil {
		t.Error("negative rate accepted")
	}
}

// TestNewSDKClient_retriesWithoutQuota checks that a long spell of
// throttling never ends in the SDK's "retry quota exceeded".
func TestNewSDKClient_retriesWithoutQuota(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	if err := srv.SetFaults(route53test.Faults{ThrottleFraction: 0.75}); err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, srv, route53.Options{MaxAttempts: 10, MaxBackoff: time.Millisecond})
	for i := range 60 {
		if _, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String(zid)}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := len(srv.CallsTo("GetHostedZone")); n < 4*60-5 {
		t.Errorf("%d attempts for 60 calls; want about 240 (three throttled per success)", n)
	}
}

func TestReconciler_backsOffOnFailure(t *testing.T) {
	srv, _ := startStandIn(t, route53test.Options{})
	spec := loadSpec(t, strings.ReplaceAll(wwwAndAPI, "zone_name: example.com", "zone_name: example.com, hosted_zone_id: ZNOSUCHZONE"))
	src := newSource(stateWith(spec))
	r, _ := startReconciler(t, route53.Config{RetryBase: time.Hour, RetryMax: time.Hour}, sdkClient(t, srv, route53.Options{MaxAttempts: 1}), src)
	testutil.WaitFor(t, 5*time.Second, func() bool {
		st := r.Status()
		return len(st) == 2 && st[0].State == route53.StateError && strings.Contains(st[0].Message, "ZNOSUCHZONE")
	}, "both names in error (status %s)", statusString(r))
	// New states with the same desired records while the backoff runs
	// make no calls; a state that changes a name's records is tried at
	// once.
	for i := range 20 {
		st := stateWith(spec)
		st.Index = uint64(i + 1)
		src.Publish(st)
	}
	src.Publish(stateWith(spec, "www.example.test./use1"))
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(srv.CallsTo("GetHostedZone")) >= 2 }, "the changed name tried")
	if testutil.Eventually(200*time.Millisecond, func() bool { return len(srv.CallsTo("GetHostedZone")) > 2 }) {
		t.Errorf("%d GetHostedZone calls; want 2 (the first pass, then the changed name)", len(srv.CallsTo("GetHostedZone")))
	}
}

func TestReconciler_retriesPriorRequestAnd5xx(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	if err := srv.SetFaults(route53test.Faults{ServerErrorFraction: 0.3, ServerErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	srv.FailPriorRequest(zid, 3)
	src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
	r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)
	waitInSync(t, r, 2, 10*time.Second)
	codes := map[string]int{}
	for _, c := range srv.Calls() {
		codes[c.ErrorCode]++
	}
	if codes["PriorRequestNotComplete"] != 3 || codes[""] == 0 {
		t.Errorf("answers by error code %v: want 3 PriorRequestNotComplete retried to success", codes)
	}
	if got := values(srv, zid, "www.example.com.", "A", ""); got != "198.51.100.1,198.51.100.2" {
		t.Errorf("www = %s", got)
	}
}

func TestReconciler_invalidChangeBatchForms(t *testing.T) {
	for _, form := range []route53test.ErrorForm{route53test.FormInvalidChangeBatch, route53test.FormErrorResponse} {
		t.Run(fmt.Sprintf("form %d", form), func(t *testing.T) {
			srv, zid := startStandIn(t, route53test.Options{ChangeBatchErrorForm: form})
			if _, err := srv.Upsert(zid, route53test.RecordSet{Name: "www.example.com.", Type: "CNAME", TTL: aws.Int64(60), ResourceRecords: []string{"elsewhere.example.org."}}); err != nil {
				t.Fatal(err)
			}
			src := newSource(stateWith(loadSpec(t, wwwAndAPI)))
			r, _ := startReconciler(t, route53.Config{}, sdkClient(t, srv, route53.Options{}), src)
			testutil.WaitFor(t, 5*time.Second, func() bool {
				for _, s := range r.Status() {
					if s.Name == "www.example.com." && s.State == route53.StateError {
						return len(s.Messages) > 0 && strings.Contains(strings.Join(s.Messages, " "), "conflicting RRSet of type CNAME") &&
							strings.Contains(s.Message, "conflicting RRSet of type CNAME")
					}
				}
				return false
			}, "www in error with Route 53's message (status %s)", statusString(r))
		})
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

func TestNewSDKClient_httpClientSeesEveryAttempt(t *testing.T) {
	srv, zid := startStandIn(t, route53test.Options{})
	if err := srv.SetFaults(route53test.Faults{ThrottleFraction: 0.5}); err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{}
	hc := &http.Client{Transport: ct}
	t.Cleanup(hc.CloseIdleConnections)
	c := sdkClient(t, srv, route53.Options{HTTPClient: hc})
	for range 5 {
		if _, err := c.GetHostedZone(t.Context(), &awsr53.GetHostedZoneInput{Id: aws.String(zid)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := ct.n.Load(), int64(len(srv.Calls())); got != want || got < 9 {
		t.Errorf("transport carried %d requests, the stand-in saw %d; want the same, retries included (9: every second request is throttled)", got, want)
	}
}
