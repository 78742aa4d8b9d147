package dnsserver

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// The fast path: most queries are a plain question with at most an OPT
// record, and the reply to one is the same bytes every time except for
// the ID, the RD and CD flags and the case of the question. Such queries
// are parsed here without allocating, and their replies, once built by
// the general path, are kept per view (the view is immutable, so the
// memo never goes stale) and copied out with those fields patched. Pools
// whose answer changes per response (weighted, multivalue) are never
// memoized. Anything unusual takes the general path.

// maxMemo bounds the replies memoized per view; past it replies are built
// every time (random names cannot grow memory without bound).
const maxMemo = 100000

// fastQuery is a plain query read by parseFast.
type fastQuery struct {
	qend  int    // offset just past the question
	qtype uint16 // question type
	limit int    // largest reply allowed
	key   [262]byte
	klen  int
}

// parseFast reads pkt when it is a plain QUERY: one question of class IN
// with a name of ordinary characters, no answer or authority records, and
// at most one additional record, an OPT of version 0 whose options are
// NSID (empty, once), well-formed COOKIEs or unknown ones. It fills q with
// the memo key (lower-case name, type, EDNS mode and size limit) and
// reports whether pkt qualifies.
func parseFast(pkt []byte, udp bool, q *fastQuery) bool {
	if len(pkt) < 17 {
		return false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&0x8000 != 0 || (flags>>11)&0xF != dns.OpcodeQuery {
		return false
	}
	if binary.BigEndian.Uint16(pkt[4:]) != 1 || binary.BigEndian.Uint16(pkt[6:]) != 0 || binary.BigEndian.Uint16(pkt[8:]) != 0 {
		return false
	}
	ar := binary.BigEndian.Uint16(pkt[10:])
	if ar > 1 {
		return false
	}
	off, n := 12, 0
	for {
		if off >= len(pkt) {
			return false
		}
		l := int(pkt[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l > len(pkt) || n+l+2 > 255 {
			return false
		}
		q.key[n] = byte(l)
		n++
		for _, c := range pkt[off+1 : off+1+l] {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '*':
			default:
				return false
			}
			q.key[n] = c
			n++
		}
		off += 1 + l
	}
	q.key[n] = 0
	n++
	if off+4 > len(pkt) {
		return false
	}
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	if binary.BigEndian.Uint16(pkt[off+2:]) != dns.ClassINET {
		return false
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG:
		return false
	}
	off += 4
	q.qend = off
	mode := byte(0)
	q.limit = dns.MaxMsgSize
	if udp {
		q.limit = dns.MinMsgSize
	}
	if ar == 1 {
		if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT {
			return false
		}
		size := binary.BigEndian.Uint16(pkt[off+3:])
		if pkt[off+5] != 0 || pkt[off+6] != 0 { // extended rcode, version
			return false
		}
		rdlen := int(binary.BigEndian.Uint16(pkt[off+9:]))
		off += 11
		if off+rdlen != len(pkt) {
			return false
		}
		mode = 1
		for off < len(pkt) {
			if off+4 > len(pkt) {
				return false
			}
			code := binary.BigEndian.Uint16(pkt[off:])
			olen := int(binary.BigEndian.Uint16(pkt[off+2:]))
			if off+4+olen > len(pkt) {
				return false
			}
			switch code {
			case dns.EDNS0NSID:
				if olen != 0 || mode&2 != 0 {
					return false
				}
				mode |= 2
			case dns.EDNS0COOKIE:
				if olen != 8 && (olen < 16 || olen > 40) {
					return false
				}
			}
			off += 4 + olen
		}
		if udp {
			q.limit = int(min(max(size, dns.MinMsgSize), advertisedUDPSize))
		}
	} else if off != len(pkt) {
		return false
	}
	q.key[n] = byte(q.qtype >> 8)
	q.key[n+1] = byte(q.qtype)
	q.key[n+2] = mode
	q.key[n+3] = byte(q.limit >> 8)
	q.key[n+4] = byte(q.limit)
	q.klen = n + 5
	return true
}

// memoEntry is one memoized reply: its bytes (ID zero, RD and CD clear,
// the question in lower case), the apex of the zone that answered it,
// for Metrics, and its rate-limiting class. Memoized replies are all
// NOERROR.
type memoEntry struct {
	reply []byte
	zone  string
	class rrlClass
}

// memoized returns the memoized reply to the fast query q, or nil when
// there is none yet.
func (v *view) memoized(q *fastQuery) *memoEntry {
	val, ok := v.memo.Load(string(q.key[:q.klen]))
	if !ok {
		return nil
	}
	return val.(*memoEntry)
}

// patchReply copies a memoized reply into buf with the ID, RD, CD and
// question bytes of the request pkt.
func patchReply(memo, pkt []byte, qend int, buf []byte) []byte {
	out := append(buf[:0], memo...)
	copy(out[0:2], pkt[0:2])
	out[2] = out[2]&^0x01 | pkt[2]&0x01 // RD
	out[3] = out[3]&^0x10 | pkt[3]&0x10 // CD
	copy(out[12:qend], pkt[12:qend])
	return out
}

// memoize keeps reply (just built by the general path for the fast query
// q in pkt) when it is the same for every such query: a NOERROR answer
// that involves no pool answering at random or with flattened addresses
// (whose TTL counts down). class is its rate-limiting class, or 0 when
// it is yet to be found (by h).
func (v *view) memoize(h *Handler, m *dns.Msg, reply, pkt []byte, q *fastQuery, class rrlClass) {
	if m.Rcode != dns.RcodeSuccess || len(reply) < q.qend || v.memoCount.Load() >= maxMemo {
		return
	}
	z := v.zoneOf(lower(m.Question[0].Name))
	if z == nil {
		return
	}
	for _, rr := range m.Answer {
		if n, ok := z.nodes[rr.Header().Name]; ok && n.pool != nil && !n.pool.fixed() {
			return
		}
	}
	if class == 0 {
		class = h.classify(v, m)
	}
	memo := make([]byte, len(reply))
	copy(memo, reply)
	memo[0], memo[1] = 0, 0
	memo[2] &^= 0x01
	memo[3] &^= 0x10
	copy(memo[12:q.qend-4], lowerWire(pkt[12:q.qend-4])) // the name, not type and class
	if _, loaded := v.memo.LoadOrStore(string(q.key[:q.klen]), &memoEntry{reply: memo, zone: z.apex, class: class}); !loaded {
		v.memoCount.Add(1)
	}
}

// lowerWire returns a lower-cased copy of wire-format bytes.
func lowerWire(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
