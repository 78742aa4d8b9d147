package probe

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// jobConfig is a compiled check for one endpoint: everything a job needs
// to probe it, plus the key that tells whether a new spec changed it.
type jobConfig struct {
	key      string
	interval time.Duration
	timeout  time.Duration
	rise     int
	fall     int
	checker  checker
}

// probeKey is the part of a spec that decides how an endpoint is probed;
// two endpoints with equal keys are probed the same way.
type probeKey struct {
	Pool         string       `json:"pool"`
	Check        policy.Check `json:"check"`
	Addresses    []string     `json:"addresses,omitempty"`
	Target       string       `json:"target,omitempty"`
	CheckAddress string       `json:"check_address,omitempty"`
	CheckURL     string       `json:"check_url,omitempty"`
}

// compile turns the check of pool for endpoint ep into a jobConfig. Errors
// name the offending field relative to the endpoint.
func (p *Prober) compile(pool *policy.Pool, ep *policy.Endpoint) (jobConfig, error) {
	c := pool.Check
	keyCheck := c
	keyCheck.Quorum = 0 // agreement, not probing: changing it keeps the checks
	key, err := json.Marshal(probeKey{
		Pool: pool.Name, Check: keyCheck, Addresses: ep.Addresses, Target: ep.Target,
		CheckAddress: ep.CheckAddress, CheckURL: ep.CheckURL,
	})
	if err != nil {
		return jobConfig{}, fmt.Errorf("encode check: %w", err)
	}
	jc := jobConfig{
		key:      string(key),
		interval: c.Interval.D(),
		timeout:  c.Timeout.D(),
		rise:     c.Rise,
		fall:     c.Fall,
	}
	if jc.interval == 0 {
		jc.interval = policy.DefaultCheckInterval.D()
	}
	if jc.timeout == 0 {
		jc.timeout = min(policy.DefaultCheckTimeout.D(), jc.interval/2)
	}
	if jc.rise == 0 {
		jc.rise = policy.DefaultRise
	}
	if jc.fall == 0 {
		jc.fall = policy.DefaultFall
	}
	var errs []error
	switch {
	case jc.interval < 0:
		errs = append(errs, fmt.Errorf("check.interval: %s is negative", jc.interval))
	case jc.timeout <= 0:
		errs = append(errs, fmt.Errorf("check.timeout: %s is not positive", jc.timeout))
	}
	if jc.rise < 0 {
		errs = append(errs, fmt.Errorf("check.rise: %d is negative", jc.rise))
	}
	if jc.fall < 0 {
		errs = append(errs, fmt.Errorf("check.fall: %d is negative", jc.fall))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("check.port: %d is outside 1-65535", c.Port))
	}
	if len(errs) > 0 {
		return jobConfig{}, errors.Join(errs...)
	}

	switch c.Type {
	case policy.CheckHTTP, policy.CheckHTTPS:
		jc.checker, err = p.compileHTTP(pool, ep)
	case policy.CheckTCP:
		jc.checker, err = p.compileTCP(pool, ep)
	case policy.CheckDNS:
		jc.checker, err = p.compileDNS(pool, ep)
	case "":
		err = errors.New("check.type: missing (http, https, tcp or dns)")
	default:
		err = fmt.Errorf("check.type: %q is not http, https, tcp or dns", c.Type)
	}
	if err != nil {
		return jobConfig{}, err
	}
	return jc, nil
}

