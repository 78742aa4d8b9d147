package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Spec is the declarative description of everything detour serves: the
// zones it is authoritative for and the pools whose answers follow health.
// A Spec is replicated through the cluster log and is immutable once it is
// part of a published State.
type Spec struct {
	Zones []Zone `yaml:"zones" json:"zones"`
	Pools []Pool `yaml:"pools,omitempty" json:"pools,omitempty"`
	// Settings holds cluster-wide settings of the replicated state; nil
	// selects every default (see Settings).
	Settings *Settings `yaml:"settings,omitempty" json:"settings,omitempty"`
}

// Zone is one DNS zone served authoritatively by every node.
type Zone struct {
	// Name is the zone apex, absolute with a trailing dot ("example.test.").
	Name string `yaml:"name" json:"name"`
	// TTL is the default TTL of the zone's records, in seconds.
	TTL uint32 `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// SOA holds the fields of the zone's SOA record; the serial is not set
	// here: it is derived from the replicated log.
	SOA SOA `yaml:"soa" json:"soa"`
	// Nameservers are the zone's NS records, with glue addresses for names
	// inside the zone.
	Nameservers []Nameserver `yaml:"nameservers" json:"nameservers"`
	// Records are the zone's static records.
	Records []Record `yaml:"records,omitempty" json:"records,omitempty"`
	// Transfer says who may transfer the zone and whom to NOTIFY.
	Transfer *Transfer `yaml:"transfer,omitempty" json:"transfer,omitempty"`
}

// SOA holds the configurable fields of a zone's SOA record. Times are in
// seconds.
type SOA struct {
	MName   string `yaml:"mname" json:"mname"`
	RName   string `yaml:"rname" json:"rname"`
	Refresh uint32 `yaml:"refresh,omitempty" json:"refresh,omitempty"`
	Retry   uint32 `yaml:"retry,omitempty" json:"retry,omitempty"`
	Expire  uint32 `yaml:"expire,omitempty" json:"expire,omitempty"`
	Minimum uint32 `yaml:"minimum,omitempty" json:"minimum,omitempty"`
}

// Nameserver is one NS record at a zone apex. Addresses are the glue served
// for a name inside the zone; they must be empty for a name outside it.
type Nameserver struct {
	Name      string   `yaml:"name" json:"name"`
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty"`
}

// Transfer controls zone transfers (AXFR, IXFR answered as AXFR) and NOTIFY.
// A client may transfer when its address is inside one of Allow, or when it
// signs with one of Keys (TSIG key names defined in the node config); when
// both are given, both must hold.
type Transfer struct {
	Allow  []string `yaml:"allow,omitempty" json:"allow,omitempty"`
	Keys   []string `yaml:"keys,omitempty" json:"keys,omitempty"`
	Notify []string `yaml:"notify,omitempty" json:"notify,omitempty"`
}

// Record is one static RRset: every value of one type at one owner name.
type Record struct {
	// Name is absolute ("mail.example.test.") or relative to the zone
	// ("mail", "@" for the apex, "*.dev" for a wildcard).
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type" json:"type"`
	// TTL overrides the zone's TTL when set.
	TTL *uint32 `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Values are in zone-file presentation format for the type
	// ("10 mail.example.test." for MX).
	Values []string `yaml:"values" json:"values"`
}

// Routing policies of a pool.
const (
	PolicyFailover   = "failover"
	PolicyWeighted   = "weighted"
	PolicyMultivalue = "multivalue"
)

// Values of Pool.WhenAllDown.
const (
	AllDownServeAll  = "serve_all"
	AllDownServeNone = "serve_none"
)

// Pool is a name whose answers follow the health of its endpoints.
type Pool struct {
	// Name is the absolute owner name ("www.example.test."). It is always
	// fully qualified (a missing trailing dot is added, never a zone) and
	// must lie in one of the spec's zones; pools published only to
	// Route53 are not supported yet.
	Name string `yaml:"name" json:"name"`
	// Policy is failover, weighted or multivalue.
	Policy string `yaml:"policy" json:"policy"`
	// TTL of the pool's answers, in seconds.
	TTL uint32 `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// WhenAllDown is serve_all (answer as if all endpoints were healthy) or
	// serve_none (NODATA).
	WhenAllDown string `yaml:"when_all_down,omitempty" json:"when_all_down,omitempty"`
	// Check is how every endpoint of the pool is probed.
	Check     Check      `yaml:"check" json:"check"`
	Endpoints []Endpoint `yaml:"endpoints" json:"endpoints"`
	// Route53, when set, also publishes the pool's decisions to an
	// Amazon Route 53 hosted zone (see Route53 and docs/route53.md).
	Route53 *Route53 `yaml:"route53,omitempty" json:"route53,omitempty"`
	// Failback gates the return of a failover pool to a better tier
	// after a health-driven failover: auto (or empty: at once), manual
	// (only when an operator fails back) or a hold time ("5m"). See
	// FailbackMode.
	Failback string `yaml:"failback,omitempty" json:"failback,omitempty"`
}

