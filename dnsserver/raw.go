package dnsserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// tsigFudge is the fudge, in seconds, of the TSIG records we sign with.
const tsigFudge = 300

// rawResult is what handleRaw decided for one wire message.
type rawResult struct {
	out []byte   // the reply; nil means drop
	xfr *dns.Msg // a zone transfer request (TCP only), to be streamed
	key string   // the verified TSIG key name of xfr, if signed
}

// handleRaw answers one wire-format message. udp selects the UDP size
// limits; buf is scratch space for the reply. Garbage gets FORMERR or is
// dropped; it never panics.
func (h *Handler) handleRaw(pkt []byte, remote netip.AddrPort, udp bool, buf []byte) rawResult {
	if len(pkt) < 12 {
		return rawResult{} // not even a header: drop
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&0x8000 != 0 {
		return rawResult{} // a response: drop
	}
	v := h.view.Load()
	var fq fastQuery
	fast := v != nil && !h.noMemo && parseFast(pkt, udp, &fq)
	if fast {
		if out := v.memoized(pkt, &fq, buf); out != nil {
			return rawResult{out: out}
		}
	}
	opcode := int(flags>>11) & 0xF
	if opcode != dns.OpcodeQuery && opcode != dns.OpcodeNotify {
		return rawResult{out: headerReply(buf, pkt, dns.RcodeNotImplemented)}
	}
	if binary.BigEndian.Uint16(pkt[4:]) != 1 {
		return rawResult{out: headerReply(buf, pkt, dns.RcodeFormatError)}
	}
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return rawResult{out: headerReply(buf, pkt, dns.RcodeFormatError)}
	}
	var key, secret, mac string
	if t := req.IsTsig(); t != nil {
		key = lower(t.Hdr.Name)
		var ok bool
		secret, ok = h.tsig[key]
		// TsigVerify rewrites the ARCOUNT of the buffer it is given.
		if !ok || dns.TsigVerify(bytes.Clone(pkt), secret, "", false) != nil {
			h.log.Debug("dns: TSIG verification failed", "key", key, "remote", remote.String(), "known_key", ok)
			return rawResult{out: headerReply(buf, pkt, dns.RcodeNotAuth)}
		}
		mac = t.MAC
	}
	if !udp && len(req.Question) == 1 && opcode == dns.OpcodeQuery &&
		(req.Question[0].Qtype == dns.TypeAXFR || req.Question[0].Qtype == dns.TypeIXFR) {
		return rawResult{xfr: req, key: key}
	}
	m := h.answer(v, req, remote)
	if m == nil {
		return rawResult{}
	}
	limit := dns.MaxMsgSize
	if udp {
		limit = udpLimit(req)
	}
	if secret != "" {
		return rawResult{out: signReply(m, key, secret, mac, limit, buf)}
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
		return rawResult{out: headerReply(buf, pkt, dns.RcodeServerFailure)}
	}
	if fast && len(m.Question) == 1 && len(out) >= fq.qend {
		copy(out[12:fq.qend], pkt[12:fq.qend])
		if len(out) <= fq.limit {
			v.memoize(m, out, pkt, &fq)
		}
	}
	return rawResult{out: out}
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
// opcode and RD, QR set, all counts zero.
func headerReply(buf, req []byte, rcode int) []byte {
	out := buf[:12]
	clear(out)
	copy(out[:2], req[:2])
	flags := binary.BigEndian.Uint16(req[2:])
	flags = 0x8000 | flags&(0xF<<11) | flags&0x0100 | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(out[2:], flags)
	return out
}
