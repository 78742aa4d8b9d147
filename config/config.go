package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/detour-dns/detour/policy"
)

// File mirrors the node config file. Every field is optional; a nil
// pointer means "not set here" so that flags and defaults can fill it.
type File struct {
	// NodeID names this node in the cluster (required; letters, digits,
	// '.', '_', '-').
	NodeID *string `yaml:"node_id"`
	// Region is where the node runs ("us-east-1"); shown in status.
	Region *string `yaml:"region"`
	// DataDir holds the Raft log, stable store and snapshots (required).
	DataDir *string `yaml:"data_dir"`
	// DNSAddr is the DNS listen address, UDP and TCP (default ":53").
	DNSAddr *string `yaml:"dns_addr"`
	// APIAddr is the admin API listen address (default "127.0.0.1:8053").
	APIAddr *string `yaml:"api_addr"`
	// APIAdvertise is the API base URL other nodes and the CLI use to reach
	// this node (default: http:// + the bound API address).
	APIAdvertise *string `yaml:"api_advertise"`
	// RaftAddr is the Raft TCP listen address (default "127.0.0.1:8054").
	RaftAddr *string `yaml:"raft_addr"`
	// RaftAdvertise is the Raft address other nodes dial (default: the
	// bound address; required when RaftAddr has no specific host).
	RaftAdvertise *string `yaml:"raft_advertise"`
	// Bootstrap forms a new cluster when the data dir holds no state.
	Bootstrap *bool `yaml:"bootstrap"`
	// Join lists API URLs of existing members to join through.
	Join []string `yaml:"join"`
	// Raft tunes consensus timing.
	Raft *RaftFile `yaml:"raft"`
	// Log sets the log level and format.
	Log *LogFile `yaml:"log"`
	// DNS holds DNS server settings.
	DNS *DNSFile `yaml:"dns"`
	// Probe tunes this node's health prober.
	Probe *ProbeFile `yaml:"probe"`
	// Route53 enables and tunes Route 53 mode (see Route53File).
	Route53 *Route53File `yaml:"route53"`
	// API holds the admin API's TLS files.
	API *APIFile `yaml:"api"`
	// Auth holds the API tokens.
	Auth *AuthFile `yaml:"auth"`
	// RaftTLS enables mutual TLS between Raft peers.
	RaftTLS *RaftTLSFile `yaml:"raft_tls"`
}

// ProbeFile tunes the node's health prober; unset fields take the prober's
// defaults.
type ProbeFile struct {
	// Concurrency bounds the probes in flight (default 1024).
	Concurrency *int `yaml:"concurrency"`
	// Canaries are host:port addresses this node should always reach over
	// TCP; when every one fails, the node marks itself degraded and its
	// views stop counting.
	Canaries []string `yaml:"canaries"`
	// SourceAddress is the local IP address probes are sent from (default:
	// chosen by the system).
	SourceAddress *string `yaml:"source_address"`
	// History is how many results are kept per endpoint (default 20).
	History *int `yaml:"history"`
}

// RaftFile holds Raft timing knobs; zero or unset means the cluster's
// defaults.
type RaftFile struct {
	HeartbeatTimeout   *policy.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout    *policy.Duration `yaml:"election_timeout"`
	LeaderLeaseTimeout *policy.Duration `yaml:"leader_lease_timeout"`
	CommitTimeout      *policy.Duration `yaml:"commit_timeout"`
	// ApplyTimeout bounds every write; without quorum it fails after this.
	ApplyTimeout      *policy.Duration `yaml:"apply_timeout"`
	SnapshotThreshold *uint64          `yaml:"snapshot_threshold"`
	SnapshotInterval  *policy.Duration `yaml:"snapshot_interval"`
	SnapshotRetain    *int             `yaml:"snapshot_retain"`
	// StoreTimeout bounds every operation on the Raft log and stable store.
	StoreTimeout *policy.Duration `yaml:"store_timeout"`
}

// LogFile sets logging: level debug|info|warn|error, format text|json.
type LogFile struct {
	Level  *string `yaml:"level"`
	Format *string `yaml:"format"`
}

