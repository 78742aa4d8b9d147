package route53test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ErrorForm selects how InvalidChangeBatch errors are written on the wire.
type ErrorForm int

const (
	// FormInvalidChangeBatch writes the dedicated <InvalidChangeBatch> root
	// with a <Messages> list, which the SDK turns into
	// types.InvalidChangeBatch with Messages set.
	FormInvalidChangeBatch ErrorForm = iota
	// FormErrorResponse writes the generic <ErrorResponse> form with code
	// InvalidChangeBatch and the messages joined in <Message>, which AWS has
	// also used; the SDK gives types.InvalidChangeBatch with Message set and
	// Messages empty.
	FormErrorResponse
)

// Options configures a Server. The zero value is a quiet server on
// 127.0.0.1:0 that uses the real clock, answers INSYNC as soon as asked,
// and injects no faults.
type Options struct {
	// Addr is where Start listens; "" means 127.0.0.1:0.
	Addr string
	// Logger receives one Debug line per request and Info lines for
	// changes; nil discards.
	Logger *slog.Logger
	// Now is the clock for change times, INSYNC delays, zone visibility,
	// the throttling rate and the call log; nil means time.Now. Latency
	// always uses real time.
	Now func() time.Time
	// InsyncDelay is how long a change stays PENDING after it was
	// submitted (G1). 0 means GetChange reports INSYNC at once (the answer
	// to ChangeResourceRecordSets itself is always PENDING); negative
	// means PENDING until SyncPending is called.
	InsyncDelay time.Duration
	// NewZoneDelay is how long a new zone answers NoSuchHostedZone (T3).
	NewZoneDelay time.Duration
	// MaxRecordSetsPerZone is the zone quota; 0 means
	// DefaultMaxRecordSetsPerZone.
	MaxRecordSetsPerZone int
	// ChangeBatchErrorForm selects the wire form of InvalidChangeBatch.
	ChangeBatchErrorForm ErrorForm
	// Faults are the initial fault switches; see SetFaults.
	Faults Faults
	// Zones are created by New, in order, as public zones; their IDs are
	// logged and available from Zones.
	Zones []string
	// CallLogLimit caps the call log, which keeps the newest calls; 0 means
	// DefaultCallLogLimit.
	CallLogLimit int
}

// DefaultCallLogLimit is the default cap of the call log.
const DefaultCallLogLimit = 100000

// Server is the Route 53 stand-in. Its methods are safe for concurrent use.
// Every ChangeResourceRecordSets request is validated and applied under one
// lock, so batches are atomic and serialised as on AWS.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler

	mu           sync.Mutex
	zones        map[string]*zone   // guarded by mu
	callerRefs   map[string]string  // guarded by mu
	changes      map[string]*change // guarded by mu
	healthChecks map[string]bool    // guarded by mu
	seq          uint64             // guarded by mu
	insyncDelay  time.Duration      // guarded by mu
	faults       faultState         // guarded by mu
	calls        []Call             // guarded by mu
	hold         chan struct{}      // guarded by mu; non-nil while changes are held
	held         int                // guarded by mu

	// done is closed by Close; it releases held requests.
	done chan struct{}

	srvMu    sync.Mutex
	srv      *http.Server // guarded by srvMu
	ln       net.Listener // guarded by srvMu
	serveErr chan error   // guarded by srvMu
	closed   bool         // guarded by srvMu
}

// Call is one request in the call log, with its outcome.
type Call struct {
	// Op is the operation name (ChangeResourceRecordSets, GetChange, ...),
	// or "Unknown".
	Op string
	// Time is when the request was handled (after any injected latency),
	// by the server's clock.
	Time time.Time
	// Method and Path are the HTTP method and URL path.
	Method, Path string
	// ZoneID is the bare hosted zone ID the request named, if any.
	ZoneID string
	// ChangeID is the change the request created or asked about, if any.
	ChangeID string
	// SigningScope is the region and service of the request's SigV4
	// credential scope ("us-east-1/route53"), "" when unsigned. The
	// signature itself is not checked.
	SigningScope string
	// Attempt and MaxAttempts come from the SDK's Amz-Sdk-Request header
	// ("attempt=2; max=5"); 0 when absent.
	Attempt, MaxAttempts int
	// Status is the HTTP status answered.
	Status int
	// ErrorCode is the error code answered, "" on success; ErrorMessages
	// holds its message(s).
	ErrorCode     string
	ErrorMessages []string
	// Batch is the decoded change batch of a ChangeResourceRecordSets
	// request, also of one refused by a fault; nil when the body did not
	// decode.
	Batch *ChangeBatch
}

