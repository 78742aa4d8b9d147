package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// APIFile holds the admin API's TLS settings.
type APIFile struct {
	// TLSCertFile and TLSKeyFile (PEM) make the API serve HTTPS.
	TLSCertFile *string `yaml:"tls_cert_file"`
	TLSKeyFile  *string `yaml:"tls_key_file"`
	// TLSCAFile (PEM) is the CA this node trusts when it calls other
	// nodes' APIs over HTTPS (forwarded writes, view reports, joins).
	TLSCAFile *string `yaml:"tls_ca_file"`
}

// AuthFile holds the API tokens.
type AuthFile struct {
	// Tokens are the API tokens; every node of a cluster must hold the
	// same ones (followers forward the caller's token to the leader).
	Tokens []TokenFile `yaml:"tokens"`
	// NodeToken names the admin token this node sends on its own calls to
	// other nodes (view reports to the leader, joins); required when
	// tokens are set.
	NodeToken *string `yaml:"node_token"`
	// InsecureNoAuth lets the API listen beyond loopback without tokens
	// (flag --insecure-no-auth).
	InsecureNoAuth *bool `yaml:"insecure_no_auth"`
}

// TokenFile is one token: its name (the actor recorded in overrides and
// events), role (read, operate or admin) and the file holding its secret.
type TokenFile struct {
	Name       string `yaml:"name"`
	Role       string `yaml:"role"`
	SecretFile string `yaml:"secret_file"`
}

// RaftTLSFile enables mutual TLS between Raft peers: every node presents
// CertFile and requires the peer's certificate to be signed by CAFile and
// to name a cluster member (its node ID or Raft address host).
type RaftTLSFile struct {
	CertFile *string `yaml:"cert_file"`
	KeyFile  *string `yaml:"key_file"`
	CAFile   *string `yaml:"ca_file"`
}

// Auth is the API authentication of a Runtime. No tokens means no
// authentication (every caller is "anonymous").
type Auth struct {
	Tokens []Token
	// NodeSecret is the secret of the node_token, sent on the node's
	// own calls to other nodes ("" without tokens).
	NodeSecret     string
	InsecureNoAuth bool
}

// Token is one API token with its secret read from its file.
type Token struct {
	Name, Role, Secret string
}

// TLSFiles names PEM files; empty strings mean TLS is off.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// minSecretLen is the shortest accepted token secret.
const minSecretLen = 16

func overlayAuth(f *File, o File) {
	set := func(dst **string, src *string) {
		if src != nil {
			*dst = src
		}
	}
	if o.API != nil {
		if f.API == nil {
			f.API = &APIFile{}
		}
		set(&f.API.TLSCertFile, o.API.TLSCertFile)
		set(&f.API.TLSKeyFile, o.API.TLSKeyFile)
		set(&f.API.TLSCAFile, o.API.TLSCAFile)
	}
	if o.Auth != nil {
		if f.Auth == nil {
			f.Auth = &AuthFile{}
		}
		if o.Auth.Tokens != nil {
			f.Auth.Tokens = o.Auth.Tokens
		}
		set(&f.Auth.NodeToken, o.Auth.NodeToken)
		if o.Auth.InsecureNoAuth != nil {
			f.Auth.InsecureNoAuth = o.Auth.InsecureNoAuth
		}
	}
	if o.RaftTLS != nil {
		if f.RaftTLS == nil {
			f.RaftTLS = &RaftTLSFile{}
		}
		set(&f.RaftTLS.CertFile, o.RaftTLS.CertFile)
		set(&f.RaftTLS.KeyFile, o.RaftTLS.KeyFile)
		set(&f.RaftTLS.CAFile, o.RaftTLS.CAFile)
	}
}

