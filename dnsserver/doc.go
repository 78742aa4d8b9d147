// Package dnsserver is detour's authoritative DNS server. Every node runs
// one: it answers over UDP and TCP from a view compiled once per published
// policy.State (names to prepared RRsets, pools to their current answer
// sets) and swapped in atomically, so the query path takes no lock and
// never waits on Raft. It handles EDNS0, truncation, zone transfers (AXFR,
// IXFR answered as AXFR) guarded by address prefixes and TSIG, and sends
// NOTIFY to secondaries when a zone's serial changes.
//
// Handler.Answer is the pure core (a request in, a response out) used by
// socket-free tests; Server binds the listeners and follows a StateSource.
package dnsserver
