package route53

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/detour-dns/detour/policy"
)

// listPageSize is the MaxItems of each ListResourceRecordSets call: the
// API's largest page.
const listPageSize = 300

// reversedKey spells a canonical name with its labels reversed and a
// trailing dot ("www.example.com." -> "com.example.www."), the key
// Route 53 lists by.
func reversedKey(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "."
}

// reversedLabels returns name's labels, the top-level one first.
func reversedLabels(name string) []string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return labels
}

// listLess reports whether a lists before b. Route 53 documents only that
// it lists "by name with the labels reversed"; whether the reversed names
// are compared as strings or label by label is not documented, and the two
// differ for names with '-' or '_' (for which '.' sorts in between). So a
// is before b only when both readings agree; names on which they disagree
// are listed on their own (see listOwned).
func listLess(a, b string) bool {
	return reversedKey(a) < reversedKey(b) && slices.Compare(reversedLabels(a), reversedLabels(b)) < 0
}

// listMaybeLess reports whether a may list before b under either reading.
func listMaybeLess(a, b string) bool {
	return reversedKey(a) < reversedKey(b) || slices.Compare(reversedLabels(a), reversedLabels(b)) < 0
}

// listOwned reads, from zone zoneID, every record set whose name is one of
// names (canonical). It lists only where those names are: it starts at the
// first name and continues page by page while the next page begins at
// another owned name, and jumps to the next owned name otherwise, so
// records of the zone that detour does not own are read only when they lie
// between owned names on a page. It returns the record sets by name.
func (r *Reconciler) listOwned(ctx context.Context, zoneID string, names []string) (map[string][]types.ResourceRecordSet, error) {
	owned := make(map[string]bool, len(names))
	for _, n := range names {
		owned[n] = true
	}
	pending := slices.Clone(names)
	slices.SortFunc(pending, func(a, b string) int { return strings.Compare(reversedKey(a), reversedKey(b)) })
	pending = slices.Compact(pending)
	out := make(map[string][]types.ResourceRecordSet)
	// seen holds the identities read so far: a jump back to a name on
	// which the two orders disagree may read some record sets again.
	seen := make(map[string]bool)
	in := &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(listPageSize)}
	if len(pending) > 0 {
		in.StartRecordName = aws.String(pending[0])
	}
	for guard := 0; len(pending) > 0; guard++ {
		if guard > 10*len(names)+1000 {
			return nil, fmt.Errorf("list record sets of zone %s: no progress after %d pages", zoneID, guard)
		}
		start := policy.CanonicalName(aws.ToString(in.StartRecordName))
		resp, err := r.client.ListResourceRecordSets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list record sets of zone %s from %s: %w", zoneID, start, err)
		}
		for _, rs := range resp.ResourceRecordSets {
			n := policy.CanonicalName(aws.ToString(rs.Name))
			id := n + " " + string(rs.Type) + " " + aws.ToString(rs.SetIdentifier)
			if owned[n] && !seen[id] {
				seen[id] = true
				out[n] = append(out[n], rs)
			}
		}
		next := ""
		if resp.IsTruncated && resp.NextRecordName != nil {
			next = policy.CanonicalName(aws.ToString(resp.NextRecordName))
		}
		// Drop the owned names this page has certainly covered: from
		// start (inclusive) up to next (exclusive), or to the end of the
		// zone when the listing is complete.
		pending = slices.DeleteFunc(pending, func(n string) bool {
			if n == start {
				return n != next
			}
			if listMaybeLess(n, start) {
				return false
			}
			return next == "" || listLess(n, next)
		})
		if len(pending) == 0 {
			break
		}
		in = &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(listPageSize)}
		if next != "" && pending[0] == next {
			in.StartRecordName = resp.NextRecordName
			in.StartRecordType = resp.NextRecordType
			in.StartRecordIdentifier = resp.NextRecordIdentifier
		} else {
			in.StartRecordName = aws.String(pending[0])
		}
	}
	return out, nil
}
