package metrics

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// errorPeek is how much of an error response's body InstrumentRoute53
// reads to find Route 53's error code; the body is given back whole.
const errorPeek = 8 << 10

// throttleCodes are Route 53 error codes that mean "slow down" rather
// than "this request is wrong".
var throttleCodes = []string{"<Code>Throttling</Code>", "<Code>ThrottlingException</Code>", "<Code>PriorRequestNotComplete</Code>", "<Code>RequestLimitExceeded</Code>"}

// InstrumentRoute53 wraps the HTTP transport of a Route 53 client (next nil
// means http.DefaultTransport) so that every attempt, retries included,
// counts in detour_route53_requests_total by operation
// (ChangeResourceRecordSets, ListResourceRecordSets, GetChange,
// GetHostedZone, ListHostedZonesByName or other) and outcome: ok for a
// 2xx, throttled for a 429 or a Throttling or PriorRequestNotComplete
// error, error for anything else (including transport failures). The
// response reaches the client unchanged.
func (m *Metrics) InstrumentRoute53(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &r53Transport{next: next, m: m}
}

type r53Transport struct {
	next http.RoundTripper
	m    *Metrics
}

// RoundTrip sends req through the wrapped transport and counts it.
func (t *r53Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := route53Operation(req.Method, req.URL.Path)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.m.r53Requests.WithLabelValues(op, "error").Inc()
		return resp, err
	}
	outcome := "ok"
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode == http.StatusTooManyRequests:
		outcome = "throttled"
	default:
		outcome = "error"
		if resp.Body != nil {
			head, rerr := io.ReadAll(io.LimitReader(resp.Body, errorPeek))
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), errReader{rerr}, resp.Body), resp.Body}
			for _, c := range throttleCodes {
				if bytes.Contains(head, []byte(c)) {
					outcome = "throttled"
					break
				}
			}
		}
	}
	t.m.r53Requests.WithLabelValues(op, outcome).Inc()
	return resp, nil
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// errReader returns err (when not nil) where the peeked bytes end, so that
// a body that failed while peeking fails the client's read too.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// route53Operation names the API operation of a Route 53 REST request
// (API version 2013-04-01).
func route53Operation(method, path string) string {
	p := strings.TrimSuffix(path, "/")
	switch {
	case strings.HasSuffix(p, "/rrset") && method == http.MethodPost:
		return "ChangeResourceRecordSets"
	case strings.HasSuffix(p, "/rrset"):
		return "ListResourceRecordSets"
	case strings.Contains(p, "/change/"):
		return "GetChange"
	case strings.HasSuffix(p, "/hostedzonesbyname"):
		return "ListHostedZonesByName"
	case strings.Contains(p, "/hostedzone/") && method == http.MethodGet && strings.Count(p[strings.Index(p, "/hostedzone/")+len("/hostedzone/"):], "/") == 0:
		return "GetHostedZone"
	}
	return "other"
}
