package probe

import (
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/detour-dns/detour/policy"
)

// backend is an httptest server whose behaviour a test switches.
type backend struct {
	srv  *httptest.Server
	stop chan struct{} // closed at cleanup to release hanging handlers

	conns atomic.Int32 // connections accepted

	mu   sync.Mutex
	mode string
	last *http.Request // the last request seen
	sni  string        // the TLS server name of the last request
}

// newBackend starts a backend (TLS when secure) in mode "ok".
func newBackend(t testing.TB, secure bool) *backend {
	t.Helper()
	b := &backend{stop: make(chan struct{}), mode: "ok"}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	if secure {
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { close(b.stop) })
	return b
}

func (b *backend) set(mode string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mode = mode
}

func (b *backend) lastRequest() (*http.Request, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last, b.sni
}

// port returns the backend's port.
func (b *backend) port(t testing.TB) int {
	t.Helper()
	_, ps, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	n, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	mode := b.mode
	b.last = r.Clone(r.Context())
	if r.TLS != nil {
		b.sni = r.TLS.ServerName
	}
	b.mu.Unlock()
	switch mode {
	case "ok":
		fmt.Fprint(w, "healthy and well")
	case "503":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "down for maintenance")
	case "wrong":
		fmt.Fprint(w, "nope")
	case "binary":
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte{0xff, 0xfe, 'x'})
	case "redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
	case "hang":
		select {
		case <-r.Context().Done():
		case <-b.stop:
		}
	case "hangbody":
		w.Header().Set("Content-Length", "100")
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-b.stop:
		}
	case "close":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	case "huge", "hugelength":
		if mode == "hugelength" {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		}
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range (1 << 30) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// closedPort returns a loopback TCP port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestHTTPCheck(t *testing.T) {
	b := newBackend(t, false)
	p := newTestProber(t, Config{}, nil)
	ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}}
	base := policy.Check{Type: "http", Port: b.port(t), Path: "/health"}

	tests := []struct {
		name      string
		mode      string
		check     func(*policy.Check)
		wantOK    bool
		wantClass string
		wantCode  int
		wantBody  string
		wantErr   string
	}{
		{name: "200", mode: "ok", wantOK: true, wantClass: ClassOK, wantCode: 200},
		{name: "503", mode: "503", wantClass: ClassStatus, wantCode: 503, wantBody: "down for maintenance", wantErr: "status 503, want 200-399"},
		{name: "hang", mode: "hang", wantClass: ClassTimeout},
		{name: "hang in body", mode: "hangbody", wantClass: ClassTimeout, wantCode: 200, wantBody: "partial"},
		{name: "closed without answer", mode: "close", wantClass: ClassReset},
		{name: "1 GiB chunked body", mode: "huge", wantClass: ClassBody, wantCode: 200,
			wantBody: strings.Repeat("x", 256), wantErr: "longer than the limit"},
		{name: "1 GiB content length", mode: "hugelength", wantClass: ClassBody, wantCode: 200,
			wantBody: strings.Repeat("x", 256), wantErr: "1073741824 bytes"},
		{name: "wrong body", mode: "wrong", check: func(c *policy.Check) { c.ExpectBody = "healthy" },
			wantClass: ClassBody, wantCode: 200, wantBody: "nope", wantErr: `does not contain "healthy"`},
		{name: "body contains", mode: "ok", check: func(c *policy.Check) { c.ExpectBody = "well" }, wantOK: true, wantClass: ClassOK, wantCode: 200},
		{name: "body regex", mode: "ok", check: func(c *policy.Check) { c.ExpectBodyRegex = `^heal\w+ and` }, wantOK: true, wantClass: ClassOK, wantCode: 200},
		{name: "body regex mismatch", mode: "wrong", check: func(c *policy.Check) { c.ExpectBodyRegex = `^heal` },
			wantClass: ClassBody, wantCode: 200, wantBody: "nope"},
		{name: "binary body evidence", mode: "binary", wantClass: ClassStatus, wantCode: 500, wantBody: "\uFFFDx"},
		{name: "redirect accepted by default", mode: "redirect", wantOK: true, wantClass: ClassOK, wantCode: 301},
		{name: "redirect not followed", mode: "redirect", check: func(c *policy.Check) {
			c.ExpectStatus = []policy.StatusRange{{Lo: 200, Hi: 299}}
		}, wantClass: ClassStatus, wantCode: 301, wantErr: "want 2xx",
			wantBody: "<a href=\"/elsewhere\">Moved Permanently</a>.\n\n"},
		{name: "503 expected", mode: "503", check: func(c *policy.Check) {
			c.ExpectStatus = []policy.StatusRange{{Lo: 200, Hi: 200}, {Lo: 500, Hi: 599}}
		}, wantOK: true, wantClass: ClassOK, wantCode: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.set(tc.mode)
			c := base
			if tc.check != nil {
				tc.check(&c)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			timeout := 5 * time.Second
			if strings.HasPrefix(tc.mode, "hang") {
				timeout = 300 * time.Millisecond
			}
			got := runCheck(t, compileOne(t, p, c, ep), timeout)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if got.OK != tc.wantOK || got.Class != tc.wantClass || got.Status != tc.wantCode {
				t.Fatalf("got ok=%v class=%q status=%d (error %q), want ok=%v class=%q status=%d",
					got.OK, got.Class, got.Status, got.Error, tc.wantOK, tc.wantClass, tc.wantCode)
			}
			if got.Body != tc.wantBody {
				t.Errorf("body evidence %q, want %q", got.Body, tc.wantBody)
			}
			if !strings.Contains(got.Error, tc.wantErr) {
				t.Errorf("error %q does not contain %q", got.Error, tc.wantErr)
			}
			if got.Address != b.srv.Listener.Addr().String() {
				t.Errorf("address %q, want %q", got.Address, b.srv.Listener.Addr())
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("probe allocated %d bytes; bodies must be read up to the limit only", alloc)
			}
		})
	}
}

