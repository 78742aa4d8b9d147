// Package route53 publishes detour's decisions to Amazon Route 53.
//
// It is the leader-only reconciler of Route 53 mode. Reconciler.Run takes
// the cluster's States from a StateSource, turns each into the desired
// record sets with policy's pure State.Route53Groups, reads back only the
// record sets it owns (ListResourceRecordSets of the published names), and
// sends the minimal difference in as few ChangeResourceRecordSets batches
// as Route 53's limits allow (one per hosted zone when they fit, never
// splitting one name's group, DELETEs using the record set exactly as
// read). It follows each change with GetChange until it is INSYNC, repairs
// drift every resync interval, retries failures with backoff and jitter,
// and reports per name (Status) whether it is in sync, pending, failed or
// refused because the name holds record sets of another routing policy.
// It touches only the records that the spec names.
//
// The package talks to Route 53 through Client, a small interface that it
// declares itself; the AWS SDK client satisfies it. NewSDKClient builds that
// client from the SDK's default configuration chain with one standard
// retryer (no client-side retry quota) and a token bucket that every HTTP
// attempt waits on. The package imports policy and no other detour package;
// docs/route53.md describes the mode for operators.
//
// Its tests run the real SDK client against the wire-level stand-in in the
// route53test subpackage, which speaks Route 53's REST-XML protocol on
// loopback and can throttle, fail, hold and delay changes on demand.
package route53