// probeAddrs returns the host:port addresses a check of pool goes to for
// ep, from check_address, target or addresses (check_url is handled by
// compileHTTP).
func probeAddrs(pool *policy.Pool, ep *policy.Endpoint) ([]string, error) {
	port := pool.Check.Port
	if port == 0 {
		port = policy.DefaultCheckPort(pool.Check.Type)
	}
	withPort := func(field, host string) (string, error) {
		if h, ps, err := net.SplitHostPort(host); err == nil {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 1 || n > 65535 || h == "" {
				return "", fmt.Errorf("%s: %q has a bad host or port", field, host)
			}
			return host, nil
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" {
			return "", fmt.Errorf("%s: empty host", field)
		}
		if port == 0 {
			return "", fmt.Errorf("%s: %q has no port and check.port is not set", field, host)
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	switch {
	case ep.CheckAddress != "":
		a, err := withPort("check_address", ep.CheckAddress)
		if err != nil {
			return nil, err
		}
		return []string{a}, nil
	case ep.Target != "":
		a, err := withPort("target", strings.TrimSuffix(ep.Target, "."))
		if err != nil {
			return nil, err
		}
		return []string{a}, nil
	case len(ep.Addresses) > 0:
		addrs := make([]string, len(ep.Addresses))
		for i, a := range ep.Addresses {
			if net.ParseIP(a) == nil {
				return nil, fmt.Errorf("addresses[%d]: %q is not an IP address", i, a)
			}
			var err error
			if addrs[i], err = withPort(fmt.Sprintf("addresses[%d]", i), a); err != nil {
				return nil, err
			}
		}
		return addrs, nil
	}
	return nil, errors.New("nothing to probe: the endpoint has no addresses, target, check_address or check_url")
}

// compileHTTP builds the checker of an http or https check.
func (p *Prober) compileHTTP(pool *policy.Pool, ep *policy.Endpoint) (checker, error) {
	c := pool.Check
	secure := c.Type == policy.CheckHTTPS
	path := c.Path
	if path == "" {
		path = policy.DefaultPath
	}
	hostHeader := strings.TrimSuffix(pool.Name, ".")
	serverName := hostHeader
	var addrs []string
	if ep.CheckURL != "" {
		u, err := url.Parse(ep.CheckURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("check_url: %q is not an http or https URL", ep.CheckURL)
		}
		secure = u.Scheme == "https"
		port := u.Port()
		switch {
		case port != "":
		case secure:
			port = "443"
		default:
			port = "80"
		}
		addrs = []string{net.JoinHostPort(u.Hostname(), port)}
		path = u.RequestURI()
		hostHeader, serverName = u.Host, u.Hostname()
	} else {
		var err error
		if addrs, err = probeAddrs(pool, ep); err != nil {
			return nil, err
		}
	}
	if c.Host != "" {
		hostHeader, serverName = c.Host, c.Host
		if h, _, err := net.SplitHostPort(c.Host); err == nil {
			serverName = h
		}
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("check.path: %q does not start with /", path)
	}
	method := c.Method
	if method == "" {
		method = policy.DefaultMethod
	}
	req, err := http.NewRequest(method, "http://probe.invalid"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("check: bad method %q or path %q: %w", method, path, err)
	}
	req.Host = hostHeader
	req.Close = true
	req.Header.Set("User-Agent", "detour-probe")
	for name, value := range c.Headers {
		if !validHeaderName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("check.headers: %q is not a valid header", name)
		}
		if http.CanonicalHeaderKey(name) == "Host" {
			if c.Host == "" {
				req.Host = value
			}
			continue
		}
		req.Header.Set(name, value)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return nil, fmt.Errorf("check: render request: %w", err)
	}

	h := &httpChecker{
		dial:      p.dial,
		now:       p.now,
		addrs:     addrs,
		method:    method,
		request:   buf.Bytes(),
		expect:    c.ExpectStatus,
		body:      c.ExpectBody,
		bodyLimit: p.cfg.BodyLimit,
		skipTLS:   c.TLSSkipVerify,
		roots:     p.cfg.RootCAs,
		readers:   &p.readers,
	}
	if len(h.expect) == 0 {
		h.expect = []policy.StatusRange{policy.DefaultExpectStatus()}
	}
	for i, r := range h.expect {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			return nil, fmt.Errorf("check.expect_status[%d]: %d-%d is not a range within 100-599", i, r.Lo, r.Hi)
		}
	}
	if c.ExpectBody != "" && c.ExpectBodyRegex != "" {
		return nil, errors.New("check: expect_body and expect_body_regex are exclusive")
	}
	if c.ExpectBodyRegex != "" {
		if h.re, err = regexp.Compile(c.ExpectBodyRegex); err != nil {
			return nil, fmt.Errorf("check.expect_body_regex: %w", err)
		}
	}
	if secure {
		h.tls = &tls.Config{
			ServerName: serverName,
			MinVersion: tls.VersionTLS12,
			// Verification happens in VerifyConnection (verifyChain), so
			// that the certificate's expiry is recorded even when it
			// fails; tls_skip_verify skips only that check.
			InsecureSkipVerify: true, //nolint:gosec // verified by hand
		}
	}
	return h, nil
}

// validHeaderName reports whether s is an HTTP header field name (a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// compileTCP builds the checker of a tcp check.
func (p *Prober) compileTCP(pool *policy.Pool, ep *policy.Endpoint) (checker, error) {
	if ep.CheckURL != "" {
		return nil, errors.New("check_url: only http and https checks take a URL")
	}
	addrs, err := probeAddrs(pool, ep)
	if err != nil {
		return nil, err
	}
	return &tcpChecker{dial: p.dial, addrs: addrs}, nil
}

// compileDNS builds the checker of a dns check.
func (p *Prober) compileDNS(pool *policy.Pool, ep *policy.Endpoint) (checker, error) {
	c := pool.Check
	if ep.CheckURL != "" {
		return nil, errors.New("check_url: only http and https checks take a URL")
	}
	if c.Query == "" {
		return nil, errors.New("check.query: a dns check needs a query name")
	}
	if _, ok := dns.IsDomainName(c.Query); !ok {
		return nil, fmt.Errorf("check.query: %q is not a domain name", c.Query)
	}
	qtypeName := cmp.Or(c.QueryType, policy.DefaultQueryType)
	qtype, ok := dns.StringToType[strings.ToUpper(qtypeName)]
	if !ok {
		return nil, fmt.Errorf("check.query_type: unknown type %q", qtypeName)
	}
	rcodeName := cmp.Or(c.ExpectRcode, policy.DefaultExpectRcode)
	rcode, ok := dns.StringToRcode[strings.ToUpper(rcodeName)]
	if !ok {
		return nil, fmt.Errorf("check.expect_rcode: unknown rcode %q", rcodeName)
	}
	addrs, err := probeAddrs(pool, ep)
	if err != nil {
		return nil, err
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(c.Query), qtype)
	q.SetEdns0(dnsUDPSize, false)
	return &dnsChecker{dial: p.dial, addrs: addrs, query: q, rcode: rcode, answer: c.ExpectAnswer}, nil
}
