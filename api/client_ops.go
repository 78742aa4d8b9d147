package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/detour-dns/detour/policy"
)

func poolPath(pool string) string { return "/v1/pools/" + url.PathEscape(pool) }

func endpointPath(pool, ep, what string) string {
	return poolPath(pool) + "/endpoints/" + url.PathEscape(ep) + "/" + what
}

// post sends body as JSON and decodes the override result.
func (c *Client) overrideCall(ctx context.Context, method, path string, body any) (policy.OverrideResult, error) {
	var res policy.OverrideResult
	b, err := json.Marshal(body)
	if err != nil {
		return res, fmt.Errorf("encode request: %w", err)
	}
	err = c.do(ctx, method, path, b, "application/json", &res)
	return res, err
}

// Failover pins pool to an endpoint on every node (POST
// /v1/pools/{pool}/failover). The result's Warnings say when the endpoint
// is unhealthy.
func (c *Client) Failover(ctx context.Context, pool string, b FailoverBody) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodPost, poolPath(pool)+"/failover", b)
}

// ReleaseFailover releases the pool's pin (DELETE /v1/pools/{pool}/failover).
func (c *Client) ReleaseFailover(ctx context.Context, pool, reason string) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodDelete, poolPath(pool)+"/failover", ReasonBody{Reason: reason})
}

// Failback returns a held failover pool to its best healthy tier (POST
// /v1/pools/{pool}/failback).
func (c *Client) Failback(ctx context.Context, pool, reason string) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodPost, poolPath(pool)+"/failback", ReasonBody{Reason: reason})
}

// Drain takes an endpoint out of the pool's rotation.
func (c *Client) Drain(ctx context.Context, pool, ep string, b DrainBody) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodPost, endpointPath(pool, ep, "drain"), b)
}

// Undrain clears an endpoint's drain.
func (c *Client) Undrain(ctx context.Context, pool, ep, reason string) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodDelete, endpointPath(pool, ep, "drain"), ReasonBody{Reason: reason})
}

// Force sets an endpoint's effective health to up or down.
func (c *Client) Force(ctx context.Context, pool, ep string, b ForceBody) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodPost, endpointPath(pool, ep, "force"), b)
}

// ClearForce clears an endpoint's force.
func (c *Client) ClearForce(ctx context.Context, pool, ep, reason string) (policy.OverrideResult, error) {
	return c.overrideCall(ctx, http.MethodDelete, endpointPath(pool, ep, "force"), ReasonBody{Reason: reason})
}

// Overrides lists every override in force (GET /v1/overrides).
func (c *Client) Overrides(ctx context.Context) (OverrideList, error) {
	var l OverrideList
	err := c.do(ctx, http.MethodGet, "/v1/overrides", nil, "", &l)
	return l, err
}

// ErrStreamShutdown is returned by StreamEvents when the node closed the
// stream because it is shutting down.
var ErrStreamShutdown = errors.New("api: the node closed the event stream: it is shutting down")

// StreamEvents follows GET /v1/events/stream from after, calling fn for
// every event in order, until ctx ends (returning ctx.Err()), fn returns
// an error (returned), or the stream ends. dropped, when not nil, is
// called when events after the index asked for were already dropped.
// It does not reconnect: the caller can resume from the last index it
// saw.
func (c *Client) StreamEvents(ctx context.Context, after uint64, fn func(policy.Event) error, dropped func(after, next uint64)) error {
	hc := *c.hc
	hc.Timeout = 0 // the stream has no end
	cc := *c
	cc.hc = &hc
	resp, err := cc.send(ctx, http.MethodGet, "/v1/events/stream?after="+strconv.FormatUint(after, 10), nil, "", "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				if err := dispatch(event, data.String(), fn, dropped); err != nil {
					return err
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read event stream: %w", err)
	}
	return io.ErrUnexpectedEOF
}

func dispatch(event, data string, fn func(policy.Event) error, dropped func(after, next uint64)) error {
	switch event {
	case "", "message":
		var e policy.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("decode streamed event: %w", err)
		}
		return fn(e)
	case StreamDropped:
		var d struct{ After, Next uint64 }
		if err := json.Unmarshal([]byte(data), &d); err == nil && dropped != nil {
			dropped(d.After, d.Next)
		}
	case StreamShutdown:
		return ErrStreamShutdown
	}
	return nil
}
