package dnsserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Flattening: a hostname endpoint (an ALB's DNS name) answers a CNAME,
// except at a name holding other data (the zone apex), where a CNAME is
// not allowed, or when the endpoint says flatten: true. There the node
// answers the target's A and AAAA records itself. Each node resolves the
// targets through its own resolver, in the background (a flattener
// goroutine of the Server), never on the query path: the flattener keeps
// target -> addresses with their expiry and re-queries before the TTL
// runs out. When a target's addresses change, the view is recompiled
// from the same State with the new addresses and swapped in.
//
// The SOA serial does not change when flattened addresses do. The serial
// is a function of the replicated State, the same on every node; the
// flattened addresses are per node (resolved by each node at its own
// moments, perhaps from different resolvers), so counting them in the
// serial would give the same zone different serials on different nodes,
// and a secondary moving between them could see the serial go backwards.
// A secondary transferring the zone gets the addresses of the moment
// with the remaining TTL; the answers of the nodes themselves are always
// current.

// staleTTL bounds, in seconds, the TTL of flattened addresses whose
// target TTL has run out while the resolver fails (RFC 8767 section 4
// recommends 30 seconds for stale answers). It is never above the pool's
// TTL nor the target's own last TTL.
const staleTTL = 30

// maxFlatInflight bounds the targets being resolved at once.
const maxFlatInflight = 8

// flatExpiry is when one type of a flattened target's answer expires and
// the TTL it came with.
type flatExpiry struct {
	at  atomic.Int64  // Unix nanoseconds; 0 = never resolved
	ttl atomic.Uint32 // seconds
}

// flatClock holds the expiry of a flattened target's A and AAAA
// answers. It lives as long as the flattener follows the target, and the
// flattener updates it in place when a refresh brings the same
// addresses, so that the view need not be recompiled; queries read it
// atomically.
type flatClock struct {
	a, aaaa flatExpiry
}

// of returns the expiry of type t (A or AAAA).
func (c *flatClock) of(t uint16) *flatExpiry {
	if t == dns.TypeAAAA {
		return &c.aaaa
	}
	return &c.a
}

// flatAddrs is one resolved target in a flatTable.
type flatAddrs struct {
	a, aaaa []netip.Addr
	clock   *flatClock
}

// flatTable maps canonical target names to their current addresses. It
// is immutable once published.
type flatTable map[string]flatAddrs

// flatTTL is the TTL of a flattened RRset of type t built from the
// targets whose clocks are flats: min(pool TTL, the targets' remaining
// TTL), rounded up to whole seconds. A target whose TTL has run out (its
// refresh failing) counts min(staleTTL, its last TTL).
func flatTTL(poolTTL uint32, flats []*flatClock, t uint16, now time.Time) uint32 {
	ttl := poolTTL
	for _, f := range flats {
		e := f.of(t)
		d := time.Duration(e.at.Load() - now.UnixNano())
		var r uint32
		if d <= 0 {
			r = min(staleTTL, max(e.ttl.Load(), 1))
		} else {
			r = uint32((d + time.Second - 1) / time.Second)
		}
		ttl = min(ttl, r)
	}
	return max(ttl, 1)
}

// flattener resolves the targets of flattened endpoints and keeps their
// addresses fresh. setTargets says what to follow; publish receives a new
// table whenever some target's addresses change.
type flattener struct {
	resolver   string // host:port of the recursive resolver; "" = none found
	timeout    time.Duration
	minRefresh time.Duration
	maxRefresh time.Duration
	maxStale   time.Duration
	log        *slog.Logger
	publish    func(flatTable)
	now        func() time.Time

	mu      sync.Mutex
	pending []string // the latest target set, not yet taken by run
	fresh   bool     // pending holds a set run has not seen
	wake    chan struct{}
}

func newFlattener(cfg Config, log *slog.Logger, publish func(flatTable)) *flattener {
	return &flattener{resolver: cfg.Resolver, timeout: cfg.ResolverTimeout, minRefresh: cfg.FlattenMinRefresh,
		maxRefresh: cfg.FlattenMaxRefresh, maxStale: cfg.FlattenMaxStale, log: log, publish: publish,
		now: time.Now, wake: make(chan struct{}, 1)}
}

// setTargets replaces the set of targets to follow. It never blocks.
func (f *flattener) setTargets(targets []string) {
	f.mu.Lock()
	f.pending, f.fresh = targets, true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// flatEntry is one followed target; only run touches it.
type flatEntry struct {
	name    string
	clock   *flatClock
	a, aaaa flatState
	due     time.Time // next query
	busy    bool      // a query is in flight
	fails   int       // refreshes failed in a row
}

// flatState is the last good answer for one type.
type flatState struct {
	addrs []netip.Addr // sorted
	have  bool         // a good answer was received
	exp   time.Time
}

// lookup is the result of one query for one type.
type lookup struct {
	addrs []netip.Addr
	ttl   uint32
	err   error
}

// flatResult is the result of refreshing one target.
type flatResult struct {
	name    string
	a, aaaa lookup
}

// run follows the targets until ctx is done, then waits for its queries.
func (f *flattener) run(ctx context.Context) {
	entries := map[string]*flatEntry{}
	results := make(chan flatResult)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	inflight := 0
	for {
		now := f.now()
		var next time.Time
		for _, e := range entries {
			if e.busy {
				continue
			}
			if !e.due.After(now) && inflight < maxFlatInflight {
				e.busy = true
				inflight++
				wg.Add(1)
				go func(name string) {
					defer wg.Done()
					r := f.refresh(ctx, name)
					select {
					case results <- r:
					case <-ctx.Done():
					}
				}(e.name)
				continue
			}
			if inflight < maxFlatInflight && (next.IsZero() || e.due.Before(next)) {
				next = e.due
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
			f.sync(entries, now)
		case r := <-results:
			inflight--
			if e := entries[r.name]; e != nil {
				e.busy = false
				if f.apply(e, r) {
					f.publish(table(entries))
				}
			}
		case <-timer.C:
		}
	}
}

// sync makes entries follow the latest target set.
func (f *flattener) sync(entries map[string]*flatEntry, now time.Time) {
	f.mu.Lock()
	targets, fresh := f.pending, f.fresh
	f.fresh = false
	f.mu.Unlock()
	if !fresh {
		return
	}
	want := map[string]bool{}
	for _, t := range targets {
		want[t] = true
		if entries[t] == nil {
			entries[t] = &flatEntry{name: t, clock: &flatClock{}, due: now}
			f.log.Debug("dns: following a flattened target", "target", t)
		}
	}
	for name := range entries {
		if !want[name] {
			delete(entries, name)
		}
	}
}

// table is the current addresses of entries.
func table(entries map[string]*flatEntry) flatTable {
	t := make(flatTable, len(entries))
	for name, e := range entries {
		t[name] = flatAddrs{a: e.a.addrs, aaaa: e.aaaa.addrs, clock: e.clock}
	}
	return t
}

// apply records the result of a refresh in e, schedules the next one and
// reports whether the addresses changed. A failed query keeps the last
// good answer until it is maxStale past its expiry.
func (f *flattener) apply(e *flatEntry, r flatResult) bool {
	now := f.now()
	changed, failed := false, false
	var errs []string
	nextTTL := uint32(0)
	for _, x := range []struct {
		st *flatState
		lk lookup
		t  uint16
	}{{&e.a, r.a, dns.TypeA}, {&e.aaaa, r.aaaa, dns.TypeAAAA}} {
		if x.lk.err == nil {
			if !x.st.have || !slices.Equal(x.st.addrs, x.lk.addrs) {
				changed = true
			}
			x.st.addrs, x.st.have = x.lk.addrs, true
			x.st.exp = now.Add(time.Duration(x.lk.ttl) * time.Second)
			exp := e.clock.of(x.t)
			exp.ttl.Store(x.lk.ttl)
			exp.at.Store(x.st.exp.UnixNano())
			if nextTTL == 0 || x.lk.ttl < nextTTL {
				nextTTL = x.lk.ttl
			}
			continue
		}
		failed = true
		errs = append(errs, x.lk.err.Error())
		if len(x.st.addrs) > 0 && now.After(x.st.exp.Add(f.maxStale)) {
			f.log.Error("dns: flattened target unresolved for too long: its addresses are no longer served",
				"target", e.name, "qtype", dns.TypeToString[x.t], "expired", x.st.exp, "error", x.lk.err)
			x.st.addrs = nil
			changed = true
		}
	}
	if failed {
		e.fails++
		backoff := min(f.minRefresh<<min(e.fails-1, 16), f.maxRefresh)
		e.due = now.Add(backoff)
		f.log.Warn("dns: refreshing a flattened target failed; serving its last answer", "target", e.name,
			"error", strings.Join(errs, "; "), "fails", e.fails, "retry_in", backoff)
	} else {
		e.fails = 0
		e.due = now.Add(min(max(time.Duration(nextTTL)*time.Second/2, f.minRefresh), f.maxRefresh))
	}
	if changed {
		f.log.Info("dns: flattened target changed", "target", e.name, "a", e.a.addrs, "aaaa", e.aaaa.addrs)
	}
	return changed
}

// refresh queries the resolver for the A and AAAA records of name.
func (f *flattener) refresh(ctx context.Context, name string) flatResult {
	return flatResult{name: name, a: f.query(ctx, name, dns.TypeA), aaaa: f.query(ctx, name, dns.TypeAAAA)}
}

// query asks the resolver for name/t, over TCP when the UDP reply is
// truncated. NXDOMAIN and NODATA are answers (no addresses, for the
// negative TTL of RFC 2308); other rcodes and network errors are errors.
func (f *flattener) query(ctx context.Context, name string, t uint16) lookup {
	if f.resolver == "" {
		return lookup{err: fmt.Errorf("resolve %s %s: no resolver configured and none in /etc/resolv.conf", name, dns.TypeToString[t])}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.SetEdns0(advertisedUDPSize, false)
	r, err := f.exchange(ctx, "udp", m)
	if err == nil && r.Truncated {
		r, err = f.exchange(ctx, "tcp", m)
	}
	if err != nil {
		return lookup{err: fmt.Errorf("resolve %s %s via %s: %w", name, dns.TypeToString[t], f.resolver, err)}
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return lookup{err: fmt.Errorf("resolve %s %s via %s: rcode %s", name, dns.TypeToString[t], f.resolver, dns.RcodeToString[r.Rcode])}
	}
	addrs, ttl := chase(r, name, t)
	if len(addrs) == 0 {
		ttl = uint32(f.minRefresh / time.Second)
		for _, rr := range r.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = min(soa.Hdr.Ttl, soa.Minttl)
			}
		}
	}
	return lookup{addrs: addrs, ttl: ttl}
}

// exchange sends m to the resolver over network and reads the reply,
// giving up when ctx ends (the library alone would wait out its timeout).
func (f *flattener) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: f.timeout, UDPSize: advertisedUDPSize}
	conn, err := c.DialContext(ctx, f.resolver)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return r, err
}

// chase returns the addresses of type t for name in the answer section
// of r, following CNAMEs (at most maxChase), sorted, with the smallest
// TTL along the way.
func chase(r *dns.Msg, name string, t uint16) ([]netip.Addr, uint32) {
	ttl := ^uint32(0)
	for range maxChase {
		var addrs []netip.Addr
		next := ""
		for _, rr := range r.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			switch x := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(x.A); ok && t == dns.TypeA {
					addrs = append(addrs, a.Unmap())
					ttl = min(ttl, h.Ttl)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(x.AAAA); ok && t == dns.TypeAAAA {
					addrs = append(addrs, a)
					ttl = min(ttl, h.Ttl)
				}
			case *dns.CNAME:
				next = x.Target
				ttl = min(ttl, h.Ttl)
			}
		}
		if len(addrs) > 0 {
			slices.SortFunc(addrs, netip.Addr.Compare)
			return slices.Compact(addrs), ttl
		}
		if next == "" {
			break
		}
		name = next
	}
	return nil, 0
}
