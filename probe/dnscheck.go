package probe

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// dnsUDPSize is the EDNS0 buffer size a dns check advertises.
const dnsUDPSize = 1232

// dnsChecker sends one query to each address (UDP, and again over TCP when
// the reply is truncated) and checks the rcode and, optionally, the answer.
type dnsChecker struct {
	dial   dialFunc
	addrs  []string
	query  *dns.Msg // template; copied per probe
	rcode  int
	answer string // substring of some answer RR's rdata; "" for none
}

var _ checker = (*dnsChecker)(nil)

// check queries every address in turn and returns the first failure.
func (d *dnsChecker) check(ctx context.Context) Result {
	var res Result
	for _, addr := range d.addrs {
		res = d.checkOne(ctx, addr)
		if !res.OK {
			return res
		}
	}
	if len(d.addrs) > 1 {
		res.Address = strings.Join(d.addrs, ",")
	}
	return res
}

// checkOne queries one address.
func (d *dnsChecker) checkOne(ctx context.Context, addr string) Result {
	reply, err := d.exchange(ctx, "udp", addr)
	if err == nil && reply.Truncated {
		reply, err = d.exchange(ctx, "tcp", addr)
	}
	if err != nil {
		return failure(classify(err, ClassDNS), addr, err.Error())
	}
	rcode := dns.RcodeToString[reply.Rcode]
	if reply.Rcode != d.rcode {
		r := failure(ClassDNS, addr, fmt.Sprintf("rcode %s, want %s", rcode, dns.RcodeToString[d.rcode]))
		r.Rcode = rcode
		return r
	}
	if d.answer != "" && !answerContains(reply.Answer, d.answer) {
		r := failure(ClassDNS, addr, fmt.Sprintf("no answer record contains %q (%d answers)", d.answer, len(reply.Answer)))
		r.Rcode = rcode
		return r
	}
	r := success(addr)
	r.Rcode = rcode
	return r
}

// exchange sends the query over a fresh connection and reads the reply.
func (d *dnsChecker) exchange(ctx context.Context, network, addr string) (*dns.Msg, error) {
	conn, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := watchDeadline(ctx, conn)
	defer stop()

	q := d.query.Copy()
	q.Id = dns.Id()
	co := &dns.Conn{Conn: conn, UDPSize: dnsUDPSize}
	if err := co.WriteMsg(q); err != nil {
		return nil, fmt.Errorf("send query over %s: %w", network, err)
	}
	reply, err := co.ReadMsg()
	if err != nil {
		return nil, fmt.Errorf("read reply over %s: %w", network, err)
	}
	if reply.Id != q.Id {
		return nil, fmt.Errorf("reply over %s has id %d, want %d", network, reply.Id, q.Id)
	}
	return reply, nil
}

// answerContains reports whether the rdata of some RR in rrs contains s.
func answerContains(rrs []dns.RR, s string) bool {
	for _, rr := range rrs {
		rdata := strings.TrimPrefix(rr.String(), rr.Header().String())
		if strings.Contains(rdata, s) {
			return true
		}
	}
	return false
}
