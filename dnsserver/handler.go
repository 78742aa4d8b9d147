package dnsserver

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// advertisedUDPSize is the EDNS0 UDP payload size we advertise and the
// largest UDP reply we send (the DNS flag day 2020 value).
const advertisedUDPSize = 1232

// maxChase bounds how many CNAMEs one answer follows.
const maxChase = 8

// Handler answers DNS messages from the most recent compiled view. It is
// safe for concurrent use; SetState swaps the view atomically while
// queries are being answered.
type Handler struct {
	view   atomic.Pointer[view]
	nodeID string
	nsid   string // hex of nodeID
	tsig   map[string]string
	log    *slog.Logger
	noMemo bool // tests and benchmarks: always take the general path
}

var _ dns.Handler = (*Handler)(nil)

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// NodeID is answered in the EDNS0 NSID option when a client asks.
	NodeID string
	// TSIGKeys maps absolute key names to base64 hmac-sha256 secrets.
	TSIGKeys map[string]string
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
}

// NewHandler returns a Handler that answers SERVFAIL until the first
// SetState.
func NewHandler(cfg HandlerConfig) *Handler {
	h := &Handler{nodeID: cfg.NodeID, nsid: hex.EncodeToString([]byte(cfg.NodeID)), tsig: map[string]string{}, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range cfg.TSIGKeys {
		h.tsig[policy.CanonicalName(k)] = v
	}
	return h
}

// SetState compiles st and makes it the view that queries are answered
// from. On error the previous view stays in place.
func (h *Handler) SetState(st *policy.State) error {
	if st == nil {
		return fmt.Errorf("compile view: nil state")
	}
	v, err := compile(st, h.log.Warn)
	if err != nil {
		return fmt.Errorf("compile view of index %d: %w", st.Index, err)
	}
	h.view.Store(v)
	return nil
}

// ServeDNS implements dns.Handler by answering r with Answer. It does not
// perform zone transfers; the Server's own TCP loop does.
func (h *Handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	var remote netip.AddrPort
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		remote = ap
	}
	m := h.Answer(r, remote)
	if m == nil {
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(udpLimit(r))
	}
	_ = w.WriteMsg(m)
}

// udpLimit is the largest UDP reply to req: 512 without EDNS0, else the
// client's size bounded to [512, 1232].
func udpLimit(req *dns.Msg) int {
	opt := req.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	return int(min(max(opt.UDPSize(), dns.MinMsgSize), advertisedUDPSize))
}

// Answer returns the response to req from a client at remote, or nil when
// req must be dropped (it is itself a response). It never modifies req or
// the shared view. Size limits and TSIG signatures are the caller's job;
// zone transfers get REFUSED here (the Server serves them over TCP).
func (h *Handler) Answer(req *dns.Msg, remote netip.AddrPort) *dns.Msg {
	return h.answer(h.view.Load(), req, remote)
}

