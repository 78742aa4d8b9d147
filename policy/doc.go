// Package policy is detour's domain model and its pure decisions.
//
// It holds the declarative Spec (zones, records, pools, endpoints, checks),
// its parsing and validation, the replicated State that the cluster
// publishes after every applied command, and the functions that turn a State
// into answers: which endpoints a pool serves, and what each zone contains.
//
// policy imports no other detour package and does no I/O: it reads no clock,
// opens no socket and starts no goroutine. Every other package may import it.
// Randomness and time enter as arguments, so every function here can be
// tested with plain tables.
package policy