// Endpoint is one regional deployment behind a pool: a set of addresses or
// a hostname (a load balancer's DNS name).
type Endpoint struct {
	Name string `yaml:"name" json:"name"`
	// Priority orders failover tiers: the lowest number is preferred.
	Priority int `yaml:"priority,omitempty" json:"priority,omitempty"`
	// Weight is the share of a weighted pool's answers, 0..1000.
	Weight *int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Addresses are IPv4 or IPv6 addresses answered as A and AAAA.
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	// Target is a hostname answered as a CNAME (or flattened to A/AAAA).
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Flatten answers Target's addresses instead of a CNAME.
	Flatten bool `yaml:"flatten,omitempty" json:"flatten,omitempty"`
	// CheckAddress sends the probe to this host (or host:port) instead.
	CheckAddress string `yaml:"check_address,omitempty" json:"check_address,omitempty"`
	// CheckURL sends an http(s) probe to this URL instead.
	CheckURL string `yaml:"check_url,omitempty" json:"check_url,omitempty"`
	// AliasHostedZoneID is the hosted zone of Target when the pool
	// publishes to Route 53 as an alias: it overrides the zone derived
	// from a load balancer's host name, or makes another target (such as
	// a CloudFront distribution) an alias.
	AliasHostedZoneID string `yaml:"alias_hosted_zone_id,omitempty" json:"alias_hosted_zone_id,omitempty"`
}

// Check types.
const (
	CheckHTTP  = "http"
	CheckHTTPS = "https"
	CheckTCP   = "tcp"
	CheckDNS   = "dns"
)

// Check describes how endpoints are probed and how many results in a row
// flip a node's verdict.
type Check struct {
	Type   string `yaml:"type" json:"type"`
	Port   int    `yaml:"port,omitempty" json:"port,omitempty"`
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Host is the HTTP Host header and the TLS server name.
	Host    string            `yaml:"host,omitempty" json:"host,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// ExpectStatus lists accepted HTTP status codes and ranges (200, "2xx",
	// "200-299").
	ExpectStatus    []StatusRange `yaml:"expect_status,omitempty" json:"expect_status,omitempty"`
	ExpectBody      string        `yaml:"expect_body,omitempty" json:"expect_body,omitempty"`
	ExpectBodyRegex string        `yaml:"expect_body_regex,omitempty" json:"expect_body_regex,omitempty"`
	TLSSkipVerify   bool          `yaml:"tls_skip_verify,omitempty" json:"tls_skip_verify,omitempty"`
	// Query, QueryType, ExpectRcode and ExpectAnswer configure dns checks.
	Query        string `yaml:"query,omitempty" json:"query,omitempty"`
	QueryType    string `yaml:"query_type,omitempty" json:"query_type,omitempty"`
	ExpectRcode  string `yaml:"expect_rcode,omitempty" json:"expect_rcode,omitempty"`
	ExpectAnswer string `yaml:"expect_answer,omitempty" json:"expect_answer,omitempty"`

	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout  Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Rise is how many successes in a row make a node call an endpoint
	// healthy; Fall how many failures make it unhealthy.
	Rise int `yaml:"rise,omitempty" json:"rise,omitempty"`
	Fall int `yaml:"fall,omitempty" json:"fall,omitempty"`
	// Quorum is how many node views must say healthy for the endpoint to be
	// healthy; 0 means a majority of voters.
	Quorum int `yaml:"quorum,omitempty" json:"quorum,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("500ms",
// "2m") in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads a Go duration string; a bare number is seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return Duration(n * float64(time.Second)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 500ms, 2s or 5m)", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string like 500ms", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON implements json.Unmarshaler; it takes a duration string or
// a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("a duration must be a string like 500ms")
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// StatusRange is an inclusive range of HTTP status codes. It is written as a
// number (200), a class ("2xx") or a range ("200-299").
type StatusRange struct {
	Lo, Hi int
}

// Contains reports whether code is inside r.
func (r StatusRange) Contains(code int) bool { return code >= r.Lo && code <= r.Hi }

// String formats r the way it is written in a spec.
func (r StatusRange) String() string {
	switch {
	case r.Lo == r.Hi:
		return strconv.Itoa(r.Lo)
	case r.Lo%100 == 0 && r.Hi == r.Lo+99:
		return fmt.Sprintf("%dxx", r.Lo/100)
	default:
		return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
	}
}

// ParseStatusRange reads "200", "2xx" or "200-299".
func ParseStatusRange(s string) (StatusRange, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a status code, class (2xx) or range (200-299)", s)
	if len(s) == 3 && (s[1:] == "xx" || s[1:] == "XX") && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return StatusRange{c, c + 99}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return StatusRange{}, bad
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return StatusRange{}, bad
		}
	}
	if a < 100 || b > 599 || a > b {
		return StatusRange{}, fmt.Errorf("%q is outside 100-599", s)
	}
	return StatusRange{a, b}, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *StatusRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a status must be a code, class or range", n.Line)
	}
	v, err := ParseStatusRange(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (r StatusRange) MarshalYAML() (any, error) {
	if r.Lo == r.Hi {
		return r.Lo, nil
	}
	return r.String(), nil
}

// MarshalJSON implements json.Marshaler.
func (r StatusRange) MarshalJSON() ([]byte, error) {
	if r.Lo == r.Hi {
		return json.Marshal(r.Lo)
	}
	return json.Marshal(r.String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *StatusRange) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		v, err := ParseStatusRange(strconv.Itoa(n))
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a status must be a code, class or range")
	}
	v, err := ParseStatusRange(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
