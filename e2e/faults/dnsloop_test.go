package faults

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// DNS client loop settings: each node gets one query every dnsEvery from
// the client namespace, each with dnsTimeout (plus dnsGrace) to answer.
const (
	dnsEvery   = 40 * time.Millisecond // 25 queries a second per node
	dnsTimeout = time.Second
	dnsGrace   = 500 * time.Millisecond // see run
	dnsName    = "www.example.test."
)

// dnsCounts are one node's DNS loop counters over a period.
type dnsCounts struct {
	sent     int64 // queries sent while the node was serving
	failed   int64 // of those: timeouts, errors, SERVFAIL, no answer
	unwanted int64 // answered with an address other than the one expected
	late     int64 // answered, but after dnsTimeout (within the grace)
}

func (d dnsCounts) sub(o dnsCounts) dnsCounts {
	return dnsCounts{d.sent - o.sent, d.failed - o.failed, d.unwanted - o.unwanted, d.late - o.late}
}

// dnsLoop queries one node at a steady rate from the client namespace.
// Only queries sent and answered while the node is serving count: a
// killed or paused node is not one clients can reach.
type dnsLoop struct {
	n        *node
	sent     atomic.Int64
	failed   atomic.Int64
	unwanted atomic.Int64
	late     atomic.Int64
	want     *atomic.Value // string: the address every answer must carry, "" for any

	mu      sync.Mutex
	samples []string // the first few failures, for the log
}

func (d *dnsLoop) counts() dnsCounts {
	return dnsCounts{d.sent.Load(), d.failed.Load(), d.unwanted.Load(), d.late.Load()}
}

// failures returns the recorded failure samples and clears them.
func (d *dnsLoop) failures() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.samples
	d.samples = nil
	return s
}

func (d *dnsLoop) fail(why string) {
	d.failed.Add(1)
	d.mu.Lock()
	if len(d.samples) < 5 {
		d.samples = append(d.samples, time.Now().Format("15:04:05.000")+" "+why)
	}
	d.mu.Unlock()
}

// run sends queries until stop is closed.
func (d *dnsLoop) run(clientNS string, stop <-chan struct{}) {
	var conn *dns.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	tick := time.NewTicker(dnsEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if conn == nil {
			var c net.Conn
			err := inNS(clientNS, func() error {
				var err error
				c, err = net.Dial("udp", d.n.dnsAddr())
				return err
			})
			if err != nil {
				if d.n.serving.Load() {
					d.sent.Add(1)
					d.fail("dial: " + err.Error())
				}
				continue
			}
			conn = &dns.Conn{Conn: c}
		}
		if !d.n.serving.Load() {
			continue
		}
		m := new(dns.Msg)
		m.SetQuestion(dnsName, dns.TypeA)
		_ = conn.SetDeadline(time.Now().Add(dnsTimeout))
		sentAt := time.Now()
		err := conn.WriteMsg(m)
		var r *dns.Msg
		read := func() {
			for err == nil {
				r, err = conn.ReadMsg()
				if err == nil && r.Id == m.Id {
					break // a late answer to an earlier query is skipped
				}
			}
		}
		read()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			// A grace period: on a loaded 2-core machine the test
			// process itself can stall past the deadline with the
			// answer already waiting in the socket. An answer in the
			// grace period counts as late, not failed.
			_ = conn.SetDeadline(time.Now().Add(dnsGrace))
			err = nil
			read()
		}
		if err == nil && time.Since(sentAt) > dnsTimeout {
			d.late.Add(1)
		}
		if !d.n.serving.Load() {
			continue // the node went away during the query
		}
		d.sent.Add(1)
		switch {
		case err != nil:
			d.fail(err.Error())
			// A fresh socket after an error: an ICMP error sticks to
			// a connected UDP socket.
			conn.Close()
			conn = nil
		case r.Rcode != dns.RcodeSuccess:
			d.fail("rcode " + dns.RcodeToString[r.Rcode])
		case len(r.Answer) == 0:
			d.fail("no answer")
		default:
			want, _ := d.want.Load().(string)
			if a, ok := r.Answer[0].(*dns.A); want != "" && (!ok || a.A.String() != want) {
				d.unwanted.Add(1)
				d.mu.Lock()
				if len(d.samples) < 5 {
					d.samples = append(d.samples, time.Now().Format("15:04:05.000")+" answered "+r.Answer[0].String())
				}
				d.mu.Unlock()
			}
		}
	}
}

// queryFrom asks addr for name's A records from namespace ns, returning
// the first address ("" on any failure).
func queryFrom(ns, addr, name string) string {
	var c net.Conn
	if err := inNS(ns, func() error {
		var err error
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		return ""
	}
	conn := &dns.Conn{Conn: c}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if err := conn.WriteMsg(m); err != nil {
		return ""
	}
	r, err := conn.ReadMsg()
	if err != nil || len(r.Answer) == 0 {
		return ""
	}
	if a, ok := r.Answer[0].(*dns.A); ok {
		return a.A.String()
	}
	return ""
}