// DNSFile holds DNS server settings.
type DNSFile struct {
	// TSIGKeys are the keys zone transfers may be signed with.
	TSIGKeys []TSIGKey `yaml:"tsig_keys"`
	// DNSServerFile holds the hardening and flattening settings (dns.go).
	DNSServerFile `yaml:",inline"`
}

// TSIGKey names a TSIG key (hmac-sha256) and the file holding its base64
// secret, so that secrets stay out of the config file.
type TSIGKey struct {
	Name       string `yaml:"name"`
	SecretFile string `yaml:"secret_file"`
}

// Runtime is the validated configuration a node runs with. It has no
// pointers and is passed by value.
type Runtime struct {
	NodeID        string
	Region        string
	DataDir       string
	DNSAddr       string
	APIAddr       string
	APIAdvertise  string // "" = derive from the bound API address
	RaftAddr      string
	RaftAdvertise string // "" = the bound Raft address
	Bootstrap     bool
	Join          []string
	Raft          Raft
	LogLevel      slog.Level
	LogFormat     string // "text" or "json"
	// TSIGKeys maps absolute lower-case key names to base64 secrets.
	TSIGKeys map[string]string
	// Probe tunes the health prober.
	Probe Probe
	// Route53 is Route 53 mode (see Route53).
	Route53 Route53
	// APITLS holds the API's certificate and key (HTTPS when set) and
	// the CA the node trusts on its calls to other nodes.
	APITLS TLSFiles
	// Auth holds the API tokens.
	Auth Auth
	// RaftTLS enables mutual TLS between Raft peers (all three files set).
	RaftTLS TLSFiles
	// DNS holds the DNS server's hardening and flattening settings.
	DNS DNS
}

// Probe holds the prober settings of a Runtime; zero values mean the
// prober's defaults.
type Probe struct {
	Concurrency int
	// Canaries are host:port addresses (see ProbeFile.Canaries).
	Canaries []string
	// SourceAddress is the local address probes bind; invalid (the zero
	// netip.Addr) means the system's choice.
	SourceAddress netip.Addr
	History       int
}

// Raft holds the consensus timing of a Runtime; zero values mean the
// cluster package's defaults.
type Raft struct {
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	ApplyTimeout                                                         time.Duration
	SnapshotThreshold                                                    uint64
	SnapshotInterval                                                     time.Duration
	SnapshotRetain                                                       int
	StoreTimeout                                                         time.Duration
}

// Default values, applied by Default.
const (
	DefaultDNSAddr   = ":53"
	DefaultAPIAddr   = "127.0.0.1:8053"
	DefaultRaftAddr  = "127.0.0.1:8054"
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// Default returns the file-level defaults: DNS on :53, the API on
// 127.0.0.1:8053, Raft on 127.0.0.1:8054, log level info in text format,
// Raft timing from the cluster package. The API and Raft bind to loopback
// by default so that a node is not reachable from the network until the
// operator says so; an API bound beyond loopback needs auth.tokens (or
// --insecure-no-auth).
func Default() File {
	return File{
		DNSAddr:   ptr(DefaultDNSAddr),
		APIAddr:   ptr(DefaultAPIAddr),
		RaftAddr:  ptr(DefaultRaftAddr),
		Bootstrap: ptr(false),
		Log:       &LogFile{Level: ptr(DefaultLogLevel), Format: ptr(DefaultLogFormat)},
	}
}

func ptr[T any](v T) *T { return &v }

// Parse reads a config file's bytes strictly: unknown fields are errors
// with their line.
func Parse(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, nil
		}
		return File{}, err
	}
	return f, nil
}

