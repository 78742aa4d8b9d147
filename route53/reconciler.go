package route53

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/detour-dns/detour/policy"
)

// StateSource gives the reconciler the cluster's states. Watch returns the
// current State (nil before the first) and a channel that is closed when a
// newer State is published. cluster.Node satisfies it through the daemon.
type StateSource interface {
	Watch() (*policy.State, <-chan struct{})
}

// Defaults of Config.
const (
	// DefaultResyncInterval is how often the reconciler reads every owned
	// record back to repair drift, even without state changes.
	DefaultResyncInterval = 60 * time.Second
	// DefaultPollInterval is how often pending changes are checked with
	// GetChange.
	DefaultPollInterval = 10 * time.Second
	// DefaultRetryBase and DefaultRetryMax bound the backoff (with full
	// jitter) after a failed pass.
	DefaultRetryBase = time.Second
	DefaultRetryMax  = 2 * time.Minute
)

// Config configures a Reconciler. The zero value uses the defaults above
// and Route 53's request limits.
type Config struct {
	// Logger receives Info lines for submitted and INSYNC changes and
	// Error lines for failed passes; nil discards.
	Logger *slog.Logger
	// ResyncInterval is the time between full passes; 0 means
	// DefaultResyncInterval.
	ResyncInterval time.Duration
	// PollInterval is the time between GetChange checks of pending
	// changes; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// RetryBase and RetryMax bound the backoff after a failed pass; 0
	// means the defaults.
	RetryBase, RetryMax time.Duration
	// MaxBatchRecords and MaxBatchChars cap one change batch; 0 means
	// Route 53's limits (MaxBatchRecords, MaxBatchChars). Tests lower them.
	MaxBatchRecords, MaxBatchChars int
	// Comment is sent with every change batch; "" means "detour".
	Comment string
}

// Sync states of a published record name, as Status reports them.
const (
	// StateUnknown: not reconciled yet in this term of leadership.
	StateUnknown = "unknown"
	// StateInSync: Route 53 holds the desired records and every change
	// made for them is INSYNC.
	StateInSync = "in_sync"
	// StatePending: a change was accepted and is not INSYNC yet.
	StatePending = "pending"
	// StateError: the last attempt failed; Message says why. It is
	// retried with backoff.
	StateError = "error"
	// StateRefused: the name holds record sets of another routing policy
	// and the pool does not set adopt; nothing was changed.
	StateRefused = "refused"
)

