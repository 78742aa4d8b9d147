package dnsserver

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// tsigFudge is the fudge, in seconds, of the TSIG records we sign with.
const tsigFudge = 300

// rawResult is what handleRaw decided for one wire message.
type rawResult struct {
	out []byte      // the reply; nil means drop
	xfr *xfrRequest // a zone transfer request (TCP only), to be streamed
	// class is the reply's rate-limiting class: set for UDP replies to
	// clients that rate limiting applies to (Handler.rrlFor) and for
	// memoized replies; the zero class is never limited.
	class rrlClass
}

// xfrRequest is a zone transfer request and the verified TSIG key name
// it was signed with ("" when unsigned).
type xfrRequest struct {
	req *dns.Msg
	key string
}

// handleRaw answers one wire-format message. udp selects the UDP size
// limits; buf is scratch space for the reply. Garbage gets FORMERR or is
// dropped; it never panics.
func (h *Handler) handleRaw(pkt []byte, remote netip.AddrPort, udp bool, buf []byte) rawResult {
	if h.metrics != nil {
		return h.handleObserved(pkt, remote, udp, buf)
	}
	if len(pkt) < 12 {
		return rawResult{} // not even a header: drop
	}
	if pkt[2]&0x80 != 0 {
		return rawResult{} // a response: drop
	}
	v := h.view.Load()
	var fq fastQuery
	fast := v != nil && !h.noMemo && parseFast(pkt, udp, &fq)
	if fast {
		if e := v.memoized(&fq); e != nil {
			return rawResult{out: patchReply(e.reply, pkt, fq.qend, buf), class: e.class}
		}
	}
	return h.general(pkt, remote, udp, buf, v, fast, &fq, nil)
}

// handleObserved is handleRaw with Metrics: the same steps, observing
// every reply. It is apart so that without Metrics the memoized path
// carries nothing of it.
func (h *Handler) handleObserved(pkt []byte, remote netip.AddrPort, udp bool, buf []byte) rawResult {
	ob := observation{start: time.Now()}
	if len(pkt) < 12 || pkt[2]&0x80 != 0 {
		return rawResult{} // not even a header, or a response: drop
	}
	v := h.view.Load()
	var fq fastQuery
	fast := v != nil && !h.noMemo && parseFast(pkt, udp, &fq)
	if fast {
		if e := v.memoized(&fq); e != nil {
			ob.zone, ob.qtype, ob.rcode = e.zone, fq.qtype, dns.RcodeSuccess
			return h.done(rawResult{out: patchReply(e.reply, pkt, fq.qend, buf), class: e.class}, &ob)
		}
	}
	return h.general(pkt, remote, udp, buf, v, fast, &fq, &ob)
}