// New validates opts and returns a Server that is not yet listening; call
// Start, or mount Handler in a server of your own.
func New(opts Options) (*Server, error) {
	if err := opts.Faults.validate(); err != nil {
		return nil, fmt.Errorf("route53test: %w", err)
	}
	if opts.MaxRecordSetsPerZone < 0 {
		return nil, fmt.Errorf("route53test: MaxRecordSetsPerZone %d must be >= 0", opts.MaxRecordSetsPerZone)
	}
	if opts.CallLogLimit < 0 {
		return nil, fmt.Errorf("route53test: CallLogLimit %d must be >= 0", opts.CallLogLimit)
	}
	if opts.NewZoneDelay < 0 {
		return nil, fmt.Errorf("route53test: NewZoneDelay %v must be >= 0", opts.NewZoneDelay)
	}
	if opts.ChangeBatchErrorForm != FormInvalidChangeBatch && opts.ChangeBatchErrorForm != FormErrorResponse {
		return nil, fmt.Errorf("route53test: unknown ChangeBatchErrorForm %d", opts.ChangeBatchErrorForm)
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		now:          opts.Now,
		zones:        make(map[string]*zone),
		callerRefs:   make(map[string]string),
		changes:      make(map[string]*change),
		healthChecks: make(map[string]bool),
		insyncDelay:  opts.InsyncDelay,
		faults:       newFaultState(opts.Faults),
		done:         make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "route53test")
	if s.now == nil {
		s.now = time.Now
	}
	s.handler = s.routes()
	for _, name := range opts.Zones {
		z, err := s.CreateZone(name, ZoneConfig{})
		if err != nil {
			return nil, fmt.Errorf("route53test: create zone %q: %w", name, err)
		}
		s.log.Info("zone created", "zone", z.Name, "zone_id", z.ID)
	}
	return s, nil
}

// Handler returns the HTTP handler that serves the API, for mounting in a
// server of one's own (for example httptest.NewServer).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on Options.Addr and serves in the background until Close.
func (s *Server) Start() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.closed {
		return errors.New("route53test: start: server is closed")
	}
	if s.ln != nil {
		return errors.New("route53test: start: already started")
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("route53test: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.serveErr = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	s.log.Info("listening", "addr", ln.Addr().String())
	return nil
}

// URL returns the base URL of the started server ("http://127.0.0.1:port"),
// or "" before Start.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops the server, waiting for requests in flight (which it cancels
// after a short grace period). It is safe to call more than once.
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("route53test: shutdown: %w", err), s.srv.Close())
	}
	if err := <-s.serveErr; err != nil {
		errs = append(errs, fmt.Errorf("route53test: serve: %w", err))
	}
	return errors.Join(errs...)
}

func (s *Server) maxRecordSets() int {
	if s.opts.MaxRecordSetsPerZone > 0 {
		return s.opts.MaxRecordSetsPerZone
	}
	return DefaultMaxRecordSetsPerZone
}

// CreateZone creates a hosted zone, as CreateHostedZone does, without a
// request: no faults, no call log entry.
func (s *Server) CreateZone(name string, cfg ZoneConfig) (Zone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, _, err := s.createZoneLocked(name, cfg, nil, s.now())
	if err != nil {
		return Zone{}, err
	}
	return z.snapshot(), nil
}

// Zones returns every zone, in the order ListHostedZonesByName uses.
func (s *Server) Zones() []Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Zone
	for _, z := range s.sortedZonesLocked() {
		out = append(out, z.snapshot())
	}
	return out
}

// Zone returns the zone with the bare or prefixed ID id.
func (s *Server) Zone(id string) (Zone, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[bareID(id)]
	if !ok {
		return Zone{}, false
	}
	return z.snapshot(), true
}

// RecordSets returns a copy of every record set of a zone, in listing order.
func (s *Server) RecordSets(zoneID string) ([]RecordSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[bareID(zoneID)]
	if !ok {
		return nil, noSuchZone(bareID(zoneID))
	}
	sorted := z.sorted()
	out := make([]RecordSet, len(sorted))
	for i, r := range sorted {
		out[i] = r.clone()
	}
	return out, nil
}

