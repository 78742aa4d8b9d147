package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Regions are the demo's regions, in the order of their backends'
// addresses (127.0.0.11, .12, .13) and of the nodes that run in them.
var Regions = []string{"us-east-1", "eu-west-1", "ap-south-1"}

// backendHost returns the loopback address of region i's backend.
func backendHost(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// backend is a demo regional endpoint: an HTTP server that answers
// /healthz with 200 and any other path with a greeting naming its region.
// Breaking it closes its listener, so that both HTTP and TCP checks fail
// (connection refused); healing listens again.
type backend struct {
	region, addr string

	mu   sync.Mutex
	srv  *http.Server  // nil while broken; guarded by mu
	done chan struct{} // closed when srv's Serve returns; guarded by mu
}

// start listens and serves; it does nothing when already serving.
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("listen for the %s backend: %w", b.region, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	b.srv, b.done = srv, done
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return nil
}

// stop closes the listener and every connection and waits for the server
// to end.
func (b *backend) stop() {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

func (b *backend) up() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		fmt.Fprintln(w, "ok")
		return
	}
	fmt.Fprintf(w, "hello from %s (%s)\n", b.region, b.addr)
}

// backends is the set of demo backends, by region.
type backends []*backend

func (bs backends) find(region string) *backend {
	for _, b := range bs {
		if b.region == region {
			return b
		}
	}
	return nil
}

// control serves the break and heal endpoints:
//
//	POST /break/{region}  stop the region's backend
//	POST /heal/{region}   start it again
//	GET  /backends        {"us-east-1": "up", ...}
func (bs backends) control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /break/{region}", func(w http.ResponseWriter, r *http.Request) {
		b := bs.find(r.PathValue("region"))
		if b == nil {
			http.Error(w, fmt.Sprintf("no region %q (have %s)", r.PathValue("region"), strings.Join(Regions, ", ")), http.StatusNotFound)
			return
		}
		b.stop()
		fmt.Fprintf(w, "%s is broken: its backend %s refuses connections\n", b.region, b.addr)
	})
	mux.HandleFunc("POST /heal/{region}", func(w http.ResponseWriter, r *http.Request) {
		b := bs.find(r.PathValue("region"))
		if b == nil {
			http.Error(w, fmt.Sprintf("no region %q (have %s)", r.PathValue("region"), strings.Join(Regions, ", ")), http.StatusNotFound)
			return
		}
		if err := b.start(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s is healed: its backend %s answers again\n", b.region, b.addr)
	})
	mux.HandleFunc("GET /backends", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]string{}
		for _, b := range bs {
			out[b.region] = "broken"
			if b.up() {
				out[b.region] = "up"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

// Break stops the backend of region in the demo whose control endpoint is
// controlURL ("http://127.0.0.1:18081"; "" means DefaultControlAddr), so
// that every probe of it fails. It returns the demo's one-line answer.
func Break(ctx context.Context, controlURL, region string) (string, error) {
	return post(ctx, controlURL, "break", region)
}

// Heal starts the backend of region again (see Break).
func Heal(ctx context.Context, controlURL, region string) (string, error) {
	return post(ctx, controlURL, "heal", region)
}

func post(ctx context.Context, controlURL, action, region string) (string, error) {
	if !slices.Contains(Regions, region) {
		return "", fmt.Errorf("demo %s: unknown region %q (have %s)", action, region, strings.Join(Regions, ", "))
	}
	if controlURL == "" {
		controlURL = "http://" + DefaultControlAddr
	}
	u := strings.TrimSuffix(controlURL, "/") + "/" + action + "/" + url.PathEscape(region)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", fmt.Errorf("demo %s %s: %w", action, region, err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("demo %s %s: is the demo running? %w", action, region, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("demo %s %s: read answer: %w", action, region, err)
	}
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("demo %s %s: %s", action, region, errors.New(msg))
	}
	return msg, nil
}
