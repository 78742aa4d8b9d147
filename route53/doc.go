// Package route53 will publish detour's decisions to Amazon Route 53.
//
// It is the leader-only reconciler of Route 53 mode: it turns the desired
// record sets that policy computes from the current State into the minimal
// set of ChangeResourceRecordSets batches (one per hosted zone when the
// limits allow, never splitting a weighted group), rate-limits and retries
// its calls, follows each change with GetChange until it is INSYNC, and
// reports per record whether it is in sync, pending or failed. It touches
// only the records that the spec names.
//
// The package talks to Route 53 through a small client interface that it
// declares itself; the AWS SDK client satisfies it. It imports policy and no
// other detour package.
//
// Its tests run the real SDK client against the wire-level stand-in in the
// route53test subpackage, which speaks Route 53's REST-XML protocol on
// loopback and can throttle, fail and delay propagation on demand.
package route53
