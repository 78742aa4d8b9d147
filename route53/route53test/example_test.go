package route53test_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/detour-dns/detour/route53/route53test"
)

// A test starts the stand-in, seeds a zone, and drives it with the real SDK
// client; the call log shows what the client sent.
func Example() {
	s, err := route53test.New(route53test.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	zone, err := s.CreateZone("example.test", route53test.ZoneConfig{})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	c := s.Client(route53test.ClientOptions{})
	_, err = c.ChangeResourceRecordSets(ctx, &awsr53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone.ID),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{{
			Action: types.ChangeActionUpsert,
			ResourceRecordSet: &types.ResourceRecordSet{
				Name: aws.String("app.example.test"), Type: types.RRTypeA, SetIdentifier: aws.String("use1"), Weight: aws.Int64(10),
				AliasTarget: &types.AliasTarget{HostedZoneId: aws.String("Z35SXDOTRQ7X7K"),
					DNSName: aws.String("my-alb-1.us-east-1.elb.amazonaws.com"), EvaluateTargetHealth: true},
			},
		}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	out, err := c.ListResourceRecordSets(ctx, &awsr53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone.ID)})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range out.ResourceRecordSets {
		fmt.Println(*r.Name, r.Type)
	}
	for _, call := range s.Calls() {
		fmt.Println(call.Op, call.Status)
	}
	// Output:
	// example.test. NS
	// example.test. SOA
	// app.example.test. A
	// ChangeResourceRecordSets 200
	// ListResourceRecordSets 200
}