// RecordStatus is the sync state of one published name and type.
type RecordStatus struct {
	// Pool is the pool that publishes the record sets.
	Pool string `json:"pool"`
	// ZoneID is the hosted zone's ID, once known.
	ZoneID string `json:"zone_id,omitempty"`
	// Name and Type identify the record sets (every SetIdentifier of a
	// weighted group).
	Name string `json:"name"`
	Type string `json:"type"`
	// State is one of the State* constants.
	State string `json:"state"`
	// ChangeID is the last change submitted for the name; Since is when
	// the state was entered (for pending: when the change was
	// submitted).
	ChangeID string    `json:"change_id,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	// Message says why the state is error or refused; Messages holds
	// Route 53's messages of an InvalidChangeBatch.
	Message  string   `json:"message,omitempty"`
	Messages []string `json:"messages,omitempty"`
	// FailOpen reports that no endpoint qualified and every endpoint is
	// published as if healthy.
	FailOpen bool `json:"fail_open,omitempty"`
	// Changes counts the changes of the last batch sent for the name.
	Changes int `json:"changes,omitempty"`
}

// Reconciler keeps Route 53 in step with the cluster's decisions. It runs
// only on the leader: Run works until its context is cancelled (leadership
// lost). Status is safe for concurrent use; Run must not run twice at once.
type Reconciler struct {
	cfg     Config
	log     *slog.Logger
	client  Client
	running atomic.Bool

	mu     sync.Mutex
	status map[string]*RecordStatus // guarded by mu; by groupKey
}

// New validates cfg and returns a Reconciler that talks to Route 53
// through client. It starts nothing.
func New(cfg Config, client Client) (*Reconciler, error) {
	if client == nil {
		return nil, errors.New("route53: new reconciler: client is nil")
	}
	if cfg.ResyncInterval < 0 || cfg.PollInterval < 0 || cfg.RetryBase < 0 || cfg.RetryMax < 0 || cfg.MaxBatchRecords < 0 || cfg.MaxBatchChars < 0 {
		return nil, errors.New("route53: new reconciler: intervals and limits must be >= 0")
	}
	if cfg.MaxBatchRecords > MaxBatchRecords || cfg.MaxBatchChars > MaxBatchChars {
		return nil, fmt.Errorf("route53: new reconciler: batch limits above Route 53's (%d records, %d characters)", MaxBatchRecords, MaxBatchChars)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.ResyncInterval, DefaultResyncInterval)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	if cfg.MaxBatchRecords == 0 {
		cfg.MaxBatchRecords = MaxBatchRecords
	}
	if cfg.MaxBatchChars == 0 {
		cfg.MaxBatchChars = MaxBatchChars
	}
	if cfg.Comment == "" {
		cfg.Comment = "detour"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg, log: log.With("component", "route53"), client: client, status: map[string]*RecordStatus{}}, nil
}

// Status returns the sync state of every published name, sorted by name
// and type: every name of the current State from the start of a Run
// (unknown until its first pass), and nothing while no Run is active
// (a node that is not the leader knows nothing current).
func (r *Reconciler) Status() []RecordStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RecordStatus, 0, len(r.status))
	for _, s := range r.status {
		c := *s
		c.Messages = slices.Clone(s.Messages)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b RecordStatus) int {
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

func groupKey(g policy.Route53Group) string { return g.Name + " " + g.Type }

// fingerprint identifies the desired content of a group (pointers
// followed, unlike %v).
func fingerprint(g policy.Route53Group) string {
	b, err := json.Marshal(g)
	if err != nil {
		// Cannot happen: a group holds only strings, numbers and
		// bools. A random fingerprint never matches, so the group is
		// simply reconciled every time.
		return fmt.Sprintf("unencodable %d", rand.Uint64())
	}
	return string(b)
}

// zoneRef is how the spec names a hosted zone.
type zoneRef struct{ id, name string }

// zoneInfo is a resolved hosted zone.
type zoneInfo struct{ id, name string }

// run holds what one term of leadership knows; a new Run starts empty, so
// a new leader reconciles from scratch.
type run struct {
	zones map[zoneRef]zoneInfo
	// applied maps groupKey to the fingerprint of the desired content
	// that Route 53 was last brought to (or refused with): such groups
	// are skipped on state changes until the next full pass.
	applied map[string]string
	// pending maps change IDs to the group keys they carry.
	pending map[string][]string
	// tried maps groupKey to the fingerprint of the groups of the last
	// pass.
	tried map[string]string
}

// Run reconciles until ctx is cancelled, then returns nil: at once, on
// every new State from src, every ResyncInterval (reading every owned
// record back), after a failure with backoff, and every PollInterval while
// changes are pending. It forgets everything from a previous Run, so the
// first pass reads every owned record. It returns an error only when
// called while another Run is active.
func (r *Reconciler) Run(ctx context.Context, src StateSource) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("route53: run: already running")
	}
	defer r.running.Store(false)
	r.resetStatus()
	defer r.resetStatus()
	ru := &run{zones: map[zoneRef]zoneInfo{}, applied: map[string]string{}, pending: map[string][]string{}}
	nextFull := time.Time{}
	failures := 0
	var retryAt time.Time
	for {
		st, changed := src.Watch()
		now := time.Now()
		full := !now.Before(nextFull)
		groups := st.Route53Groups()
		r.syncNames(groups)
		// A full pass takes every group; otherwise the groups whose
		// desired records differ from what was last applied, except
		// those that just failed with the same content while the
		// backoff runs.
		backingOff := !retryAt.IsZero() && now.Before(retryAt)
		var todo []policy.Route53Group
		tried := make(map[string]string, len(groups))
		for _, g := range groups {
			k, fp := groupKey(g), fingerprint(g)
			if full || (ru.applied[k] != fp && !(backingOff && ru.tried[k] == fp)) {
				todo = append(todo, g)
				tried[k] = fp
			} else if v, ok := ru.tried[k]; ok {
				tried[k] = v
			}
		}
		ru.tried = tried
		var err error
		if len(todo) > 0 || full {
			err = r.pass(ctx, ru, todo)
		}
		if ctx.Err() != nil {
			return nil
		}
		if full {
			// Names that failed are retried on the backoff timer,
			// not by the next full pass.
			nextFull = now.Add(r.cfg.ResyncInterval)
		}
		if err != nil {
			failures++
			d := backoff(r.cfg.RetryBase, r.cfg.RetryMax, failures)
			retryAt = time.Now().Add(d)
			r.log.Error("route53 pass failed; retrying", "error", err, "retry_in", d, "failures", failures)
		} else {
			failures = 0
			retryAt = time.Time{}
		}
		if len(ru.pending) > 0 {
			r.poll(ctx, ru)
		}
		// Wait for the earliest of: a new state, the next full pass, a
		// retry, a poll of pending changes.
		wake := nextFull
		if !retryAt.IsZero() && (wake.Before(now) || retryAt.Before(wake)) {
			wake = retryAt
		}
		for {
			poll := len(ru.pending) > 0
			d := time.Until(wake)
			if poll {
				d = min(d, r.cfg.PollInterval)
			}
			t := time.NewTimer(max(d, 0))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-changed:
				t.Stop()
			case <-t.C:
			}
			if ctx.Err() != nil {
				return nil
			}
			if isClosed(changed) || !time.Now().Before(wake) {
				break
			}
			r.poll(ctx, ru)
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// backoff returns a delay with full jitter: uniform in [base/2, d] where d
// doubles per failure up to limit.
func backoff(base, limit time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

// resetStatus forgets every status.
func (r *Reconciler) resetStatus() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = map[string]*RecordStatus{}
}

// syncNames makes the status list the names of groups: new names start
// unknown, and names no pool publishes any more are dropped. Their records
// stay in Route 53: the reconciler touches only records that the spec
// names.
func (r *Reconciler) syncNames(groups []policy.Route53Group) {
	keep := make(map[string]bool, len(groups))
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range groups {
		k := groupKey(g)
		keep[k] = true
		if s := r.status[k]; s != nil {
			s.Pool, s.FailOpen = g.Pool, g.FailOpen
		} else {
			r.status[k] = &RecordStatus{Pool: g.Pool, Name: g.Name, Type: g.Type, State: StateUnknown, FailOpen: g.FailOpen}
		}
	}
	for k := range r.status {
		if !keep[k] {
			delete(r.status, k)
		}
	}
}

// setStatus records a group's state.
func (r *Reconciler) setStatus(g policy.Route53Group, zoneID string, fn func(s *RecordStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := groupKey(g)
	s := r.status[k]
	if s == nil {
		s = &RecordStatus{Name: g.Name, Type: g.Type, State: StateUnknown}
		r.status[k] = s
	}
	s.Pool, s.FailOpen = g.Pool, g.FailOpen
	if zoneID != "" {
		s.ZoneID = zoneID
	}
	fn(s)
}

func (r *Reconciler) setError(g policy.Route53Group, zoneID string, err error) {
	var msgs []string
	var icb *types.InvalidChangeBatch
	if errors.As(err, &icb) {
		msgs = icb.Messages
		if len(msgs) == 0 && icb.Message != nil {
			msgs = []string{aws.ToString(icb.Message)}
		}
	}
	msg := err.Error()
	if j := strings.Join(msgs, "; "); j != "" && !strings.Contains(msg, j) {
		msg += ": " + j
	}
	r.setStatus(g, zoneID, func(s *RecordStatus) {
		if s.State != StateError {
			s.Since = time.Now()
		}
		s.State, s.Message, s.Messages = StateError, msg, msgs
	})
}

// errNotRetried marks a pass whose failures are not worth retrying before
// the next state change or full pass (bad input that Route 53 refused).
var errNotRetried = errors.New("route53: changes refused")

// onlyRefusals reports whether err is errNotRetried, or joins nothing
// else.
func onlyRefusals(err error) bool {
	if err == errNotRetried {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyRefusals(e) {
				return false
			}
		}
		return true
	}
	return false
}

// pass reconciles groups: resolves their zones, reads their live record
// sets, and sends the differences, one batch per zone when the limits
// allow. It returns an error when something failed that a retry may fix.
func (r *Reconciler) pass(ctx context.Context, ru *run, groups []policy.Route53Group) error {
	type zoneWork struct {
		zone   zoneInfo
		groups []policy.Route53Group
	}
	var order []string
	byZone := map[string]*zoneWork{}
	var errs []error
	zoneErr := map[zoneRef]error{} // lookups that failed in this pass
	for _, g := range groups {
		ref := zoneRef{g.HostedZoneID, g.ZoneName}
		err, failed := zoneErr[ref]
		var z zoneInfo
		if !failed {
			if z, err = r.resolveZone(ctx, ru, ref); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				zoneErr[ref] = err
				errs = append(errs, err)
			}
		}
		if err != nil {
			r.setError(g, "", err)
			continue
		}
		if !policy.InZone(g.Name, z.name) {
			// A spec error: not retried before the spec changes
			// or the next full pass.
			r.setError(g, z.id, fmt.Errorf("%s is outside hosted zone %s (%s)", g.Name, z.name, z.id))
			ru.applied[groupKey(g)] = fingerprint(g)
			continue
		}
		w := byZone[z.id]
		if w == nil {
			w = &zoneWork{zone: z}
			byZone[z.id] = w
			order = append(order, z.id)
		}
		w.groups = append(w.groups, g)
	}
	for _, id := range order {
		if err := r.reconcileZone(ctx, ru, byZone[id].zone, byZone[id].groups, nil); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !onlyRefusals(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// resolveZone finds the hosted zone a group names, once per Run: by ID
// with GetHostedZone (checking the name when both are given), or by name
// with ListHostedZonesByName, accepting only zones of exactly that name.
func (r *Reconciler) resolveZone(ctx context.Context, ru *run, ref zoneRef) (zoneInfo, error) {
	if z, ok := ru.zones[ref]; ok {
		return z, nil
	}
	var z zoneInfo
	if ref.id != "" {
		out, err := r.client.GetHostedZone(ctx, &awsr53.GetHostedZoneInput{Id: aws.String(ref.id)})
		if err != nil {
			return z, fmt.Errorf("get hosted zone %s: %w", ref.id, err)
		}
		z = zoneInfo{id: ref.id, name: policy.CanonicalName(aws.ToString(out.HostedZone.Name))}
		if ref.name != "" && z.name != policy.CanonicalName(ref.name) {
			return zoneInfo{}, fmt.Errorf("hosted zone %s is named %s, not %s", ref.id, z.name, ref.name)
		}
	} else {
		want := policy.CanonicalName(ref.name)
		var ids []string
		in := &awsr53.ListHostedZonesByNameInput{DNSName: aws.String(want), MaxItems: aws.Int32(100)}
	pages:
		for {
			out, err := r.client.ListHostedZonesByName(ctx, in)
			if err != nil {
				return z, fmt.Errorf("look up hosted zone %s: %w", want, err)
			}
			for _, hz := range out.HostedZones {
				// DNSName is where the listing starts, not a filter:
				// compare names, and stop once past the name.
				if policy.CanonicalName(aws.ToString(hz.Name)) != want {
					break pages
				}
				ids = append(ids, bareID(aws.ToString(hz.Id)))
			}
			if !out.IsTruncated {
				break
			}
			in = &awsr53.ListHostedZonesByNameInput{DNSName: out.NextDNSName, HostedZoneId: out.NextHostedZoneId, MaxItems: aws.Int32(100)}
		}
		switch len(ids) {
		case 0:
			return z, fmt.Errorf("no hosted zone is named %s", want)
		case 1:
			z = zoneInfo{id: ids[0], name: want}
		default:
			return z, fmt.Errorf("%d hosted zones are named %s (%v: a public and a private zone?); set hosted_zone_id", len(ids), want, ids)
		}
	}
	ru.zones[ref] = z
	return z, nil
}

// bareID drops the "/hostedzone/" or "/change/" prefix of an ID.
func bareID(id string) string {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '/' {
			return id[i+1:]
		}
	}
	return id
}

// reconcileZone reads the live record sets of groups in zone z, plans each
// group, and sends the changes in batches. Groups whose changes Route 53
// refuses as invalid are read and planned once more at once: the refusal
// may come from a stale reading (another leader's batch landed in
// between), and then the new plan differs. prev holds the refused changes
// on that second round; a group whose plan has not changed is not sent
// again.
func (r *Reconciler) reconcileZone(ctx context.Context, ru *run, z zoneInfo, groups []policy.Route53Group, prev map[string][]types.Change) error {
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		names = append(names, g.Name)
	}
	live, err := r.listOwned(ctx, z.id, names)
	if err != nil {
		for _, g := range groups {
			r.setError(g, z.id, err)
		}
		return err
	}
	byKey := map[string]policy.Route53Group{}
	var units []unit
	for _, g := range groups {
		k := groupKey(g)
		byKey[k] = g
		var sets []types.ResourceRecordSet
		for _, rs := range live[g.Name] {
			if string(rs.Type) == g.Type {
				sets = append(sets, rs)
			}
		}
		p := planGroup(g, sets)
		switch {
		case p.refused != "":
			r.setStatus(g, z.id, func(s *RecordStatus) {
				if s.State != StateRefused {
					s.Since = time.Now()
				}
				s.State, s.Message, s.Messages = StateRefused, p.refused, nil
			})
			ru.applied[k] = fingerprint(g)
		case len(p.changes) == 0:
			r.setStatus(g, z.id, func(s *RecordStatus) {
				if s.State == StatePending && ru.isPending(s.ChangeID) {
					return
				}
				if s.State != StateInSync {
					s.Since = time.Now()
				}
				s.State, s.Message, s.Messages = StateInSync, "", nil
			})
			ru.applied[k] = fingerprint(g)
		case prev != nil && sameChanges(prev[k], p.changes):
			// Refused before with the same changes: the error
			// status stands until the next full pass.
		default:
			u := unit{key: k, changes: p.changes}
			for _, ch := range p.changes {
				u.cost = u.cost.add(changeCost(ch))
			}
			units = append(units, u)
		}
	}
	lim := cost{r.cfg.MaxBatchRecords, r.cfg.MaxBatchChars}
	bs, tooBig := batches(units, lim)
	for _, u := range tooBig {
		ru.applied[u.key] = fingerprint(byKey[u.key])
		r.setError(byKey[u.key], z.id, fmt.Errorf("%d changes (%d records, %d characters) do not fit in one change batch", len(u.changes), u.cost.records, u.cost.chars))
	}
	var errs []error
	if len(tooBig) > 0 {
		errs = append(errs, errNotRetried)
	}
	refused := map[string][]types.Change{}
	for _, b := range bs {
		if err := r.send(ctx, ru, z, b, byKey, refused); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	if prev == nil && len(refused) > 0 {
		var again []policy.Route53Group
		for _, g := range groups {
			if refused[groupKey(g)] != nil {
				again = append(again, g)
			}
		}
		if err := r.reconcileZone(ctx, ru, z, again, refused); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sameChanges reports whether two change lists are equal.
func sameChanges(a, b []types.Change) bool {
	if a == nil || b == nil {
		return false
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func (ru *run) isPending(id string) bool {
	_, ok := ru.pending[id]
	return ok
}

// send submits one batch. When Route 53 refuses a batch of several groups
// as invalid, each group is sent on its own, so that one bad group does
// not hold back the others.
//
// The changes of groups refused on their own are recorded in refused.
func (r *Reconciler) send(ctx context.Context, ru *run, z zoneInfo, b []unit, byKey map[string]policy.Route53Group, refused map[string][]types.Change) error {
	var changes []types.Change
	for _, u := range b {
		changes = append(changes, u.changes...)
	}
	out, err := r.client.ChangeResourceRecordSets(ctx, &awsr53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(z.id),
		ChangeBatch:  &types.ChangeBatch{Changes: changes, Comment: aws.String(r.cfg.Comment)},
	})
	if err != nil {
		var icb *types.InvalidChangeBatch
		invalid := errors.As(err, &icb)
		if invalid && len(b) > 1 {
			var errs []error
			for _, u := range b {
				if err := r.send(ctx, ru, z, []unit{u}, byKey, refused); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}
		err = fmt.Errorf("change record sets in zone %s: %w", z.id, err)
		for _, u := range b {
			r.setError(byKey[u.key], z.id, err)
		}
		if invalid {
			// Bad input is not retried with backoff; the next full
			// pass (or a change of the desired records) tries again.
			for _, u := range b {
				ru.applied[u.key] = fingerprint(byKey[u.key])
				refused[u.key] = u.changes
			}
			r.log.Error("route53 refused a change batch", "zone", z.id, "error", err, "messages", icb.Messages)
			return errNotRetried
		}
		return err
	}
	id := bareID(aws.ToString(out.ChangeInfo.Id))
	at := aws.ToTime(out.ChangeInfo.SubmittedAt)
	if at.IsZero() {
		at = time.Now()
	}
	keys := make([]string, 0, len(b))
	for _, u := range b {
		g := byKey[u.key]
		keys = append(keys, u.key)
		n := len(u.changes)
		r.setStatus(g, z.id, func(s *RecordStatus) {
			s.State, s.ChangeID, s.Since, s.Message, s.Messages, s.Changes = StatePending, id, at, "", nil, n
		})
		ru.applied[u.key] = fingerprint(g)
	}
	if out.ChangeInfo.Status != types.ChangeStatusInsync {
		ru.pending[id] = keys
	} else {
		r.markInsync(id, keys)
	}
	r.log.Info("route53 change submitted", "zone", z.id, "change_id", id, "changes", len(changes), "names", len(keys))
	return nil
}

// poll asks GetChange about every pending change and marks the names of
// changes that are INSYNC. Errors are left for the next poll.
func (r *Reconciler) poll(ctx context.Context, ru *run) {
	for _, id := range slices.Sorted(maps.Keys(ru.pending)) {
		out, err := r.client.GetChange(ctx, &awsr53.GetChangeInput{Id: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var nsc *types.NoSuchChange
			if errors.As(err, &nsc) {
				delete(ru.pending, id)
			}
			r.log.Warn("route53 get change failed", "change_id", id, "error", err)
			continue
		}
		if out.ChangeInfo.Status == types.ChangeStatusInsync {
			r.markInsync(id, ru.pending[id])
			delete(ru.pending, id)
			r.log.Info("route53 change INSYNC", "change_id", id)
		}
	}
}

// markInsync moves the names still waiting for change id to in sync.
func (r *Reconciler) markInsync(id string, keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if s := r.status[k]; s != nil && s.State == StatePending && s.ChangeID == id {
			s.State, s.Since = StateInSync, time.Now()
		}
	}
}
