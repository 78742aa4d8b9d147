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
	rrs := z.axfrRecords()
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
// their current answers, every candidate of a weighted pool), SOA.
func (z *zoneView) axfrRecords() []dns.RR {
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
				set = appendUnique(set, c.a)
				set = appendUnique(set, c.aaaa)
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