// answer is Answer from view v (nil: no state yet).
func (h *Handler) answer(v *view, req *dns.Msg, remote netip.AddrPort) *dns.Msg {
	if req.Response {
		return nil
	}
	m := &dns.Msg{}
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	if len(req.Question) == 1 {
		m.Question = req.Question
	}
	if req.Opcode != dns.OpcodeQuery && req.Opcode != dns.OpcodeNotify {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	// EDNS0.
	var opt *dns.OPT
	nopt := 0
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			opt = o
			nopt++
		}
	}
	if nopt > 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	if opt != nil {
		ropt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ropt.SetUDPSize(advertisedUDPSize)
		if opt.Hdr.Name != "." {
			m.Rcode = dns.RcodeFormatError
			m.Extra = []dns.RR{ropt}
			return m
		}
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			m.Extra = []dns.RR{ropt}
			return m
		}
		for _, o := range opt.Option {
			switch o := o.(type) {
			case *dns.EDNS0_COOKIE:
				if !validCookie(o.Cookie) {
					m.Rcode = dns.RcodeFormatError
					m.Extra = []dns.RR{ropt}
					return m
				}
			case *dns.EDNS0_NSID:
				ropt.Option = append(ropt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: h.nsid})
			}
		}
		defer func() { m.Extra = append(m.Extra, ropt) }()
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if v == nil {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	name := lower(q.Name)
	z := v.zoneOf(name)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if req.Opcode == dns.OpcodeNotify {
		// We are the primary of every zone we serve: acknowledge.
		m.Authoritative = true
		return m
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	z.resolve(m, name, q.Qtype, 0)
	return m
}

// validCookie reports whether a COOKIE option (hex) has a legal length:
// an 8-byte client cookie, optionally followed by an 8 to 32-byte server
// cookie (RFC 7873 section 5.2.2).
func validCookie(h string) bool {
	n := len(h) / 2
	if len(h)%2 != 0 {
		return false
	}
	return n == 8 || (n >= 16 && n <= 40)
}

// lower returns s in lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// resolve adds the answer for name/qtype in z to m (RFC 1034 4.3.2 with
// RFC 4592 wildcards and RFC 8020 empty non-terminals). hops counts the
// CNAMEs followed so far.
func (z *zoneView) resolve(m *dns.Msg, name string, qtype uint16, hops int) {
	// Walk from just below the apex down to name, stopping at a
	// delegation or at the first name that does not exist.
	var offs [128]int
	k := 0
	for off := 0; off < len(name)-len(z.apex) && k < len(offs); {
		offs[k] = off
		k++
		next, end := dns.NextLabel(name, off)
		if end {
			break
		}
		off = next
	}
	closest := z.nodes[z.apex]
	for i := k - 1; i >= 0; i-- {
		n, ok := z.nodes[name[offs[i]:]]
		if !ok {
			if closest.wild != nil && !closest.wild.cut {
				z.answerNode(m, closest.wild, name, qtype, hops, true)
				return
			}
			if hops == 0 {
				m.Rcode = dns.RcodeNameError
			} else if len(m.Answer) > 0 {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = append(m.Ns, z.negSOA)
			return
		}
		if n.cut {
			if i == 0 && qtype == dns.TypeDS {
				// The parent side answers DS at the cut.
				if ds := n.sets[dns.TypeDS]; len(ds) > 0 {
					m.Answer = append(m.Answer, ds...)
				} else {
					m.Ns = append(m.Ns, z.negSOA)
				}
				return
			}
			if hops == 0 {
				m.Authoritative = false
				m.Ns = append(m.Ns, n.sets[dns.TypeNS]...)
				m.Extra = append(m.Extra, n.glue...)
			}
			return
		}
		closest = n
	}
	z.answerNode(m, closest, name, qtype, hops, false)
}

// answerNode adds the data of node n for qtype; owner is the name asked
// for (different from n.name when n is a wildcard).
func (z *zoneView) answerNode(m *dns.Msg, n *node, owner string, qtype uint16, hops int, synth bool) {
	if n.pool != nil && (len(n.sets) == 0 || qtype == dns.TypeA || qtype == dns.TypeAAAA) {
		z.answerPool(m, n.pool, owner, qtype, synth)
		return
	}
	if cn := n.sets[dns.TypeCNAME]; len(cn) > 0 && qtype != dns.TypeCNAME {
		rr := cn[0]
		if synth {
			rr = withOwner(rr, owner)
		}
		m.Answer = append(m.Answer, rr)
		target := rr.(*dns.CNAME).Target
		if hops+1 >= maxChase || !policy.InZone(target, z.apex) || seen(m.Answer, target) {
			return
		}
		z.resolve(m, target, qtype, hops+1)
		return
	}
	var set []dns.RR
	if qtype == dns.TypeANY {
		// RFC 8482: one RRset is enough.
		for _, t := range n.order {
			if t != dns.TypeSOA || n.name == z.apex {
				set = n.sets[t]
				break
			}
		}
	} else {
		set = n.sets[qtype]
	}
	if len(set) == 0 {
		m.Ns = append(m.Ns, z.negSOA)
		return
	}
	if synth {
		for _, rr := range set {
			m.Answer = append(m.Answer, withOwner(rr, owner))
		}
	} else {
		m.Answer = append(m.Answer, set...)
	}
	if qtype == dns.TypeNS && n.name == z.apex {
		m.Extra = append(m.Extra, n.glue...)
	}
}

// answerPool adds a pool's current answer.
func (z *zoneView) answerPool(m *dns.Msg, p *poolView, owner string, qtype uint16, synth bool) {
	var a, aaaa []dns.RR
	var cname dns.RR
	if p.policy == policy.PolicyWeighted {
		if i := p.weights.Pick(randN(p.total)); i >= 0 {
			c := p.choices[i]
			a, aaaa, cname = c.a, c.aaaa, c.cname
		}
	} else {
		a, aaaa, cname = p.a, p.aaaa, p.cname
	}
	var set []dns.RR
	switch {
	case cname != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeCNAME || qtype == dns.TypeANY):
		set = []dns.RR{cname}
	case qtype == dns.TypeA || (qtype == dns.TypeANY && len(a) > 0):
		set = a
	case qtype == dns.TypeAAAA || qtype == dns.TypeANY:
		set = aaaa
	}
	if len(set) == 0 {
		m.Ns = append(m.Ns, z.negSOA)
		return
	}
	start := len(m.Answer)
	for _, rr := range set {
		if synth {
			rr = withOwner(rr, owner)
		}
		m.Answer = append(m.Answer, rr)
	}
	if p.multiple {
		out := m.Answer[start:]
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		if len(out) > policy.MaxMultivalue {
			m.Answer = m.Answer[:start+policy.MaxMultivalue]
		}
	}
}

// randN returns a uniform random int in [0, n), or 0 when n <= 0.
func randN(n int) int {
	if n <= 0 {
		return 0
	}
	return rand.IntN(n)
}

// withOwner returns a copy of rr owned by name.
func withOwner(rr dns.RR, name string) dns.RR {
	c := dns.Copy(rr)
	c.Header().Name = name
	return c
}

// seen reports whether answer already holds a CNAME owned by name (a loop).
func seen(answer []dns.RR, name string) bool {
	for _, rr := range answer {
		if rr.Header().Rrtype == dns.TypeCNAME && rr.Header().Name == name {
			return true
		}
	}
	return false
}
