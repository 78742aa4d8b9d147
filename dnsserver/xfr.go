package dnsserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// xfrChunk is how many records go into one message of a zone transfer.
const xfrChunk = 100

// transfer streams the zone asked for by req (AXFR, or IXFR answered with
// a full transfer) to a TCP client, when the zone's transfer rule allows
// the client's address and TSIG key. key is the verified TSIG key of req
// ("" when unsigned).
func (h *Handler) transfer(c net.Conn, bw *bufio.Writer, req *dns.Msg, remote netip.AddrPort, key string, writeTimeout time.Duration) error {
	var secret, mac string
	if t := req.IsTsig(); t != nil && key != "" {
		secret, mac = h.tsig[key], t.MAC
	}
	send := func(m *dns.Msg, first bool) error {
		var out []byte
		var err error
		m.Compress = true
		if secret != "" {
			m.SetTsig(key, dns.HmacSHA256, tsigFudge, time.Now().Unix())
			out, mac, err = dns.TsigGenerate(m, secret, mac, !first)
		} else {
			out, err = m.Pack()
		}
		if err != nil {
			return fmt.Errorf("pack transfer message: %w", err)
		}
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(out)))
		bw.Write(l[:])
		bw.Write(out)
		return bw.Flush()
	}
	reply := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = false
		return m
	}
	q := req.Question[0]
	v := h.view.Load()
	if h.metrics != nil {
		start, rcode, zone := time.Now(), dns.RcodeSuccess, ""
		if v != nil {
			if z := v.zoneOf(lower(q.Name)); z != nil {
				zone = z.apex
			}
		}
		defer func() {
			h.metrics.ObserveQuery(zone, typeName(q.Qtype), rcodeName(rcode), time.Since(start))
		}()
		send0 := send
		send = func(m *dns.Msg, first bool) error {
			if first {
				rcode = m.Rcode
			}
			return send0(m, first)
		}
	}
	var z *zoneView
	if v != nil {
		z = v.zones[lower(q.Name)]
	}
	if z == nil {
		m := reply()
		m.Rcode = dns.RcodeNotAuth
		if v == nil || v.zoneOf(lower(q.Name)) == nil {
			m.Rcode = dns.RcodeRefused
		}
		return send(m, true)
	}
	if !z.transferAllowed(remote, key) {
		h.log.Warn("dns: zone transfer refused", "zone", z.apex, "remote", remote.String(), "key", key)
		m := reply()
		m.Rcode = dns.RcodeRefused
		return send(m, true)
	}
	rrs := z.axfrRecords(h.now())
	h.log.Info("dns: zone transfer", "zone", z.apex, "remote", remote.String(), "key", key, "serial", z.soa.Serial, "records", len(rrs))
	for i := 0; i < len(rrs); i += xfrChunk {
		m := reply()
		m.Authoritative = true
		m.Answer = rrs[i:min(i+xfrChunk, len(rrs))]
		if err := send(m, i == 0); err != nil {
			return err
		}
	}
	return nil
}

// ixfrOverUDP answers an IXFR query that came over UDP: with the zone's
// current SOA alone, in the answer section. RFC 1995 section 2 gives this
// reply both when the client is already up to date ("replied to with a
// single SOA record of the server's current version") and when the
// transfer does not fit in one UDP packet ("responded to with a single
// SOA record of the server's current version to inform the client that a
// TCP query should be initiated"). We keep no history of changes, so a
// client behind us always needs the full transfer over TCP: the SOA alone
// is the right reply either way. The zone's transfer rule applies as over
// TCP (REFUSED when the client may not transfer; NOTAUTH for a name in a
// zone that is not its apex; REFUSED outside our zones; SERVFAIL before
// the first state).
func ixfrOverUDP(v *view, req *dns.Msg, remote netip.AddrPort, key string) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.Question = req.Question
	if opt := req.IsEdns0(); opt != nil {
		ropt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ropt.SetUDPSize(advertisedUDPSize)
		m.Extra = []dns.RR{ropt}
	}
	name := lower(req.Question[0].Name)
	switch {
	case v == nil:
		m.Rcode = dns.RcodeServerFailure
	case v.zones[name] == nil && v.zoneOf(name) != nil:
		m.Rcode = dns.RcodeNotAuth
	case v.zones[name] == nil:
		m.Rcode = dns.RcodeRefused
	case !v.zones[name].transferAllowed(remote, key):
		m.Rcode = dns.RcodeRefused
	default:
		m.Authoritative = true
		m.Answer = []dns.RR{v.zones[name].soa}
	}
	return m
}

