// Package dnsserver is detour's authoritative DNS server. Every node runs
// one: it answers over UDP and TCP from a view compiled once per published
// policy.State (names to prepared RRsets, pools to their current answer
// sets) and swapped in atomically, so the query path takes no lock and
// never waits on Raft. It handles EDNS0, truncation, zone transfers (AXFR,
// IXFR answered as AXFR over TCP and with the current SOA alone over UDP)
// guarded by address prefixes and TSIG, and sends NOTIFY to secondaries
// when a zone's serial changes. It imports only policy.
//
// Handler.Answer is the pure core (a request in, a response out) used by
// socket-free tests; Server binds the listeners and follows a StateSource.
//
// Hostname endpoints answer a CNAME, except where a CNAME may not be (a
// pool at the zone apex, or at any name with other data) or when the
// endpoint says flatten: true: there the Server resolves the target in
// the background through its Resolver and answers its A and AAAA records,
// with TTL min(pool TTL, the target's remaining TTL). Until a target is
// resolved its endpoint answers nothing (NODATA when it is the pool's
// only candidate). Flattened addresses are per node and do not change
// the SOA serial; flatten.go says why.
//
// Hardening (docs/reliability.md, "DNS hardening"): UDP replies are at
// most 1232 bytes; UDP is served by a fixed set of workers and TCP by at
// most MaxTCPConns goroutines (MaxTCPConnsPerClient per address), each
// closed by its initial, idle, read and write timeouts (and, when set,
// after TCPMaxQueries queries); UDP replies to clients that are not
// loopback are rate limited per client prefix and response kind, with
// slip (rrl.go). TCP replies are never rate limited.
//
// Choices a reader may look for:
//   - Positive answers carry no NS records in the authority section.
//     RFC 1034 section 4.3.2 puts the zone's NS records in the authority
//     section for referrals (step 3b), not for answers; NSD adds them,
//     BIND's minimal-responses and many others do not. Resolvers rank
//     authority data of an answer below the answer itself (RFC 2181
//     section 5.4.1) and already hold the NS set from the referral that
//     led them here, so the records would only make replies larger (more
//     truncation at 512 octets) and memoized replies longer.
//   - A query with TSIG that fails gets NOTAUTH with a TSIG record
//     carrying BADKEY or BADSIG, unsigned, or BADTIME, signed (RFC 8945
//     section 5.2).
//   - A second server on an address in use fails to start: the TCP
//     port, bound without SO_REUSEPORT before the UDP sockets, is the
//     lock (see listen).
//   - Metrics, when set, sees every reply; without it the query path
//     does not read the clock.
//   - On Linux each UDP worker issues recvmmsg and sendmmsg, and each
//     TCP connection recvfrom and sendto, as raw system calls on the
//     non-blocking socket, waiting in Go's network poller: an ordinary
//     syscall wakes the runtime's monitor thread after every idle
//     moment, which put NSD-beating throughput next to a UDP p99 1.6x
//     NSD's at moderate rates (see udpio_linux.go and tcpio_linux.go).
package dnsserver
