package config

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/detour-dns/detour/policy"
)

// Defaults of the route53 section, applied when Route53 mode is enabled.
const (
	// DefaultRoute53Region is the region Route 53 requests are signed for
	// (Route 53 is a global service signed in us-east-1).
	DefaultRoute53Region = "us-east-1"
	// DefaultRoute53Rate is the client-side request rate, in requests per
	// second, retries included.
	DefaultRoute53Rate = 5.0
	// DefaultRoute53Resync is the time between full passes that read
	// every owned record back to repair drift.
	DefaultRoute53Resync = 60 * time.Second
)

// Route53File is the route53 section of the node config file: whether
// this node publishes the spec's route53 pools when it leads, and how it
// talks to the Route 53 API. Credentials never live here: they come from
// the AWS SDK's default chain.
type Route53File struct {
	// Enabled turns Route 53 mode on for this node (default false). Every
	// node that may lead should enable it: only the leader publishes.
	Enabled *bool `yaml:"enabled"`
	// Endpoint is the base URL of the Route 53 API (default: AWS's); set
	// it to point the node at the stand-in ("detour route53-standin").
	Endpoint *string `yaml:"endpoint"`
	// Region signs the requests (default us-east-1).
	Region *string `yaml:"region"`
	// Rate is the most requests per second, retries included (default 5).
	Rate *float64 `yaml:"rate"`
	// Burst is the token bucket's size (default 1).
	Burst *int `yaml:"burst"`
	// MaxAttempts is the number of attempts per API call (default 5; 1
	// disables retries).
	MaxAttempts *int `yaml:"max_attempts"`
	// ResyncInterval is the time between full passes (default 60s).
	ResyncInterval *policy.Duration `yaml:"resync_interval"`
	// PollInterval is the time between GetChange checks of pending
	// changes (default 10s).
	PollInterval *policy.Duration `yaml:"poll_interval"`
}

// Route53 holds the Route 53 settings of a Runtime. When Enabled is false
// every other field is zero.
type Route53 struct {
	// Enabled says whether this node runs the reconciler while it leads.
	Enabled bool
	// Endpoint is the API base URL; "" means AWS's.
	Endpoint string
	// Region signs the requests.
	Region string
	// Rate is in requests per second; Burst is the token bucket's size.
	Rate  float64
	Burst int
	// MaxAttempts is the number of attempts per call.
	MaxAttempts int
	// ResyncInterval and PollInterval time the reconciler's passes.
	ResyncInterval, PollInterval time.Duration
}

// overlayRoute53 sets in f every route53 field that o sets.
func (f *File) overlayRoute53(o File) {
	if o.Route53 == nil {
		return
	}
	if f.Route53 == nil {
		f.Route53 = &Route53File{}
	}
	r, s := f.Route53, o.Route53
	overlay(&r.Enabled, s.Enabled)
	overlay(&r.Endpoint, s.Endpoint)
	overlay(&r.Region, s.Region)
	overlay(&r.Rate, s.Rate)
	overlay(&r.Burst, s.Burst)
	overlay(&r.MaxAttempts, s.MaxAttempts)
	overlay(&r.ResyncInterval, s.ResyncInterval)
	overlay(&r.PollInterval, s.PollInterval)
}

// route53Runtime validates the route53 section (nil: disabled), reporting
// problems to bad, and fills in its defaults. The section is checked even
// when disabled, so that a typo does not wait for the day it is enabled.
func route53Runtime(f *Route53File, bad func(path, format string, args ...any)) Route53 {
	if f == nil {
		return Route53{}
	}
	out := Route53{
		Region:         DefaultRoute53Region,
		Rate:           DefaultRoute53Rate,
		Burst:          1,
		MaxAttempts:    5,
		ResyncInterval: DefaultRoute53Resync,
		PollInterval:   10 * time.Second,
	}
	if f.Endpoint != nil && *f.Endpoint != "" {
		e := strings.TrimSuffix(*f.Endpoint, "/")
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			bad("route53.endpoint", "%q is not a base URL like http://127.0.0.1:8060", *f.Endpoint)
		}
		out.Endpoint = e
	}
	if f.Region != nil {
		switch r := *f.Region; {
		case r == "":
			bad("route53.region", "must not be empty (default %s)", DefaultRoute53Region)
		case strings.ContainsAny(r, " \t\n/"):
			bad("route53.region", "%q is not a region name", r)
		default:
			out.Region = r
		}
	}
	if f.Rate != nil {
		if r := *f.Rate; r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			bad("route53.rate", "must be a number of requests per second above 0, got %v", r)
		} else {
			out.Rate = r
		}
	}
	if f.Burst != nil {
		if *f.Burst < 1 {
			bad("route53.burst", "must be at least 1, got %d", *f.Burst)
		} else {
			out.Burst = *f.Burst
		}
	}
	if f.MaxAttempts != nil {
		if *f.MaxAttempts < 1 || *f.MaxAttempts > 20 {
			bad("route53.max_attempts", "must be from 1 to 20, got %d", *f.MaxAttempts)
		} else {
			out.MaxAttempts = *f.MaxAttempts
		}
	}
	dur := func(path string, p *policy.Duration, min time.Duration, dst *time.Duration) {
		if p == nil {
			return
		}
		if d := p.D(); d < min {
			bad(path, "must be at least %s, got %s", min, p)
		} else {
			*dst = d
		}
	}
	dur("route53.resync_interval", f.ResyncInterval, time.Second, &out.ResyncInterval)
	dur("route53.poll_interval", f.PollInterval, 100*time.Millisecond, &out.PollInterval)
	if f.Enabled == nil || !*f.Enabled {
		return Route53{}
	}
	out.Enabled = true
	return out
}

// String describes the settings for logs.
func (r Route53) String() string {
	if !r.Enabled {
		return "disabled"
	}
	ep := r.Endpoint
	if ep == "" {
		ep = "AWS"
	}
	return fmt.Sprintf("endpoint %s, region %s, %g requests/s, resync every %s", ep, r.Region, r.Rate, r.ResyncInterval)
}
