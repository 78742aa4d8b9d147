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
// batch) to count calls and check request rates (PeakCalls), hold change
// requests in flight (HoldChanges) to test a leader dying mid-batch, and
// decide when changes are INSYNC. Run serves a Server as a small command.
//
// Where ROUTE53.md marks behaviour as a guess, the choice made here is noted
// on the code that implements it, prefixed "Guess:". In short:
//
//   - Listing order compares the reversed labels byte by byte on the raw
//     (unescaped) name, with the trailing dot, so '-' and '*' sort before
//     '.'; record sets of one name and type are ordered by SetIdentifier.
//   - In one batch the only repeat allowed for an identity is DELETE then
//     CREATE; any other repeat is "an invalid set of changes".
//   - DELETE compares values as a set and may omit MultiValueAnswer (and then
//     also the SetIdentifier's policy); everything else must match.
//   - Rules about the final state of a name (CNAME exclusivity, no mixing of
//     policies, weighted TTLs and count, unique latency regions, failover
//     roles and geolocations, the apex SOA and NS) are checked after the
//     whole batch, against the record sets the batch wrote.
//   - The request limits count an alias as one record of no characters
//     (stricter than counting ResourceRecord elements only); the zone quota
//     and the value checks answer InvalidChangeBatch.
//   - Failover aliases must evaluate target health (InvalidInput).
//   - Enum and range violations answer InvalidInput in AWS's generic
//     "N validation errors detected" form.
//   - An alias target is accepted when its zone is an AWS canonical zone
//     (ELB by region, CloudFront, Global Accelerator) that serves its name,
//     or a zone of this server holding a record set of that name and type.
//   - PriorRequestNotComplete is only ever injected (FailPriorRequest,
//     Faults.PriorRequestFraction), never a side effect of PENDING changes.
//
// The semantic item A6 of the checklist (weight 0 on every member spreads
// traffic evenly; EvaluateTargetHealth on load balancer aliases) concerns
// AWS's DNS answers, not the API, and is not modelled.
//
// The package imports no other detour package.
package route53test