func TestHTTPCheckRequest(t *testing.T) {
	b := newBackend(t, false)
	p := newTestProber(t, Config{}, nil)
	ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}}

	t.Run("defaults", func(t *testing.T) {
		got := runCheck(t, compileOne(t, p, policy.Check{Type: "http", Port: b.port(t)}, ep), 5*time.Second)
		if !got.OK {
			t.Fatalf("probe failed: %+v", got)
		}
		r, _ := b.lastRequest()
		if r.Method != "GET" || r.URL.Path != "/" || r.Host != "www.example.test" {
			t.Errorf("got %s %s Host %s, want GET / Host www.example.test (the pool name)", r.Method, r.URL.Path, r.Host)
		}
		if !r.Close {
			t.Error("the probe did not ask to close the connection")
		}
	})
	t.Run("method, path, host and headers", func(t *testing.T) {
		c := policy.Check{Type: "http", Port: b.port(t), Method: "HEAD", Path: "/healthz?deep=1",
			Host: "api.example.test", Headers: map[string]string{"X-Probe": "yes", "Authorization": "Bearer t"}}
		got := runCheck(t, compileOne(t, p, c, ep), 5*time.Second)
		if !got.OK {
			t.Fatalf("probe failed: %+v", got)
		}
		r, _ := b.lastRequest()
		if r.Method != "HEAD" || r.URL.RequestURI() != "/healthz?deep=1" || r.Host != "api.example.test" {
			t.Errorf("got %s %s Host %s", r.Method, r.URL.RequestURI(), r.Host)
		}
		if r.Header.Get("X-Probe") != "yes" || r.Header.Get("Authorization") != "Bearer t" {
			t.Errorf("headers not sent: %v", r.Header)
		}
	})
	t.Run("check_url overrides the address", func(t *testing.T) {
		ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}, CheckURL: b.srv.URL + "/alt?x=1"}
		c := policy.Check{Type: "http", Port: closedPort(t), Path: "/ignored"}
		got := runCheck(t, compileOne(t, p, c, ep), 5*time.Second)
		if !got.OK {
			t.Fatalf("probe failed: %+v", got)
		}
		r, _ := b.lastRequest()
		if r.URL.RequestURI() != "/alt?x=1" || r.Host != b.srv.Listener.Addr().String() {
			t.Errorf("got %s Host %s", r.URL.RequestURI(), r.Host)
		}
	})
	t.Run("a fresh connection per probe", func(t *testing.T) {
		c := compileOne(t, p, policy.Check{Type: "http", Port: b.port(t)}, ep)
		before := b.conns.Load()
		for range 3 {
			if got := runCheck(t, c, time.Second); !got.OK {
				t.Fatalf("probe failed: %+v", got)
			}
		}
		if n := b.conns.Load() - before; n != 3 {
			t.Errorf("3 probes used %d connections", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		got := runCheck(t, compileOne(t, p, policy.Check{Type: "http", Port: closedPort(t)}, ep), 5*time.Second)
		if got.OK || got.Class != ClassRefused {
			t.Errorf("got ok=%v class %q (%s), want refused", got.OK, got.Class, got.Error)
		}
	})
	t.Run("every address must pass", func(t *testing.T) {
		ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1", "127.0.0.2"}}
		got := runCheck(t, compileOne(t, p, policy.Check{Type: "http", Port: b.port(t)}, ep), 5*time.Second)
		want := net.JoinHostPort("127.0.0.2", strconv.Itoa(b.port(t)))
		if got.OK || got.Class != ClassRefused || got.Address != want {
			t.Errorf("got ok=%v class %q address %q, want a refusal from %s", got.OK, got.Class, got.Address, want)
		}
	})
}

// TestHTTPCheckGarbage: a peer that answers something that is not HTTP.
func TestHTTPCheckGarbage(t *testing.T) {
	port := rawServer(t, func(c net.Conn) {
		c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x01garbage\r\n\r\n"))
	})
	p := newTestProber(t, Config{}, nil)
	c := policy.Check{Type: "http", Port: port}
	got := runCheck(t, compileOne(t, p, c, policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}}), 5*time.Second)
	if got.OK || got.Class != ClassProtocol {
		t.Errorf("got ok=%v class %q (%s), want protocol", got.OK, got.Class, got.Error)
	}
}

