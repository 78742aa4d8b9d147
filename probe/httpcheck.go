package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/detour-dns/detour/policy"
)

// checker runs one kind of probe against one endpoint. A job calls check
// for one probe at a time; ctx carries the probe's deadline. check fills
// every field of the Result except Time and Duration.
type checker interface {
	check(ctx context.Context) Result
}

// dialFunc opens a connection, like net.Dialer.DialContext.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// httpChecker sends one HTTP/1.1 request over a fresh connection (TLS for
// https) to each address and checks the status and body.
type httpChecker struct {
	dial      dialFunc
	now       func() time.Time
	addrs     []string
	method    string
	request   []byte         // the rendered request, shared read-only
	tls       *tls.Config    // nil for plain http; cloned per probe
	skipTLS   bool           // tls_skip_verify
	roots     *x509.CertPool // nil: the system roots
	expect    []policy.StatusRange
	body      string
	re        *regexp.Regexp
	bodyLimit int64
	readers   *sync.Pool // of *bufio.Reader, shared by the prober's checks
}

var _ checker = (*httpChecker)(nil)

// check probes every address in turn and returns the first failure, or a
// success carrying the earliest certificate expiry seen.
func (h *httpChecker) check(ctx context.Context) Result {
	var res Result
	var expiry *int
	for _, addr := range h.addrs {
		res = h.checkOne(ctx, addr)
		if !res.OK {
			return res
		}
		if res.CertExpiryDays != nil && (expiry == nil || *res.CertExpiryDays < *expiry) {
			expiry = res.CertExpiryDays
		}
	}
	if len(h.addrs) > 1 {
		res.Address = strings.Join(h.addrs, ",")
	}
	res.CertExpiryDays = expiry
	return res
}

// checkOne probes one address.
func (h *httpChecker) checkOne(ctx context.Context, addr string) Result {
	conn, err := h.dial(ctx, "tcp", addr)
	if err != nil {
		return failure(classify(err, ClassError), addr, fmt.Sprintf("connect: %v", err))
	}
	abortOnClose(conn)
	defer conn.Close()
	stop := watchDeadline(ctx, conn)
	defer stop()

	var expiry *int
	var c net.Conn = conn
	if h.tls != nil {
		var notAfter time.Time
		cfg := h.tls.Clone()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("server sent no certificate")
			}
			notAfter = cs.PeerCertificates[0].NotAfter
			if h.skipTLS {
				return nil
			}
			return verifyChain(cs, h.roots)
		}
		tc := tls.Client(conn, cfg)
		err := tc.HandshakeContext(ctx)
		if !notAfter.IsZero() {
			days := int(math.Floor(notAfter.Sub(h.now()).Hours() / 24))
			expiry = &days
		}
		if err != nil {
			r := failure(classify(err, ClassTLS), addr, fmt.Sprintf("tls handshake: %v", err))
			r.CertExpiryDays = expiry
			return r
		}
		c = tc
	}

	if _, err := c.Write(h.request); err != nil {
		r := failure(classify(err, ClassError), addr, fmt.Sprintf("send request: %v", err))
		r.CertExpiryDays = expiry
		return r
	}
	// Headers are capped like the body: a peer that sends headers
	// forever fails the probe instead of filling the heap.
	src := &cappedReader{r: c, left: maxHeaderBytes + h.bodyLimit + 1}
	br, _ := h.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(src, 4096)
	} else {
		br.Reset(src)
	}
	defer func() {
		br.Reset(nil)
		h.readers.Put(br)
	}()
	resp, err := http.ReadResponse(br, &http.Request{Method: h.method})
	if err != nil {
		r := failure(classify(err, ClassProtocol), addr, fmt.Sprintf("read response: %v", err))
		r.CertExpiryDays = expiry
		return r
	}
	// The body is not closed: closing it would drain it to the end, and
	// the deferred conn.Close releases everything anyway.
	r := h.judge(resp, addr)
	r.CertExpiryDays = expiry
	return r
}

// judge reads at most bodyLimit bytes of the body and checks status and
// body against the expectations.
func (h *httpChecker) judge(resp *http.Response, addr string) Result {
	statusGood := statusOK(h.expect, resp.StatusCode)
	limit := h.bodyLimit
	if !statusGood || resp.ContentLength > limit {
		// Failed already: read just enough for the evidence.
		limit = bodyEvidenceLimit - 1
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, limit+1))

	if !statusGood {
		r := failure(ClassStatus, addr, fmt.Sprintf("status %d, want %s", resp.StatusCode, statusList(h.expect)))
		r.Status = resp.StatusCode
		r.Body = bodyEvidence(body)
		return r
	}
	var r Result
	switch {
	case resp.ContentLength > h.bodyLimit:
		r = failure(ClassBody, addr, fmt.Sprintf("body of %d bytes is longer than the limit of %d", resp.ContentLength, h.bodyLimit))
	case readErr != nil:
		r = failure(classify(readErr, ClassProtocol), addr, fmt.Sprintf("read body: %v", readErr))
	case int64(len(body)) > h.bodyLimit:
		r = failure(ClassBody, addr, fmt.Sprintf("body is longer than the limit of %d bytes", h.bodyLimit))
	case h.body != "" && !bytes.Contains(body, []byte(h.body)):
		r = failure(ClassBody, addr, fmt.Sprintf("body does not contain %q", h.body))
	case h.re != nil && !h.re.Match(body):
		r = failure(ClassBody, addr, fmt.Sprintf("body does not match %q", h.re.String()))
	default:
		r = success(addr)
		r.Status = resp.StatusCode
		return r
	}
	r.Status = resp.StatusCode
	r.Body = bodyEvidence(body)
	return r
}

// maxHeaderBytes bounds the status line and headers of a response.
const maxHeaderBytes = 64 << 10

// errResponseTooLarge is what a cappedReader returns past its limit.
var errResponseTooLarge = errors.New("response larger than its limit")

// cappedReader reads from r until left bytes have been read, then fails
// with errResponseTooLarge.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// statusOK reports whether code is in one of the ranges.
func statusOK(ranges []policy.StatusRange, code int) bool {
	for _, r := range ranges {
		if r.Contains(code) {
			return true
		}
	}
	return false
}

// statusList formats ranges as written in a spec ("2xx, 301").
func statusList(ranges []policy.StatusRange) string {
	s := make([]string, len(ranges))
	for i, r := range ranges {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// verifyChain verifies the peer's certificate chain and name the way
// crypto/tls does by default, against roots (nil: the system roots).
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	opts := x509.VerifyOptions{
		Roots:         roots,
		DNSName:       cs.ServerName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// abortOnClose makes closing conn reset it (SO_LINGER 0) when it is TCP:
// a probe connection is never reused, and a reset leaves no TIME_WAIT
// socket behind on this node, which matters at thousands of probes a
// second.
func abortOnClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// watchDeadline applies ctx's deadline to conn, and expires conn at once
// when ctx is cancelled earlier (the prober shutting down). The returned
// stop function releases the watch.
func watchDeadline(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}