// general answers pkt through the general path (unpack, answer, pack),
// from view v; fast says whether fq holds pkt read by parseFast (its
// reply is then memoized). ob, when not nil, is filled in and observed.
func (h *Handler) general(pkt []byte, remote netip.AddrPort, udp bool, buf []byte, v *view, fast bool, fq *fastQuery, ob *observation) rawResult {
	flags := binary.BigEndian.Uint16(pkt[2:])
	opcode := int(flags>>11) & 0xF
	if opcode != dns.OpcodeQuery && opcode != dns.OpcodeNotify {
		return h.done(rawResult{out: headerReply(buf, pkt, dns.RcodeNotImplemented, ob), class: errClass}, ob)
	}
	if binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return h.done(rawResult{out: headerReply(buf, pkt, dns.RcodeFormatError, ob), class: errClass}, ob)
	}
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return h.done(rawResult{out: headerReply(buf, pkt, dns.RcodeFormatError, ob), class: errClass}, ob)
	}
	if ob != nil {
		ob.qtype = req.Question[0].Qtype
		if v != nil {
			if z := v.zoneOf(lower(req.Question[0].Name)); z != nil {
				ob.zone = z.apex
			}
		}
	}
	var key, secret, mac string
	if t := req.IsTsig(); t != nil {
		key = lower(t.Hdr.Name)
		var ok bool
		secret, ok = h.tsig[key]
		if !ok || !strings.EqualFold(t.Algorithm, dns.HmacSHA256) {
			h.log.Debug("dns: TSIG with an unknown key", "key", key, "algorithm", t.Algorithm, "remote", remote.String())
			if ob != nil {
				ob.rcode = dns.RcodeNotAuth
			}
			return h.done(rawResult{out: tsigError(req, t, dns.RcodeBadKey, "", buf), class: errClass}, ob)
		}
		// TsigVerify rewrites the ARCOUNT of the buffer it is given.
		if err := dns.TsigVerify(bytes.Clone(pkt), secret, "", false); err != nil {
			h.log.Debug("dns: TSIG verification failed", "key", key, "remote", remote.String(), "error", err)
			code := uint16(dns.RcodeBadSig)
			if errors.Is(err, dns.ErrTime) {
				code = dns.RcodeBadTime
			}
			if ob != nil {
				ob.rcode = dns.RcodeNotAuth
			}
			return h.done(rawResult{out: tsigError(req, t, code, secret, buf), class: errClass}, ob)
		}
		mac = t.MAC
	}
	if !udp && len(req.Question) == 1 && opcode == dns.OpcodeQuery &&
		(req.Question[0].Qtype == dns.TypeAXFR || req.Question[0].Qtype == dns.TypeIXFR) {
		return rawResult{xfr: &xfrRequest{req: req, key: key}}
	}
	var m *dns.Msg
	if udp && len(req.Question) == 1 && opcode == dns.OpcodeQuery && req.Question[0].Qtype == dns.TypeIXFR {
		m = ixfrOverUDP(v, req, remote, key)
	} else {
		m = h.answer(v, req, remote)
	}
	if m == nil {
		return rawResult{}
	}
	if ob != nil {
		ob.rcode = m.Rcode
	}
	var class rrlClass
	if udp && h.rrlFor != nil && h.rrlFor(remote.Addr()) {
		class = h.classify(v, m)
	}
	limit := dns.MaxMsgSize
	if udp {
		limit = udpLimit(req)
	}
	if secret != "" {
		return h.done(rawResult{out: signReply(m, key, secret, mac, limit, buf), class: class}, ob)
	}
	if fast && len(m.Question) == 1 {
		// Pack against the lower-case question, then restore the
		// client's bytes: the reply is then the same whether it comes
		// from here or from the memo (owner names compressed against the
		// question show the client's case, as in NSD).
		q := m.Question[0]
		if lq := lower(q.Name); lq != q.Name {
			m.Question = []dns.Question{{Name: lq, Qtype: q.Qtype, Qclass: q.Qclass}}
		}
	}
	if udp {
		m.Truncate(limit)
	} else {
		m.Compress = true
	}
	out, err := m.PackBuffer(buf)
	if err != nil {
		h.log.Error("dns: pack reply", "err", err, "qname", req.Question[0].Name)
		return h.done(rawResult{out: headerReply(buf, pkt, dns.RcodeServerFailure, ob), class: errClass}, ob)
	}
	if fast && len(m.Question) == 1 && len(out) >= fq.qend {
		copy(out[12:fq.qend], pkt[12:fq.qend])
		if len(out) <= fq.limit {
			v.memoize(h, m, out, pkt, fq, class)
		}
	}
	return h.done(rawResult{out: out, class: class}, ob)
}

// errClass is the rate-limiting class of error replies, keyed by the
// client prefix alone.
var errClass = class(rrlError, 0)

// observation is what handleRaw learns about a reply, for Metrics.
type observation struct {
	start time.Time
	zone  string
	qtype uint16
	rcode int
}

// done returns r, first observing it when ob is not nil and r is a reply.
func (h *Handler) done(r rawResult, ob *observation) rawResult {
	if ob != nil && r.out != nil {
		h.observe(ob)
	}
	return r
}

