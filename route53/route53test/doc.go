// Package route53test is a stand-in for the Amazon Route 53 API, for tests
// and demos that cannot reach AWS.
//
// A Server speaks the Route 53 REST-XML protocol (API version 2013-04-01) over
// HTTP, so the real aws-sdk-go-v2 route53 client can be pointed at it (see
// NewClient). It implements the operations detour uses: CreateHostedZone (for
// setup), GetHostedZone, ListHostedZonesByName, ChangeResourceRecordSets,
// ListResourceRecordSets and GetChange, following the behaviour checklist in
// the project's ROUTE53.md: all-or-nothing change batches validated against a
// working copy, AWS's error forms and messages, alias rules, listing order and
// pagination, and a configurable delay before a change is INSYNC.
//
// Fault switches (Faults) make it throttle by rate or by fraction, answer
// PriorRequestNotComplete, fail with 5xx, or add latency. Tests can seed zones
// and records, make out-of-band edits (someone else's change), inspect the
// records, and read the call log (operation, time, outcome and decoded change
// batch) to count calls and check request rates. Run serves a Server as a
// small command.
//
// Where ROUTE53.md marks behaviour as a guess, the choice made here is noted
// on the code that implements it, prefixed "Guess:".
//
// The package imports no other detour package.
package route53test
