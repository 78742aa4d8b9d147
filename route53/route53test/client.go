package route53test

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsr53 "github.com/aws/aws-sdk-go-v2/service/route53"
)

// DefaultClientMaxAttempts is the number of attempts (not retries) a client
// made by NewClient gives each call.
const DefaultClientMaxAttempts = 5

// ClientOptions tunes a client made by NewClient. The zero value follows
// ROUTE53.md section 5: region us-east-1, static credentials, five
// attempts, the SDK's standard backoff, and no client-side retry quota.
type ClientOptions struct {
	// Region signs the requests; "" means us-east-1, where Route 53 signs.
	Region string
	// MaxAttempts is the number of attempts per call; 0 means
	// DefaultClientMaxAttempts, 1 disables retries.
	MaxAttempts int
	// NoBackoff retries at once instead of backing off (for fast tests; a
	// throttling answer's X-Amz-Retry-After is still honoured).
	NoBackoff bool
}

// NewClient returns a real aws-sdk-go-v2 Route 53 client pointed at the
// stand-in at url. It does not read the environment or shared config: the
// credentials are static and fake, and the endpoint is url. It gets its own
// standard retryer (Throttling, PriorRequestNotComplete and 5xx are retried)
// with the retry quota disabled, so that long fault tests do not end in
// "retry quota exceeded". optFns are applied last.
func NewClient(url string, co ClientOptions, optFns ...func(*awsr53.Options)) *awsr53.Client {
	region := co.Region
	if region == "" {
		region = "us-east-1"
	}
	attempts := co.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultClientMaxAttempts
	}
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.RateLimiter = ratelimit.None
		if co.NoBackoff {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}
	})
	opts := awsr53.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDROUTE53TEST", "route53test-secret", ""),
		Retryer:      retryer,
	}
	return awsr53.New(opts, optFns...)
}

// Client returns NewClient(s.URL(), co, optFns...). The server must have
// been started.
func (s *Server) Client(co ClientOptions, optFns ...func(*awsr53.Options)) *awsr53.Client {
	return NewClient(s.URL(), co, optFns...)
}
