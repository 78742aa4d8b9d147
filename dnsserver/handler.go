package dnsserver

import (
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// metrics, when not nil, observes every answered query.
	metrics Metrics
	now     func() time.Time // the TTL of flattened answers counts down with it
	seed    maphash.Seed     // hashes the names that key rate limiting
	// rrlFor, when set (by the Server, before serving), says whether rate
	// limiting applies to a client; only then is a UDP reply built by the
	// general path classified. Memoized replies always carry their class.
	rrlFor func(netip.Addr) bool

	// mu serialises compiling and swapping the view, so that the view
	// always reflects the latest State and flattened addresses.
	mu    sync.Mutex
	state *policy.State // the latest State set, guarded by mu
	flat  flatTable     // the latest flattened addresses, guarded by mu
	// onTargets, when set (by the Server, before serving), receives the
	// flattened targets of each newly compiled State. It must not block.
	onTargets func([]string)
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
	// Metrics, when not nil, observes every answered query (see Metrics).
	Metrics Metrics
}

// Metrics receives one observation per answered query; the daemon backs
// it with Prometheus. ObserveQuery is called on the query path, once per
// reply sent (dropped messages are not observed; a zone transfer is one
// observation when it ends), from many goroutines at once: it must be
// safe for concurrent use, fast and not block. With no Metrics the query
// path neither reads the clock nor allocates for it.
type Metrics interface {
	// ObserveQuery records one reply. zone is the apex of the zone that
	// answered ("" when the name is in none of ours or the query could
	// not be read), qtype and rcode are mnemonics ("A", "NOERROR";
	// "other" for a type without one) and d is the time from reading
	// the query to the reply being ready to send.
	ObserveQuery(zone, qtype, rcode string, d time.Duration)
}

// NewHandler returns a Handler that answers SERVFAIL until the first
// SetState.
func NewHandler(cfg HandlerConfig) *Handler {
	h := &Handler{nodeID: cfg.NodeID, nsid: hex.EncodeToString([]byte(cfg.NodeID)), tsig: map[string]string{}, log: cfg.Logger, metrics: cfg.Metrics, now: time.Now, seed: maphash.MakeSeed()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range cfg.TSIGKeys {
		h.tsig[policy.CanonicalName(k)] = v
	}
	return h
}

// SetState compiles st and makes it the view that queries are answered
// from. On error the previous view stays in place. Flattened hostname
// endpoints answer the addresses the Server's resolver found for them;
// a Handler used on its own has none, so they answer nothing.
func (h *Handler) SetState(st *policy.State) error {
	if st == nil {
		return fmt.Errorf("compile view: nil state")
	}
	h.mu.Lock()
	v, err := compile(st, h.flat, h.now)
	if err != nil {
		h.mu.Unlock()
		return fmt.Errorf("compile view of index %d: %w", st.Index, err)
	}
	h.state = st
	h.view.Store(v)
	h.mu.Unlock()
	if h.onTargets != nil {
		h.onTargets(v.flatTargets)
	}
	return nil
}

// setFlat makes t the flattened addresses and recompiles the latest State
// with them. The serial does not change (see flatten.go).
func (h *Handler) setFlat(t flatTable) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.flat = t
	if h.state == nil {
		return
	}
	v, err := compile(h.state, t, h.now)
	if err != nil { // the same State compiled before; only a bug gets here
		h.log.Error("dns: recompiling with new flattened addresses failed; keeping the view", "index", h.state.Index, "error", err)
		return
	}
	h.view.Store(v)
}

// ServeDNS implements dns.Handler by answering r with Answer. It does not
// perform zone transfers; the Server's own TCP loop does.
func (h *Handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	var remote netip.AddrPort
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		remote = ap
	}
	var start time.Time
	if h.metrics != nil {
		start = time.Now()
	}
	v := h.view.Load()
	m := h.answer(v, r, remote)
	if m == nil {
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(udpLimit(r))
	}
	if h.metrics != nil {
		zone, qtype := "", uint16(0)
		if len(r.Question) == 1 {
			qtype = r.Question[0].Qtype
			if v != nil {
				if z := v.zoneOf(lower(r.Question[0].Name)); z != nil {
					zone = z.apex
				}
			}
		}
		h.metrics.ObserveQuery(zone, typeName(qtype), rcodeName(m.Rcode), time.Since(start))
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
// for (different from n.name when n is a wildcard). Positive answers get
// no NS records in the authority section (see the package doc).
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
	var aFlat, aaaaFlat []*flatClock
	if p.policy == policy.PolicyWeighted {
		if i := p.weights.Pick(randN(p.total)); i >= 0 {
			c := &p.choices[i]
			a, aaaa, cname = c.a, c.aaaa, c.cname
			if c.flat != nil {
				one := [1]*flatClock{c.flat}
				aFlat, aaaaFlat = one[:], one[:]
			}
		}
	} else {
		a, aaaa, cname = p.a, p.aaaa, p.cname
		aFlat, aaaaFlat = p.aFlat, p.aaaaFlat
	}
	var set []dns.RR
	var flats []*flatClock
	switch {
	case cname != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeCNAME || qtype == dns.TypeANY):
		set = []dns.RR{cname}
	case qtype == dns.TypeA || (qtype == dns.TypeANY && len(a) > 0):
		set, flats = a, aFlat
	case qtype == dns.TypeAAAA || qtype == dns.TypeANY:
		set, flats = aaaa, aaaaFlat
	}
	if len(set) == 0 {
		m.Ns = append(m.Ns, z.negSOA)
		return
	}
	ttl := uint32(0)
	if len(flats) > 0 {
		// Flattened addresses: the RRset's TTL (one TTL per RRset, RFC
		// 2181 section 5.2) counts down with the targets' TTLs.
		ttl = flatTTL(p.ttl, flats, set[0].Header().Rrtype, p.now())
	}
	start := len(m.Answer)
	for _, rr := range set {
		if synth || ttl > 0 {
			rr = dns.Copy(rr)
			rr.Header().Name = owner
			if ttl > 0 {
				rr.Header().Ttl = ttl
			}
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