// observe hands ob to Metrics.
func (h *Handler) observe(ob *observation) {
	h.metrics.ObserveQuery(ob.zone, typeName(ob.qtype), rcodeName(ob.rcode), time.Since(ob.start))
}

// tsigError is the reply to a query whose TSIG fails (RFC 8945 section
// 5.2): NOTAUTH with a TSIG record carrying the TSIG error. BADKEY and
// BADSIG replies are unsigned (MAC size 0, section 5.3.2), as the key or
// the MAC cannot be trusted; a BADTIME reply is signed with the key,
// keeps the request's Time Signed and holds our clock in Other Data
// (section 5.2.3), so that the client can see the skew. A reply that
// cannot be built is a bare NOTAUTH header.
func tsigError(req *dns.Msg, t *dns.TSIG, code uint16, secret string, buf []byte) []byte {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.Rcode = dns.RcodeNotAuth
	if len(req.Question) == 1 {
		m.Question = req.Question
	}
	rr := &dns.TSIG{
		Hdr:        dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  dns.Fqdn(t.Algorithm),
		TimeSigned: t.TimeSigned,
		Fudge:      t.Fudge,
		OrigId:     req.Id,
		Error:      code,
	}
	m.Extra = []dns.RR{rr}
	var out []byte
	var err error
	if code == dns.RcodeBadTime {
		var now [8]byte
		binary.BigEndian.PutUint64(now[:], uint64(time.Now().Unix()))
		rr.OtherLen = 6
		rr.OtherData = hex.EncodeToString(now[2:])
		out, _, err = dns.TsigGenerate(m, secret, t.MAC, false)
	} else {
		out, err = m.PackBuffer(buf)
	}
	if err != nil || new(dns.Msg).Unpack(out) != nil {
		// A TSIG record too broken to echo (the library packs some of
		// those without error, into a reply that does not parse).
		return headerReply(buf, headerOf(req), dns.RcodeNotAuth, nil)
	}
	return out
}

// headerOf returns the 12 header bytes of req (ID, opcode, RD) for
// headerReply.
func headerOf(req *dns.Msg) []byte {
	var hdr [12]byte
	binary.BigEndian.PutUint16(hdr[0:], req.Id)
	flags := uint16(req.Opcode&0xF) << 11
	if req.RecursionDesired {
		flags |= 0x0100
	}
	binary.BigEndian.PutUint16(hdr[2:], flags)
	return hdr[:]
}

// signReply packs m with a TSIG record; if it does not fit in limit the
// sections are dropped and TC set.
func signReply(m *dns.Msg, key, secret, mac string, limit int, buf []byte) []byte {
	m.Compress = true
	m.SetTsig(key, dns.HmacSHA256, tsigFudge, time.Now().Unix())
	out, _, err := dns.TsigGenerate(m, secret, mac, false)
	if err == nil && len(out) <= limit {
		return out
	}
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	var keep []dns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			keep = append(keep, rr)
		}
	}
	m.Extra = keep
	m.SetTsig(key, dns.HmacSHA256, tsigFudge, time.Now().Unix())
	out, _, err = dns.TsigGenerate(m, secret, mac, false)
	if err != nil {
		return nil
	}
	return out
}

// headerReply writes a reply of only a header to buf: the request's ID,
// opcode and RD, QR set, all counts zero. It records rcode in ob, when
// there is one.
func headerReply(buf, req []byte, rcode int, ob *observation) []byte {
	if ob != nil {
		ob.rcode = rcode
	}
	out := buf[:12]
	clear(out)
	copy(out[:2], req[:2])
	flags := binary.BigEndian.Uint16(req[2:])
	flags = 0x8000 | flags&(0xF<<11) | flags&0x0100 | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(out[2:], flags)
	return out
}

// typeName is the mnemonic of a query type for Metrics ("other" for a
// type without one, so that labels stay few).
func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "other"
}

// rcodeName is the mnemonic of an rcode for Metrics.
func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "other"
}