// RecordSet returns the record set with the given identity; name may be in
// any accepted form.
func (s *Server) RecordSet(zoneID, name, typ, setID string) (RecordSet, bool) {
	n, err := canonicalName(name)
	if err != nil {
		return RecordSet{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[bareID(zoneID)]
	if !ok {
		return RecordSet{}, false
	}
	r, ok := z.names[n][key{n, typ, setID}]
	return r.clone(), ok
}

// Edit applies a change batch out of band, as another party's
// ChangeResourceRecordSets would: the same validation, all or nothing, a
// new change ID; but no faults and no call log entry. A rejected batch
// returns an *Error and changes nothing.
func (s *Server) Edit(zoneID string, b ChangeBatch) (ChangeInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[bareID(zoneID)]
	if !ok {
		return ChangeInfo{}, noSuchZone(bareID(zoneID))
	}
	ci, err := s.applyLocked(z, b, s.now())
	if err != nil {
		return ChangeInfo{}, err
	}
	s.log.Info("out-of-band change applied", "zone_id", z.info.ID, "change_id", ci.ID, "changes", len(b.Changes))
	return ci, nil
}

// Upsert writes record sets out of band with UPSERT (see Edit).
func (s *Server) Upsert(zoneID string, sets ...RecordSet) (ChangeInfo, error) {
	b := ChangeBatch{Comment: "route53test upsert"}
	for _, r := range sets {
		b.Changes = append(b.Changes, Change{Action: ActionUpsert, RecordSet: r})
	}
	return s.Edit(zoneID, b)
}

// Delete deletes the record set with the given identity out of band, using
// its live value (see Edit).
func (s *Server) Delete(zoneID, name, typ, setID string) (ChangeInfo, error) {
	live, ok := s.RecordSet(zoneID, name, typ, setID)
	if !ok {
		if n, err := canonicalName(name); err == nil {
			name = n
		}
		return ChangeInfo{}, invalidChangeBatch([]string{
			fmt.Sprintf("Tried to delete resource record set %s but it was not found", bracket(key{name, typ, setID}))})
	}
	return s.Edit(zoneID, ChangeBatch{Changes: []Change{{Action: ActionDelete, RecordSet: live}}})
}

// AddHealthCheck makes id a known health check, so that record sets may
// name it in HealthCheckId (C18).
func (s *Server) AddHealthCheck(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthChecks[id] = true
}

// Change returns a change as GetChange would report it now.
func (s *Server) Change(id string) (ChangeInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changes[bareID(id)]
	if !ok {
		return ChangeInfo{}, false
	}
	return s.changeStatusLocked(c, s.now()), true
}

// SetInsyncDelay changes InsyncDelay; it applies to pending changes too.
func (s *Server) SetInsyncDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insyncDelay = d
}

// SyncPending marks every pending change INSYNC and returns how many there
// were.
func (s *Server) SyncPending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for _, c := range s.changes {
		if s.changeStatusLocked(c, now).Status == StatusPending {
			c.synced = true
			n++
		}
	}
	return n
}

// SetFaults replaces the fault switches and resets their counters and
// rate bucket. A bad value is rejected and changes nothing.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("route53test: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prior := s.faults.priorByZone
	s.faults = newFaultState(f)
	s.faults.priorByZone = prior
	return nil
}

// Faults returns the current fault switches.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.f
}

// FailPriorRequest makes the next n ChangeResourceRecordSets requests on the
// zone answer PriorRequestNotComplete (T2); n = 0 clears it.
func (s *Server) FailPriorRequest(zoneID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults.priorByZone, bareID(zoneID))
		return
	}
	s.faults.priorByZone[bareID(zoneID)] = n
}

// appendCallLocked adds a call to the log, dropping the oldest beyond the
// limit.
func (s *Server) appendCallLocked(c Call) {
	limit := s.opts.CallLogLimit
	if limit == 0 {
		limit = DefaultCallLogLimit
	}
	if len(s.calls) >= limit {
		n := copy(s.calls, s.calls[len(s.calls)-limit+1:])
		clear(s.calls[n:])
		s.calls = s.calls[:n]
	}
	s.calls = append(s.calls, c)
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls of one operation, oldest first.
func (s *Server) CallsTo(op string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// PeakCalls returns the largest number of calls that arrived within any
// span of length window (inclusive of both ends), by Call.Time: the
// observed peak rate. calls need not be sorted.
func PeakCalls(calls []Call, window time.Duration) int {
	times := make([]time.Time, len(calls))
	for i, c := range calls {
		times[i] = c.Time
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) > window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// HoldChanges makes ChangeResourceRecordSets requests wait, once received
// and decoded, until the returned release function is called (or the
// server is closed). A held request is then applied even if its client has
// gone away meanwhile, as AWS applies a request it has received: this is how
// a test leaves a batch in flight while the leader that sent it dies.
// Calling release more than once is harmless.
func (s *Server) HoldChanges() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
	ch := s.hold
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.hold == ch {
				s.hold = nil
			}
			close(ch)
		})
	}
}

// HeldChanges returns the number of ChangeResourceRecordSets requests
// waiting on HoldChanges.
func (s *Server) HeldChanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// waitHold blocks while changes are held.
func (s *Server) waitHold() {
	s.mu.Lock()
	ch := s.hold
	if ch == nil {
		s.mu.Unlock()
		return
	}
	s.held++
	s.mu.Unlock()
	select {
	case <-ch:
	case <-s.done:
	}
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
}
