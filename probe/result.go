package probe

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Target identifies one probed endpoint by its pool's name (as written in
// the spec) and the endpoint's name. A Target with an empty Pool names a
// canary; its Endpoint is the canary's address (see CanaryTarget).
type Target struct {
	Pool     string `json:"pool"`
	Endpoint string `json:"endpoint"`
}

// CanaryTarget returns the Target under which the results of the canary
// at addr are kept.
func CanaryTarget(addr string) Target { return Target{Endpoint: addr} }

// IsCanary reports whether t names a canary rather than an endpoint.
func (t Target) IsCanary() bool { return t.Pool == "" }

// String formats t as "pool/endpoint", or "canary/addr".
func (t Target) String() string {
	if t.IsCanary() {
		return "canary/" + t.Endpoint
	}
	return t.Pool + "/" + t.Endpoint
}

// Classes of probe outcomes (Result.Class).
const (
	// ClassOK is a passed probe.
	ClassOK = "ok"
	// ClassTimeout: the probe did not finish within the check's timeout.
	ClassTimeout = "timeout"
	// ClassRefused: the connection was refused (nothing listens there).
	ClassRefused = "refused"
	// ClassReset: the peer reset or closed the connection before
	// answering completely.
	ClassReset = "reset"
	// ClassTLS: the TLS handshake failed (certificate not trusted, wrong
	// name, expired, protocol error).
	ClassTLS = "tls"
	// ClassDNS: a name did not resolve, or a dns check got a wrong rcode,
	// no matching answer or an unreadable reply.
	ClassDNS = "dns"
	// ClassStatus: the HTTP status is not one of expect_status.
	ClassStatus = "status"
	// ClassBody: the body does not match expect_body or
	// expect_body_regex, or is longer than the body limit.
	ClassBody = "body"
	// ClassProtocol: the peer answered something that is not HTTP, or
	// headers longer than 64 KiB.
	ClassProtocol = "protocol"
	// ClassError: any other failure.
	ClassError = "error"
)

// Result is the evidence of one probe.
type Result struct {
	// Time is when the probe started (Config.Now).
	Time time.Time `json:"time"`
	// Duration is how long the probe took.
	Duration time.Duration `json:"duration"`
	// OK reports whether the probe passed.
	OK bool `json:"ok"`
	// Class is ClassOK or the class of the failure.
	Class string `json:"class"`
	// Address is the host:port probed (the failing one, when an endpoint
	// has several addresses).
	Address string `json:"address,omitempty"`
	// Status is the HTTP status code, when a response was read.
	Status int `json:"status,omitempty"`
	// Rcode is the rcode of a dns check's reply.
	Rcode string `json:"rcode,omitempty"`
	// Error says what failed, in words.
	Error string `json:"error,omitempty"`
	// Body holds the first 256 bytes of a failing HTTP response's body
	// (invalid UTF-8 replaced).
	Body string `json:"body,omitempty"`
	// CertExpiryDays is the number of whole days until the server
	// certificate of an https probe expires (negative once expired); nil
	// when no certificate was seen.
	CertExpiryDays *int `json:"cert_expiry_days,omitempty"`
}

// Verdict is a flip of this node's view of one endpoint: the endpoint has
// become healthy or unhealthy in this node's eyes.
type Verdict struct {
	Target
	// Healthy is the new verdict.
	Healthy bool `json:"healthy"`
	// At is the time of the result that decided the verdict.
	At time.Time `json:"at"`
	// Evidence holds the results that made the verdict (the last Rise or
	// Fall results, oldest first).
	Evidence []Result `json:"evidence"`
}

// bodyEvidenceLimit is how much of a failing body a Result keeps.
const bodyEvidenceLimit = 256

// bodyEvidence returns the first bytes of b, as valid UTF-8, for a Result.
func bodyEvidence(b []byte) string {
	if len(b) > bodyEvidenceLimit {
		b = b[:bodyEvidenceLimit]
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
