package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// classify maps a probe error to a Result class. Errors that say nothing
// specific get fallback, which the caller picks from the phase of the
// probe that failed (a failed TLS handshake is ClassTLS, an unreadable
// HTTP response ClassProtocol).
func classify(err error, fallback string) string {
	var (
		netErr    net.Error
		dnsErr    *net.DNSError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		authErr   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalErr  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassReset
	case errors.As(err, &dnsErr):
		return ClassDNS
	case errors.As(err, &verifyErr), errors.As(err, &recordErr),
		errors.As(err, &alertErr), errors.As(err, &authErr),
		errors.As(err, &hostErr), errors.As(err, &invalErr):
		return ClassTLS
	}
	return fallback
}

// failure returns a failed Result of class c with error text msg.
func failure(c, addr, msg string) Result {
	return Result{Class: c, Address: addr, Error: msg}
}

// success returns a passed Result for addr.
func success(addr string) Result {
	return Result{OK: true, Class: ClassOK, Address: addr}
}
