package route53test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// benchZone makes a zone of n weighted record sets (n/2 names, two members
// each) through the server.
func benchZone(b *testing.B, s *Server, n int) Zone {
	b.Helper()
	z, err := s.CreateZone("example.test", ZoneConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var batch ChangeBatch
	for i := range n {
		batch.Changes = append(batch.Changes, Change{Action: ActionCreate, RecordSet: RecordSet{
			Name: fmt.Sprintf("pool%04d.example.test", i/2), Type: "A", SetIdentifier: fmt.Sprint("r", i%2), Weight: ptr[int64](1),
			TTL: ptr[int64](60), ResourceRecords: []string{"198.51.100.1"}}})
		if len(batch.Changes) == 500 {
			if _, err := s.Edit(z.ID, batch); err != nil {
				b.Fatal(err)
			}
			batch.Changes = nil
		}
	}
	if len(batch.Changes) > 0 {
		if _, err := s.Edit(z.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	return z
}

func benchServer(b *testing.B) (*Server, *awsr53.Client) {
	b.Helper()
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, s.Client(ClientOptions{MaxAttempts: 1})
}

// BenchmarkListAll4000 lists a zone of 4,000 record sets through the SDK
// paginator (14 pages of 300).
func BenchmarkListAll4000(b *testing.B) {
	s, c := benchServer(b)
	z := benchZone(b, s, 4000)
	for b.Loop() {
		p := awsr53.NewListResourceRecordSetsPaginator(c, &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(z.ID)})
		n := 0
		for p.HasMorePages() {
			page, err := p.NextPage(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			n += len(page.ResourceRecordSets)
		}
		if n != 4002 {
			b.Fatalf("listed %d", n)
		}
	}
}

// BenchmarkUpsert500 sends a 500-change UPSERT batch (1,000 counted
// records, the request limit) into a zone of 4,000 record sets through the
// SDK.
func BenchmarkUpsert500(b *testing.B) {
	s, c := benchServer(b)
	z := benchZone(b, s, 4000)
	var changes []types.Change
	for i := range 500 {
		changes = append(changes, chg(upsert, weighted(rrA(fmt.Sprintf("pool%04d.example.test", i/2), 60, "198.51.100.2"), fmt.Sprint("r", i%2), 0)))
	}
	in := &awsr53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(z.ID), ChangeBatch: &types.ChangeBatch{Changes: changes}}
	for b.Loop() {
		if _, err := c.ChangeResourceRecordSets(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEdit500 applies the same batch in process, without HTTP and XML.
func BenchmarkEdit500(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	z := benchZone(b, s, 4000)
	var batch ChangeBatch
	for i := range 500 {
		batch.Changes = append(batch.Changes, Change{Action: ActionUpsert, RecordSet: RecordSet{
			Name: fmt.Sprintf("pool%04d.example.test", i/2), Type: "A", SetIdentifier: fmt.Sprint("r", i%2), Weight: ptr[int64](0),
			TTL: ptr[int64](60), ResourceRecords: []string{"198.51.100.2"}}})
	}
	for b.Loop() {
		if _, err := s.Edit(z.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
}