// transferAllowed reports whether a client at remote signing with key
// ("" when unsigned) may transfer z: the zone must have a transfer rule,
// the address must be in one of its prefixes (when it lists any) and the
// key must be one of its keys (when it lists any).
func (z *zoneView) transferAllowed(remote netip.AddrPort, key string) bool {
	tr := z.transfer
	if tr == nil || (len(tr.allow) == 0 && len(tr.keys) == 0) {
		return false
	}
	if len(tr.allow) > 0 {
		addr := remote.Addr().Unmap()
		if !slices.ContainsFunc(tr.allow, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return false
		}
	}
	if len(tr.keys) > 0 && (key == "" || !slices.Contains(tr.keys, key)) {
		return false
	}
	return true
}

// axfrRecords lists the zone for a transfer: SOA, every record (pools as
// their current answers, every candidate of a weighted pool; flattened
// addresses with their TTL at now), SOA.
func (z *zoneView) axfrRecords(now time.Time) []dns.RR {
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return dns.CanonicalName(names[i]) < dns.CanonicalName(names[j]) })
	out := []dns.RR{z.soa}
	for _, name := range names {
		n := z.nodes[name]
		for _, t := range n.order {
			if t != dns.TypeSOA {
				out = append(out, n.sets[t]...)
			}
		}
		if p := n.pool; p != nil {
			var set []dns.RR
			var cn dns.RR
			for _, c := range p.choices {
				set = appendUnique(set, flatSet(p, c.a, c.flat, now))
				set = appendUnique(set, flatSet(p, c.aaaa, c.flat, now))
				if cn == nil && c.cname != nil {
					cn = c.cname
				}
			}
			if len(set) == 0 && cn != nil {
				set = append(set, cn)
			}
			out = append(out, set...)
		}
	}
	return append(out, z.soa)
}

// flatSet returns set (one type of a choice of pool p) with the TTL
// counting down when the choice is flattened (clock not nil).
func flatSet(p *poolView, set []dns.RR, clock *flatClock, now time.Time) []dns.RR {
	if clock == nil || len(set) == 0 {
		return set
	}
	ttl := flatTTL(p.ttl, []*flatClock{clock}, set[0].Header().Rrtype, now)
	out := make([]dns.RR, len(set))
	for i, rr := range set {
		out[i] = dns.Copy(rr)
		out[i].Header().Ttl = ttl
	}
	return out
}

// notifier sends NOTIFY to a zone's secondaries when its serial changes,
// retrying until one answers or a newer serial supersedes it.
type notifier struct {
	tsig    map[string]string
	retries int
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	serials map[string]uint32             // zone -> last serial notified
	cancels map[string]context.CancelFunc // zone -> running notification
	stopped bool
	wg      sync.WaitGroup
}

func newNotifier(tsig map[string]string, retries int, timeout time.Duration, log *slog.Logger) *notifier {
	return &notifier{tsig: tsig, retries: retries, timeout: timeout, log: log,
		serials: map[string]uint32{}, cancels: map[string]context.CancelFunc{}}
}

// update starts notifications for the zones of v whose serial changed.
func (n *notifier) update(ctx context.Context, v *view) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || v == nil {
		return
	}
	for apex, z := range v.zones {
		old, had := n.serials[apex]
		if (had && old == z.soa.Serial) || len(z.notify) == 0 {
			continue
		}
		n.serials[apex] = z.soa.Serial
		if cancel := n.cancels[apex]; cancel != nil {
			cancel()
		}
		zctx, cancel := context.WithCancel(ctx)
		n.cancels[apex] = cancel
		key := ""
		if z.transfer != nil {
			for _, k := range z.transfer.keys {
				if _, ok := n.tsig[k]; ok {
					key = k
					break
				}
			}
		}
		for _, target := range z.notify {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.send(zctx, apex, z.soa, target, key)
			}()
		}
	}
}

// send notifies one secondary, retrying with backoff.
func (n *notifier) send(ctx context.Context, zone string, soa *dns.SOA, target, key string) {
	m := new(dns.Msg)
	m.SetNotify(zone)
	m.Answer = []dns.RR{soa}
	c := &dns.Client{Net: "udp", Timeout: n.timeout}
	if key != "" {
		c.TsigSecret = map[string]string{key: n.tsig[key]}
	}
	backoff := 500 * time.Millisecond
	for try := 1; try <= n.retries; try++ {
		if key != "" {
			m.SetTsig(key, dns.HmacSHA256, tsigFudge, time.Now().Unix())
		}
		r, _, err := c.ExchangeContext(ctx, m, target)
		if err == nil && r.Rcode == dns.RcodeSuccess {
			n.log.Info("dns: NOTIFY acknowledged", "zone", zone, "serial", soa.Serial, "target", target)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		n.log.Warn("dns: NOTIFY failed", "zone", zone, "serial", soa.Serial, "target", target, "try", try, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff *= 2
	}
}

// stop cancels every running notification.
func (n *notifier) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	for _, cancel := range n.cancels {
		cancel()
	}
}

// wait waits for the notification goroutines to end.
func (n *notifier) wait() { n.wg.Wait() }