func TestHTTPSCheck(t *testing.T) {
	b := newBackend(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(b.srv.Certificate())
	now := time.Now()
	wantDays := int(math.Floor(b.srv.Certificate().NotAfter.Sub(now).Hours() / 24))
	ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}}

	tests := []struct {
		name      string
		roots     *x509.CertPool
		check     policy.Check
		wantOK    bool
		wantClass string
	}{
		{"trusted", roots, policy.Check{Type: "https", Host: "example.com"}, true, ClassOK},
		{"unknown authority", nil, policy.Check{Type: "https", Host: "example.com"}, false, ClassTLS},
		{"skip verify", nil, policy.Check{Type: "https", Host: "example.com", TLSSkipVerify: true}, true, ClassOK},
		{"wrong name", roots, policy.Check{Type: "https", Host: "wrong.example.net"}, false, ClassTLS},
		{"plain http against tls", nil, policy.Check{Type: "http"}, false, ClassStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProber(t, Config{RootCAs: tc.roots, Now: func() time.Time { return now }}, nil)
			tc.check.Port = b.port(t)
			got := runCheck(t, compileOne(t, p, tc.check, ep), 5*time.Second)
			if got.OK != tc.wantOK || got.Class != tc.wantClass {
				t.Fatalf("got ok=%v class %q (%s), want ok=%v class %q", got.OK, got.Class, got.Error, tc.wantOK, tc.wantClass)
			}
			if tc.check.Type != "https" {
				return
			}
			if got.CertExpiryDays == nil || *got.CertExpiryDays != wantDays {
				t.Errorf("cert expiry days %v, want %d", got.CertExpiryDays, wantDays)
			}
			if _, sni := b.lastRequest(); tc.wantOK && sni != "example.com" {
				t.Errorf("server saw SNI %q, want example.com", sni)
			}
		})
	}

	t.Run("https against plain http", func(t *testing.T) {
		plain := newBackend(t, false)
		p := newTestProber(t, Config{}, nil)
		got := runCheck(t, compileOne(t, p, policy.Check{Type: "https", Port: plain.port(t)}, ep), 5*time.Second)
		if got.OK || got.Class != ClassTLS || got.CertExpiryDays != nil {
			t.Errorf("got ok=%v class %q expiry %v (%s), want tls without expiry", got.OK, got.Class, got.CertExpiryDays, got.Error)
		}
	})
	t.Run("check_url https", func(t *testing.T) {
		p := newTestProber(t, Config{RootCAs: roots}, nil)
		// The URL's host (127.0.0.1) is in the test certificate.
		ep := policy.Endpoint{Name: "a", CheckURL: b.srv.URL + "/x"}
		got := runCheck(t, compileOne(t, p, policy.Check{Type: "http"}, ep), 5*time.Second)
		if !got.OK || got.CertExpiryDays == nil {
			t.Errorf("got %+v, want a verified https probe", got)
		}
	})
}

// rawServer accepts connections on 127.0.0.1 and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { l.Close() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestHTTPSCheckBadPeers(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) {
		// Say nothing; return when the prober gives up.
		io.Copy(io.Discard, c)
	})
	garbage := rawServer(t, func(c net.Conn) {
		c.Write([]byte("220 smtp.example.test ESMTP ready\r\n"))
	})
	p := newTestProber(t, Config{}, nil)
	ep := policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}}
	for _, tc := range []struct {
		name    string
		port    int
		timeout time.Duration
		want    string
	}{
		{"handshake hangs", silent, 200 * time.Millisecond, ClassTimeout},
		{"not tls", garbage, 5 * time.Second, ClassTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runCheck(t, compileOne(t, p, policy.Check{Type: "https", Port: tc.port}, ep), tc.timeout)
			if got.OK || got.Class != tc.want {
				t.Errorf("got ok=%v class %q (%s), want %s", got.OK, got.Class, got.Error, tc.want)
			}
		})
	}
}

func TestHTTPCheckEndlessHeaders(t *testing.T) {
	port := rawServer(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\n"))
		line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	p := newTestProber(t, Config{}, nil)
	c := compileOne(t, p, policy.Check{Type: "http", Port: port}, policy.Endpoint{Name: "a", Addresses: []string{"127.0.0.1"}})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := runCheck(t, c, 5*time.Second)
	runtime.ReadMemStats(&after)
	if got.OK || got.Class != ClassProtocol || !strings.Contains(got.Error, "larger than its limit") {
		t.Errorf("got ok=%v class %q (%s), want protocol: response larger than its limit", got.OK, got.Class, got.Error)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("probe allocated %d bytes reading endless headers", alloc)
	}
}
