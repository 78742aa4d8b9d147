package route53test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// Faults are the switches that make the stand-in misbehave the way Route 53
// does under load. The zero value injects nothing. Every request that
// reaches the server over HTTP is subject to them, in this order: Latency,
// ThrottleRate, ThrottleFraction, ServerErrorFraction, then (for
// ChangeResourceRecordSets only) PriorRequestFraction. Fractions are applied
// deterministically: with a fraction f, the n-th eligible request fails
// when floor(n·f) > floor((n-1)·f), so 0.5 fails every second request and 1
// fails all of them. Seeding and out-of-band edits made with Server methods
// are never subject to faults.
type Faults struct {
	// ThrottleRate, when positive, is the number of requests per second the
	// account may make; requests beyond it (after a burst of ThrottleBurst)
	// get 400 Throttling "Rate exceeded" (T1). Throttled requests take no
	// token.
	ThrottleRate float64
	// ThrottleBurst is the bucket size for ThrottleRate; 0 means
	// max(1, ceil(ThrottleRate)).
	ThrottleBurst int
	// ThrottleFraction, in [0, 1], is the share of requests throttled
	// regardless of rate.
	ThrottleFraction float64
	// RetryAfter, when positive, is sent on throttling answers as the
	// X-Amz-Retry-After header (whole milliseconds), which the SDK honours.
	RetryAfter time.Duration
	// PriorRequestFraction, in [0, 1], is the share of
	// ChangeResourceRecordSets requests answered with
	// PriorRequestNotComplete (T2). Server.FailPriorRequest injects it per
	// zone instead.
	PriorRequestFraction float64
	// ServerErrorFraction, in [0, 1], is the share of requests answered
	// with a server error.
	ServerErrorFraction float64
	// ServerErrorStatus is the status of those errors: 500 (the default),
	// 502, 503 or 504.
	ServerErrorStatus int
	// Latency is added before every request is handled.
	Latency time.Duration
}

// validate says what is wrong with f, if anything.
func (f Faults) validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{{"ThrottleFraction", f.ThrottleFraction}, {"PriorRequestFraction", f.PriorRequestFraction}, {"ServerErrorFraction", f.ServerErrorFraction}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			errs = append(errs, fmt.Errorf("faults: %s %v is outside [0, 1]", p.name, p.v))
		}
	}
	if math.IsNaN(f.ThrottleRate) || math.IsInf(f.ThrottleRate, 0) || f.ThrottleRate < 0 {
		errs = append(errs, fmt.Errorf("faults: ThrottleRate %v must be a finite number >= 0", f.ThrottleRate))
	}
	if f.ThrottleBurst < 0 {
		errs = append(errs, fmt.Errorf("faults: ThrottleBurst %d must be >= 0", f.ThrottleBurst))
	}
	switch f.ServerErrorStatus {
	case 0, 500, 502, 503, 504:
	default:
		errs = append(errs, fmt.Errorf("faults: ServerErrorStatus %d must be 500, 502, 503 or 504", f.ServerErrorStatus))
	}
	if f.Latency < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("faults: Latency and RetryAfter must be >= 0"))
	}
	return errors.Join(errs...)
}

// faultState is the running state of the switches. It is guarded by
// Server.mu.
type faultState struct {
	f        Faults
	limiter  *rate.Limiter // nil when ThrottleRate is 0
	throttle fraction
	server   fraction
	prior    fraction
	// priorByZone counts the PriorRequestNotComplete answers still to give
	// per zone.
	priorByZone map[string]int
}

func newFaultState(f Faults) faultState {
	fs := faultState{f: f, priorByZone: make(map[string]int)}
	fs.throttle.f, fs.server.f, fs.prior.f = f.ThrottleFraction, f.ServerErrorFraction, f.PriorRequestFraction
	if f.ThrottleRate > 0 {
		burst := f.ThrottleBurst
		if burst == 0 {
			burst = max(1, int(math.Ceil(f.ThrottleRate)))
		}
		fs.limiter = rate.NewLimiter(rate.Limit(f.ThrottleRate), burst)
	}
	return fs
}

// fraction decides deterministically which of a run of events fail.
type fraction struct {
	f float64
	n int64
}

func (p *fraction) next() bool {
	if p.f <= 0 {
		return false
	}
	p.n++
	return math.Floor(float64(p.n)*p.f) > math.Floor(float64(p.n-1)*p.f)
}

// throttleError is Route 53's throttling answer: a generic error code that
// the SDK maps to smithy.GenericAPIError and retries as a throttle.
func throttleError() *Error {
	return &Error{Status: 400, Code: "Throttling", Message: "Rate exceeded", Sender: true}
}

func priorRequestError() *Error {
	return &Error{Status: 400, Code: "PriorRequestNotComplete", Sender: true,
		Message: "The request was rejected because Route 53 was still processing a prior request."}
}

func serverError(status int) *Error {
	if status == 0 {
		status = 500
	}
	code, msg := "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."
	if status != 500 {
		code, msg = "ServiceUnavailable", "The service is unavailable. Please try again later."
	}
	return &Error{Status: status, Code: code, Message: msg}
}

// wait sleeps for the configured latency, or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// injectLocked decides whether a request fails by rate, throttling
// fraction or server error fraction; it returns the error to answer with,
// or nil. now is the server's clock.
func (s *Server) injectLocked(now time.Time) *Error {
	fs := &s.faults
	if fs.limiter != nil && !fs.limiter.AllowN(now, 1) {
		return throttleError()
	}
	if fs.throttle.next() {
		return throttleError()
	}
	if fs.server.next() {
		return serverError(fs.f.ServerErrorStatus)
	}
	return nil
}

// injectPriorLocked decides whether a ChangeResourceRecordSets request on
// zoneID fails with PriorRequestNotComplete.
func (s *Server) injectPriorLocked(zoneID string) *Error {
	fs := &s.faults
	if n := fs.priorByZone[zoneID]; n > 0 {
		fs.priorByZone[zoneID] = n - 1
		return priorRequestError()
	}
	if fs.prior.next() {
		return priorRequestError()
	}
	return nil
}

// setRetryAfter adds the X-Amz-Retry-After header to a throttling answer
// when configured.
func (s *Server) setRetryAfter(h http.Header, e *Error, d time.Duration) {
	if e.Code == "Throttling" && d > 0 {
		h.Set("X-Amz-Retry-After", fmt.Sprint(d.Milliseconds()))
	}
}
