package route53test

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a manual clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start starts a stand-in with opts and stops it when the test ends.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// client returns a real SDK client for s that closes its idle connections
// when the test ends. The zero ClientOptions here means one attempt per call
// unless co says otherwise, so that error tests see the first answer.
func client(t *testing.T, s *Server, co ClientOptions) *awsr53.Client {
	t.Helper()
	if co.MaxAttempts == 0 {
		co.MaxAttempts = 1
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return s.Client(co, func(o *awsr53.Options) { o.HTTPClient = &http.Client{Transport: tr} })
}

// zoneWith creates a zone through the server (not the API).
func zoneWith(t *testing.T, s *Server, name string) Zone {
	t.Helper()
	z, err := s.CreateZone(name, ZoneConfig{})
	if err != nil {
		t.Fatalf("CreateZone(%q): %v", name, err)
	}
	return z
}

func rrA(name string, ttl int64, values ...string) types.ResourceRecordSet {
	return rrOf(name, types.RRTypeA, ttl, values...)
}

func rrOf(name string, typ types.RRType, ttl int64, values ...string) types.ResourceRecordSet {
	rs := types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(ttl)}
	for _, v := range values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

func weighted(rs types.ResourceRecordSet, id string, w int64) types.ResourceRecordSet {
	rs.SetIdentifier = aws.String(id)
	rs.Weight = aws.Int64(w)
	return rs
}

func alias(name string, typ types.RRType, zoneID, target string, eth bool) types.ResourceRecordSet {
	return types.ResourceRecordSet{Name: aws.String(name), Type: typ,
		AliasTarget: &types.AliasTarget{HostedZoneId: aws.String(zoneID), DNSName: aws.String(target), EvaluateTargetHealth: eth}}
}

func chg(action types.ChangeAction, rs types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: &rs}
}

// submit sends one ChangeResourceRecordSets request.
func submit(t *testing.T, c *awsr53.Client, zoneID string, changes ...types.Change) (*awsr53.ChangeResourceRecordSetsOutput, error) {
	t.Helper()
	return c.ChangeResourceRecordSets(t.Context(), &awsr53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch:  &types.ChangeBatch{Changes: changes},
	})
}

// mustSubmit sends a batch that must succeed.
func mustSubmit(t *testing.T, c *awsr53.Client, zoneID string, changes ...types.Change) *awsr53.ChangeResourceRecordSetsOutput {
	t.Helper()
	out, err := submit(t, c, zoneID, changes...)
	if err != nil {
		t.Fatalf("ChangeResourceRecordSets: %v", err)
	}
	return out
}

// wantBatchError checks that err is an InvalidChangeBatch with exactly msgs.
func wantBatchError(t *testing.T, err error, msgs ...string) {
	t.Helper()
	var icb *types.InvalidChangeBatch
	if !errors.As(err, &icb) {
		t.Fatalf("error = %v (%T), want *types.InvalidChangeBatch", err, err)
	}
	if diff := cmp.Diff(msgs, icb.Messages); diff != "" {
		t.Errorf("InvalidChangeBatch messages (-want +got):\n%s", diff)
	}
	wantStatus(t, err, 400)
}

// wantAPIError checks err's code and, when msg is not "", its message.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want an API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Errorf("error code = %q, want %q (message %q)", ae.ErrorCode(), code, ae.ErrorMessage())
	}
	if msg != "" && ae.ErrorMessage() != msg {
		t.Errorf("error message = %q, want %q", ae.ErrorMessage(), msg)
	}
}

// wantStatus checks the HTTP status behind an SDK error.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want an HTTP response error", err)
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), status)
	}
}

// listAll lists every record set of a zone through the paginator.
func listAll(t *testing.T, c *awsr53.Client, zoneID string, maxItems int32) []types.ResourceRecordSet {
	t.Helper()
	in := &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)}
	if maxItems > 0 {
		in.MaxItems = aws.Int32(maxItems)
	}
	p := awsr53.NewListResourceRecordSetsPaginator(c, in)
	var out []types.ResourceRecordSet
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListResourceRecordSets: %v", err)
		}
		out = append(out, page.ResourceRecordSets...)
	}
	return out
}

// ids renders record sets as "name type setid" for compact comparisons.
func ids(sets []types.ResourceRecordSet) []string {
	var out []string
	for _, r := range sets {
		s := aws.ToString(r.Name) + " " + string(r.Type)
		if r.SetIdentifier != nil {
			s += " " + *r.SetIdentifier
		}
		out = append(out, s)
	}
	return out
}

// values returns the values of a listed record set.
func values(r types.ResourceRecordSet) []string {
	var out []string
	for _, v := range r.ResourceRecords {
		out = append(out, aws.ToString(v.Value))
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger sends the server's logs to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func sortStrings(s []string) { slices.Sort(s) }
