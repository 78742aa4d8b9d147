package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to a detour node's admin API. It is safe for concurrent
// use. Every non-2xx answer comes back as an *Error carrying the API's
// code, message and details.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// WithToken returns a copy of c that sends token as a bearer token
// ("" sends none).
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// NewClient returns a client for the API at baseURL
// ("http://127.0.0.1:8053"). A nil hc uses a client with a 30 s timeout.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api url %q: want http://host:port or https://host:port", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), hc: hc}, nil
}

// BaseURL returns the API base URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, "", &st)
	return st, err
}

// Members returns GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	err := c.do(ctx, http.MethodGet, "/v1/members", nil, "", &ms)
	return ms, err
}

// Join asks the cluster to add a member (POST /v1/members).
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode join request: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/members", b, "application/json", nil)
}

// RemoveMember removes a member (DELETE /v1/members/{id}).
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/members/"+url.PathEscape(id), nil, "", nil)
}

// TransferLeadership asks the leader to hand over to id ("" = any voter).
func (c *Client) TransferLeadership(ctx context.Context, id string) error {
	b, err := json.Marshal(TransferRequest{ID: id})
	if err != nil {
		return fmt.Errorf("encode transfer request: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/leadership/transfer", b, "application/json", nil)
}

// Spec returns the spec in force with its version (GET /v1/spec as JSON).
func (c *Client) Spec(ctx context.Context) (SpecDocument, error) {
	var d SpecDocument
	err := c.do(ctx, http.MethodGet, "/v1/spec", nil, "", &d)
	return d, err
}

// SpecYAML returns the spec in force as YAML, and its version.
func (c *Client) SpecYAML(ctx context.Context) ([]byte, uint64, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/spec", nil, "", "application/yaml")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("read spec: %w", err)
	}
	v, _ := strconv.ParseUint(resp.Header.Get(HeaderSpecVersion), 10, 64)
	return b, v, nil
}

// ApplySpec sends a spec (YAML or JSON) with PUT /v1/spec. With dryRun the
// node only validates it and returns the diff.
func (c *Client) ApplySpec(ctx context.Context, spec []byte, dryRun bool) (ApplyResult, error) {
	path := "/v1/spec"
	if dryRun {
		path += "?dry_run=true"
	}
	var res ApplyResult
	err := c.do(ctx, http.MethodPut, path, spec, "application/yaml", &res)
	return res, err
}

// Pools returns every pool's health and answer (GET /v1/pools), with the
// answering node's last local result per endpoint.
func (c *Client) Pools(ctx context.Context) (PoolList, error) {
	var l PoolList
	err := c.do(ctx, http.MethodGet, "/v1/pools", nil, "", &l)
	return l, err
}

// Pool returns one pool's health and answer (GET /v1/pools/{name}), with
// the answering node's recent local results per endpoint. An unknown pool
// is an *Error with code CodeUnknownPool.
func (c *Client) Pool(ctx context.Context, name string) (PoolStatus, error) {
	var p PoolStatus
	err := c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name), nil, "", &p)
	return p, err
}

// Events returns up to limit events with an index above after (GET
// /v1/events); limit 0 means the server's default.
func (c *Client) Events(ctx context.Context, after uint64, limit int) (EventList, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var l EventList
	err := c.do(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, "", &l)
	return l, err
}

// ReportViews sends a node's view report (POST /v1/views, internal: nodes
// use it to reach the leader).
func (c *Client) ReportViews(ctx context.Context, r ViewReport) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode view report: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/views", b, "application/json", nil)
}

// Health returns nil when /healthz answers 200.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, "", nil)
}

// Ready returns nil when /readyz answers 200, else the *Error listing what
// is not ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, "", nil)
}

// do sends a request and decodes a 2xx JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, body []byte, ctype string, out any) error {
	resp, err := c.send(ctx, method, path, body, ctype, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send performs a request and returns the response when it is 2xx; any
// other answer is read and returned as an *Error.
func (c *Client) send(ctx context.Context, method, path string, body []byte, ctype, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", accept)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the detour API: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		eb.Error.StatusCode = resp.StatusCode
		return nil, eb.Error
	}
	return nil, &Error{StatusCode: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode),
		Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == code
}
