package route53

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"golang.org/x/time/rate"
)

// Client is the part of the Route 53 API the reconciler uses. The AWS SDK's
// *route53.Client satisfies it; NewSDKClient builds one with the rate
// limit and retries the reconciler expects.
type Client interface {
	// GetHostedZone resolves a hosted_zone_id to the zone's name.
	GetHostedZone(ctx context.Context, in *awsr53.GetHostedZoneInput, optFns ...func(*awsr53.Options)) (*awsr53.GetHostedZoneOutput, error)
	// ListHostedZonesByName resolves a zone_name to the zone's ID.
	ListHostedZonesByName(ctx context.Context, in *awsr53.ListHostedZonesByNameInput, optFns ...func(*awsr53.Options)) (*awsr53.ListHostedZonesByNameOutput, error)
	// ListResourceRecordSets reads back the owned record sets.
	ListResourceRecordSets(ctx context.Context, in *awsr53.ListResourceRecordSetsInput, optFns ...func(*awsr53.Options)) (*awsr53.ListResourceRecordSetsOutput, error)
	// ChangeResourceRecordSets sends one batch of changes.
	ChangeResourceRecordSets(ctx context.Context, in *awsr53.ChangeResourceRecordSetsInput, optFns ...func(*awsr53.Options)) (*awsr53.ChangeResourceRecordSetsOutput, error)
	// GetChange follows a change until it is INSYNC.
	GetChange(ctx context.Context, in *awsr53.GetChangeInput, optFns ...func(*awsr53.Options)) (*awsr53.GetChangeOutput, error)
}

var _ Client = (*awsr53.Client)(nil)

// Defaults of Options.
const (
	// DefaultRate is the client-side request rate, in requests per second:
	// Route 53's historic per-account quota.
	DefaultRate = 5
	// DefaultBurst is the token bucket's size.
	DefaultBurst = 1
	// DefaultMaxAttempts is the number of attempts (not retries) the SDK
	// gives each call.
	DefaultMaxAttempts = 5
	// DefaultRegion is the region requests are signed for: Route 53 is a
	// global service signed in us-east-1.
	DefaultRegion = "us-east-1"
)

// Options configures NewSDKClient. The zero value talks to AWS with the
// SDK's default credential chain, at DefaultRate requests per second.
type Options struct {
	// Endpoint is the base URL of the Route 53 API ("http://127.0.0.1:8053"
	// for the stand-in); "" means AWS's (or AWS_ENDPOINT_URL_ROUTE_53).
	Endpoint string
	// Region signs the requests; "" means DefaultRegion.
	Region string
	// Rate is the most HTTP requests per second the client sends,
	// retries included; 0 means DefaultRate.
	Rate float64
	// Burst is the token bucket's size; 0 means DefaultBurst.
	Burst int
	// MaxAttempts is the number of attempts per call; 0 means
	// DefaultMaxAttempts, 1 disables the SDK's retries.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts; 0 keeps the SDK's
	// default (20 s). Tests set it low.
	MaxBackoff time.Duration
	// Credentials replaces the default credential chain (environment,
	// shared config, instance role) when set.
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests when set (for example an *http.Client
	// whose Transport counts every attempt for metrics); nil means the
	// SDK's default client. It brings its own TLS settings: AWS_CA_BUNDLE
	// does not apply to it.
	HTTPClient aws.HTTPClient
}

// NewSDKClient returns an AWS SDK Route 53 client for the reconciler. Its
// configuration comes from the SDK's default chain (config.LoadDefaultConfig:
// environment, shared config and credentials files, instance role), then
// o. It has its own standard retryer, which retries Throttling,
// PriorRequestNotComplete and 5xx answers with exponential backoff and
// jitter, without the SDK's client-side retry quota (which would otherwise
// turn a long spell of throttling into "retry quota exceeded"); and a token
// bucket that every HTTP attempt, retries included, waits on.
func NewSDKClient(ctx context.Context, o Options) (*awsr53.Client, error) {
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return nil, fmt.Errorf("route53 client: rate %v must be a finite number >= 0", o.Rate)
	}
	if o.Burst < 0 || o.MaxAttempts < 0 || o.MaxBackoff < 0 {
		return nil, errors.New("route53 client: burst, max attempts and max backoff must be >= 0")
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	std := retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = o.MaxAttempts
		so.RateLimiter = ratelimit.None
		if o.MaxBackoff > 0 {
			so.MaxBackoff = o.MaxBackoff
		}
	})
	r := &limitedRetryer{RetryerV2: std, lim: rate.NewLimiter(rate.Limit(o.Rate), o.Burst)}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithRetryer(func() aws.Retryer { return r }),
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}

	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("route53 client: load AWS config: %w", err)
	}
	return awsr53.NewFromConfig(cfg, func(ro *awsr53.Options) {
		if o.Endpoint != "" {
			ro.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.HTTPClient != nil {
			// Set on the client rather than in LoadDefaultConfig,
			// which would try to add a custom CA bundle to it; the
			// caller's client brings its own TLS settings.
			ro.HTTPClient = o.HTTPClient
		}
		// LoadDefaultConfig may carry AWS_MAX_ATTEMPTS; ours wins.
		ro.RetryMaxAttempts = 0
	}), nil
}

// limitedRetryer makes every attempt, first tries and retries alike, wait
// for a token of lim before it is sent. The SDK asks GetAttemptToken once
// per HTTP attempt.
type limitedRetryer struct {
	aws.RetryerV2
	lim *rate.Limiter
}

// GetAttemptToken waits for the rate limiter, then defers to the standard
// retryer.
func (l *limitedRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if err := l.lim.Wait(ctx); err != nil {
		return nil, fmt.Errorf("route53 client: rate limit: %w", err)
	}
	return l.RetryerV2.GetAttemptToken(ctx)
}
