package daemon

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
)

// peerAuth is how this node calls other nodes' APIs: the CA it trusts
// (api.tls_ca_file; nil: the system's) and the secret of its admin token
// (auth.node_token; "" without auth).
type peerAuth struct {
	tls   *tls.Config
	token string
}

// newPeerAuth reads the CA file named in rt.
func newPeerAuth(rt config.Runtime) (peerAuth, error) {
	p := peerAuth{token: rt.Auth.NodeSecret}
	if rt.APITLS.CAFile != "" {
		pool, err := api.CAPool(rt.APITLS.CAFile)
		if err != nil {
			return p, err
		}
		p.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return p, nil
}

// httpClient returns a client for calls to other nodes.
func (p peerAuth) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
		TLSClientConfig:     p.tls.Clone(), // each transport sets its own ALPN protocols
		ForceAttemptHTTP2:   true,
	}}
}

// apiTokens converts the config's tokens.
func apiTokens(ts []config.Token) []api.Token {
	out := make([]api.Token, len(ts))
	for i, t := range ts {
		out[i] = api.Token{Name: t.Name, Role: t.Role, Secret: t.Secret}
	}
	return out
}