// Load reads the file at path (none when path is ""), overlays flags (the
// fields set on the command line), fills in Default and validates. Every
// problem is reported at once, each with its field path.
func Load(path string, flags File) (Runtime, error) {
	var file File
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Runtime{}, fmt.Errorf("read config: %w", err)
		}
		if file, err = Parse(data); err != nil {
			return Runtime{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	f := Default()
	f.Overlay(file)
	f.Overlay(flags)
	rt, err := f.Runtime()
	if err != nil {
		where := "config"
		if path != "" {
			where = "config " + path
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 1 {
			return Runtime{}, &problems{where: where, errs: j.Unwrap()}
		}
		return Runtime{}, fmt.Errorf("%s: %w", where, err)
	}
	return rt, nil
}

// problems lists several config problems, one per line.
type problems struct {
	where string
	errs  []error
}

func (p *problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", p.where, len(p.errs))
	for _, e := range p.errs {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

func (p *problems) Unwrap() []error { return p.errs }

// Overlay sets in f every field that o sets.
func (f *File) Overlay(o File) {
	overlay(&f.NodeID, o.NodeID)
	overlay(&f.Region, o.Region)
	overlay(&f.DataDir, o.DataDir)
	overlay(&f.DNSAddr, o.DNSAddr)
	overlay(&f.APIAddr, o.APIAddr)
	overlay(&f.APIAdvertise, o.APIAdvertise)
	overlay(&f.RaftAddr, o.RaftAddr)
	overlay(&f.RaftAdvertise, o.RaftAdvertise)
	overlay(&f.Bootstrap, o.Bootstrap)
	if o.Join != nil {
		f.Join = o.Join
	}
	if o.Raft != nil {
		if f.Raft == nil {
			f.Raft = &RaftFile{}
		}
		r, s := f.Raft, o.Raft
		overlay(&r.HeartbeatTimeout, s.HeartbeatTimeout)
		overlay(&r.ElectionTimeout, s.ElectionTimeout)
		overlay(&r.LeaderLeaseTimeout, s.LeaderLeaseTimeout)
		overlay(&r.CommitTimeout, s.CommitTimeout)
		overlay(&r.ApplyTimeout, s.ApplyTimeout)
		overlay(&r.SnapshotInterval, s.SnapshotInterval)
		overlay(&r.StoreTimeout, s.StoreTimeout)
		overlay(&r.SnapshotThreshold, s.SnapshotThreshold)
		overlay(&r.SnapshotRetain, s.SnapshotRetain)
	}
	if o.Log != nil {
		if f.Log == nil {
			f.Log = &LogFile{}
		}
		overlay(&f.Log.Level, o.Log.Level)
		overlay(&f.Log.Format, o.Log.Format)
	}
	if o.Probe != nil {
		if f.Probe == nil {
			f.Probe = &ProbeFile{}
		}
		p, q := f.Probe, o.Probe
		overlay(&p.Concurrency, q.Concurrency)
		if q.Canaries != nil {
			p.Canaries = q.Canaries
		}
		overlay(&p.SourceAddress, q.SourceAddress)
		overlay(&p.History, q.History)
	}
	f.overlayRoute53(o)
	overlayAuth(f, o)
	overlayDNS(f, o)
	if o.DNS != nil {
		if f.DNS == nil {
			f.DNS = &DNSFile{}
		}
		if o.DNS.TSIGKeys != nil {
			f.DNS.TSIGKeys = o.DNS.TSIGKeys
		}
	}
}

// Runtime validates f and converts it. Unset fields take their zero
// value (call Default and Overlay first). Secret files are read here.
func (f File) Runtime() (Runtime, error) {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	rt := Runtime{
		NodeID:        str(f.NodeID),
		Region:        str(f.Region),
		DataDir:       str(f.DataDir),
		DNSAddr:       str(f.DNSAddr),
		APIAddr:       str(f.APIAddr),
		APIAdvertise:  strings.TrimSuffix(str(f.APIAdvertise), "/"),
		RaftAddr:      str(f.RaftAddr),
		RaftAdvertise: str(f.RaftAdvertise),
		Bootstrap:     f.Bootstrap != nil && *f.Bootstrap,
		Join:          append([]string(nil), f.Join...),
		LogFormat:     DefaultLogFormat,
	}

	switch {
	case rt.NodeID == "":
		bad("node_id", "is required")
	case !validID(rt.NodeID):
		bad("node_id", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", rt.NodeID)
	}
	if strings.ContainsAny(rt.Region, " \t\n") {
		bad("region", "%q must not contain spaces", rt.Region)
	}
	if rt.DataDir == "" {
		bad("data_dir", "is required")
	}
	checkListen := func(path, addr string) {
		if addr == "" {
			bad(path, "is required")
			return
		}
		if _, err := parseHostPort(addr); err != nil {
			bad(path, "%v", err)
		}
	}
	checkListen("dns_addr", rt.DNSAddr)
	checkListen("api_addr", rt.APIAddr)
	checkListen("raft_addr", rt.RaftAddr)
	if rt.APIAdvertise != "" {
		if u, err := url.Parse(rt.APIAdvertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			bad("api_advertise", "%q is not a base URL like http://10.0.0.1:8053", rt.APIAdvertise)
		}
	}
	if rt.RaftAdvertise != "" {
		hp, err := parseHostPort(rt.RaftAdvertise)
		switch {
		case err != nil:
			bad("raft_advertise", "%v", err)
		case hp.unspecified || hp.port == 0:
			bad("raft_advertise", "%q must name a specific host and port other nodes can dial", rt.RaftAdvertise)
		}
	} else if hp, err := parseHostPort(rt.RaftAddr); err == nil && hp.unspecified && hp.port != 0 {
		bad("raft_advertise", "is required when raft_addr (%q) listens on all interfaces: other nodes must know where to dial", rt.RaftAddr)
	}
	for i, j := range rt.Join {
		if u, err := url.Parse(j); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("join[%d]", i), "%q is not an http(s) URL of a member's API", j)
		}
	}
	if rt.Bootstrap && len(rt.Join) > 0 {
		bad("bootstrap", "cannot be combined with join: a node either forms a new cluster or joins one")
	}

	if f.Raft != nil {
		r := f.Raft
		dur := func(path string, p *policy.Duration) time.Duration {
			if p == nil {
				return 0
			}
			if *p < 0 {
				bad(path, "must not be negative, got %s", p)
				return 0
			}
			return p.D()
		}
		rt.Raft = Raft{
			HeartbeatTimeout:   dur("raft.heartbeat_timeout", r.HeartbeatTimeout),
			ElectionTimeout:    dur("raft.election_timeout", r.ElectionTimeout),
			LeaderLeaseTimeout: dur("raft.leader_lease_timeout", r.LeaderLeaseTimeout),
			CommitTimeout:      dur("raft.commit_timeout", r.CommitTimeout),
			ApplyTimeout:       dur("raft.apply_timeout", r.ApplyTimeout),
			SnapshotInterval:   dur("raft.snapshot_interval", r.SnapshotInterval),
			StoreTimeout:       dur("raft.store_timeout", r.StoreTimeout),
		}
		if s := rt.Raft.StoreTimeout; s > 0 && s < 100*time.Millisecond {
			bad("raft.store_timeout", "must be at least 100ms, got %s", s)
		}
		if r.SnapshotThreshold != nil {
			rt.Raft.SnapshotThreshold = *r.SnapshotThreshold
		}
		if r.SnapshotRetain != nil {
			if *r.SnapshotRetain < 0 {
				bad("raft.snapshot_retain", "must not be negative, got %d", *r.SnapshotRetain)
			}
			rt.Raft.SnapshotRetain = *r.SnapshotRetain
		}
		h, e, l := rt.Raft.HeartbeatTimeout, rt.Raft.ElectionTimeout, rt.Raft.LeaderLeaseTimeout
		if h > 0 && e > 0 && e < h {
			bad("raft.election_timeout", "(%s) must not be below raft.heartbeat_timeout (%s)", e, h)
		}
		if l > 0 && h > 0 && l > h {
			bad("raft.leader_lease_timeout", "(%s) must not exceed raft.heartbeat_timeout (%s)", l, h)
		}
	}

	if f.Log != nil {
		if lv := str(f.Log.Level); lv != "" {
			if err := rt.LogLevel.UnmarshalText([]byte(lv)); err != nil {
				bad("log.level", "%q is not one of debug, info, warn, error", lv)
			}
		}
		switch fm := str(f.Log.Format); fm {
		case "", "text":
		case "json":
			rt.LogFormat = "json"
		default:
			bad("log.format", "%q is not text or json", fm)
		}
	}

	if f.DNS != nil && len(f.DNS.TSIGKeys) > 0 {
		rt.TSIGKeys = make(map[string]string, len(f.DNS.TSIGKeys))
		for i, k := range f.DNS.TSIGKeys {
			path := fmt.Sprintf("dns.tsig_keys[%d]", i)
			if k.Name == "" {
				bad(path+".name", "is required")
				continue
			}
			name := policy.CanonicalName(k.Name)
			if _, dup := rt.TSIGKeys[name]; dup {
				bad(path+".name", "key %q is defined twice", name)
				continue
			}
			if k.SecretFile == "" {
				bad(path+".secret_file", "is required")
				continue
			}
			b, err := os.ReadFile(k.SecretFile)
			if err != nil {
				bad(path+".secret_file", "%v", err)
				continue
			}
			secret := strings.TrimSpace(string(b))
			if raw, err := base64.StdEncoding.DecodeString(secret); err != nil || len(raw) == 0 {
				bad(path+".secret_file", "%s does not hold a base64 secret", k.SecretFile)
				continue
			}
			rt.TSIGKeys[name] = secret
		}
	}
	if f.Probe != nil {
		rt.Probe = probeRuntime(*f.Probe, bad)
	}
	authRuntime(f, &rt, bad)
	rt.Route53 = route53Runtime(f.Route53, bad)
	rt.DNS = dnsRuntime(f.DNS, bad)
	if len(errs) > 0 {
		return Runtime{}, errors.Join(errs...)
	}
	return rt, nil
}

// probeRuntime validates the probe section, reporting problems to bad.
func probeRuntime(p ProbeFile, bad func(path, format string, args ...any)) Probe {
	var out Probe
	if p.Concurrency != nil {
		if *p.Concurrency < 0 {
			bad("probe.concurrency", "must not be negative, got %d", *p.Concurrency)
		}
		out.Concurrency = *p.Concurrency
	}
	if p.History != nil {
		if *p.History < 0 {
			bad("probe.history", "must not be negative, got %d", *p.History)
		}
		out.History = *p.History
	}
	seen := make(map[string]bool, len(p.Canaries))
	for i, c := range p.Canaries {
		path := fmt.Sprintf("probe.canaries[%d]", i)
		hp, err := parseHostPort(c)
		switch {
		case err != nil:
			bad(path, "%v", err)
		case hp.host == "" || hp.port == 0:
			bad(path, "%q must name a host and a port other than 0", c)
		case seen[c]:
			bad(path, "%q is listed twice", c)
		}
		seen[c] = true
	}
	out.Canaries = append([]string(nil), p.Canaries...)
	if p.SourceAddress != nil && *p.SourceAddress != "" {
		a, err := netip.ParseAddr(*p.SourceAddress)
		switch {
		case err != nil:
			bad("probe.source_address", "%q is not an IP address", *p.SourceAddress)
		case a.IsUnspecified():
			bad("probe.source_address", "%q is not a specific address", *p.SourceAddress)
		default:
			out.SourceAddress = a.Unmap()
		}
	}
	return out
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

type hostPort struct {
	host        string
	port        int
	unspecified bool // empty host, 0.0.0.0 or ::
}

// parseHostPort checks a "host:port" listen or advertise address.
func parseHostPort(s string) (hostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Errorf("%q is not a host:port address", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return hostPort{}, fmt.Errorf("%q: port must be a number from 0 to 65535", s)
	}
	hp := hostPort{host: host, port: p, unspecified: host == ""}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		hp.unspecified = true
	}
	return hp, nil
}

// overlay sets *dst to src when src is set: a field given in an overlay
// (a later file, a flag) wins over the one beneath it.
func overlay[T any](dst **T, src *T) {
	if src != nil {
		*dst = src
	}
}