// authRuntime validates the api, auth and raft_tls sections into rt.
func authRuntime(f File, rt *Runtime, bad func(path, format string, args ...any)) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	readable := func(path, file string) {
		if _, err := os.Stat(file); err != nil {
			bad(path, "%v", err)
		}
	}
	if a := f.API; a != nil {
		rt.APITLS = TLSFiles{CertFile: str(a.TLSCertFile), KeyFile: str(a.TLSKeyFile), CAFile: str(a.TLSCAFile)}
		if (rt.APITLS.CertFile == "") != (rt.APITLS.KeyFile == "") {
			bad("api.tls_cert_file", "tls_cert_file and tls_key_file go together")
		}
		for path, file := range map[string]string{"api.tls_cert_file": rt.APITLS.CertFile,
			"api.tls_key_file": rt.APITLS.KeyFile, "api.tls_ca_file": rt.APITLS.CAFile} {
			if file != "" {
				readable(path, file)
			}
		}
		if rt.APITLS.CertFile != "" && strings.HasPrefix(rt.APIAdvertise, "http://") {
			bad("api_advertise", "%q must be an https URL when the API serves TLS", rt.APIAdvertise)
		}
	}
	if t := f.RaftTLS; t != nil {
		rt.RaftTLS = TLSFiles{CertFile: str(t.CertFile), KeyFile: str(t.KeyFile), CAFile: str(t.CAFile)}
		if rt.RaftTLS != (TLSFiles{}) {
			for path, file := range map[string]string{"raft_tls.cert_file": rt.RaftTLS.CertFile,
				"raft_tls.key_file": rt.RaftTLS.KeyFile, "raft_tls.ca_file": rt.RaftTLS.CAFile} {
				if file == "" {
					bad(path, "is required for mutual TLS between Raft peers")
				} else {
					readable(path, file)
				}
			}
		}
	}
	if a := f.Auth; a != nil {
		rt.Auth.InsecureNoAuth = a.InsecureNoAuth != nil && *a.InsecureNoAuth
		names := map[string]int{}
		for i, t := range a.Tokens {
			path := fmt.Sprintf("auth.tokens[%d]", i)
			switch {
			case t.Name == "":
				bad(path+".name", "is required")
				continue
			case !validID(t.Name):
				bad(path+".name", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", t.Name)
				continue
			}
			if j, dup := names[t.Name]; dup {
				bad(path+".name", "%q is also auth.tokens[%d]", t.Name, j)
				continue
			}
			names[t.Name] = i
			if t.Role != "read" && t.Role != "operate" && t.Role != "admin" {
				bad(path+".role", "%q is not read, operate or admin", t.Role)
			}
			if t.SecretFile == "" {
				bad(path+".secret_file", "is required")
				continue
			}
			b, err := os.ReadFile(t.SecretFile)
			if err != nil {
				bad(path+".secret_file", "%v", err)
				continue
			}
			secret := strings.TrimSpace(string(b))
			if len(secret) < minSecretLen {
				bad(path+".secret_file", "%s holds a secret shorter than %d bytes", t.SecretFile, minSecretLen)
				continue
			}
			rt.Auth.Tokens = append(rt.Auth.Tokens, Token{Name: t.Name, Role: t.Role, Secret: secret})
		}
		if nt := str(a.NodeToken); nt != "" {
			i, ok := names[nt]
			switch {
			case !ok:
				bad("auth.node_token", "%q is not the name of a token in auth.tokens", nt)
			case a.Tokens[i].Role != "admin":
				bad("auth.node_token", "token %q has role %s; the node's own calls need an admin token", nt, a.Tokens[i].Role)
			default:
				for _, t := range rt.Auth.Tokens {
					if t.Name == nt {
						rt.Auth.NodeSecret = t.Secret
					}
				}
			}
		} else if len(a.Tokens) > 0 {
			bad("auth.node_token", "is required with auth.tokens: name the admin token this node uses to call the others")
		}
	}
	if len(rt.Auth.Tokens) == 0 && !rt.Auth.InsecureNoAuth && !loopbackListen(rt.APIAddr) {
		bad("api_addr", "%q listens beyond loopback but auth.tokens is empty: add tokens, or start with --insecure-no-auth (auth.insecure_no_auth)", rt.APIAddr)
	}
}

// loopbackListen reports whether a listen address binds loopback only.
func loopbackListen(addr string) bool {
	hp, err := parseHostPort(addr)
	if err != nil {
		return true // reported elsewhere
	}
	if strings.EqualFold(hp.host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(hp.host)
	return err == nil && a.IsLoopback()
}
