package route53test

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
)

// A client built the production way (the SDK's default credential chain,
// with the endpoint from the environment) reaches the stand-in too, signing
// for us-east-1/route53.
func TestClient_DefaultChainAndEndpointFromEnvironment(t *testing.T) {
	s := start(t, Options{Zones: []string{"example.test"}})
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENVTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", s.URL())
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	c := awsr53.NewFromConfig(cfg)
	out, err := c.ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{DNSName: aws.String("example.test")})
	if err != nil {
		t.Fatalf("ListHostedZonesByName: %v", err)
	}
	if len(out.HostedZones) != 1 || aws.ToString(out.HostedZones[0].Name) != "example.test." {
		t.Errorf("zones = %+v", out.HostedZones)
	}
	calls := s.Calls()
	if len(calls) != 1 || calls[0].SigningScope != "us-east-1/route53" {
		t.Errorf("calls = %+v", calls)
	}
	// An explicit BaseEndpoint (route53.endpoint in the node config) wins
	// over the environment, here pointing at a closed loopback port.
	t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", "http://127.0.0.1:1")
	cfg, err = config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	if _, err := awsr53.NewFromConfig(cfg, func(o *awsr53.Options) { o.RetryMaxAttempts = 1 }).
		ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{}); err == nil {
		t.Fatalf("the environment's endpoint was not used")
	}
	c = awsr53.NewFromConfig(cfg, func(o *awsr53.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	if _, err := c.ListHostedZonesByName(t.Context(), &awsr53.ListHostedZonesByNameInput{}); err != nil {
		t.Errorf("with BaseEndpoint: %v", err)
	}
}
