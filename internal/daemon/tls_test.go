package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/daemon"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/internal/testutil/daemontest"
	"github.com/detour-dns/detour/policy"
)

// pki makes a CA and node certificates as PEM files in dir.
type pki struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	CAFile string
	serial int64
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "detour test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), cert: cert, key: key, serial: 1}
	p.CAFile = filepath.Join(p.dir, "ca.crt")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

// issue writes a certificate for name (DNS SAN and CN) and 127.0.0.1,
// for server and client use, and returns the cert and key files.
func (p *pki) issue(t *testing.T, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	writePEM(t, cf, "CERTIFICATE", der)
	writePEM(t, kf, "EC PRIVATE KEY", kder)
	return cf, kf
}

// TestDaemon_TLSAndAuth runs three daemons with an HTTPS API, mutual TLS
// between Raft peers and API tokens: they join each other over HTTPS with
// the node token, report views to the leader, and a follower forwards an
// operator's write with the caller's token.
func TestDaemon_TLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons over TCP: skipped with -short")
	}
	ca := newPKI(t)
	const (
		adminSecret   = "daemon-admin-secret-0123"
		operateSecret = "daemon-operate-secret-0123"
	)
	tokens := []config.Token{{Name: "cluster", Role: "admin", Secret: adminSecret}, {Name: "oncall", Role: "operate", Secret: operateSecret}}
	hc, err := api.HTTPClient(ca.CAFile, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	log := testutil.Logger(t, slog.LevelWarn)
	var ds []*daemon.Daemon
	var clients []*api.Client
	for i := range 3 {
		id := fmt.Sprintf("node%d", i+1)
		rt := daemontest.Runtime(id, filepath.Join(t.TempDir(), id))
		cf, kf := ca.issue(t, id)
		rt.APITLS = config.TLSFiles{CertFile: cf, KeyFile: kf, CAFile: ca.CAFile}
		rt.RaftTLS = config.TLSFiles{CertFile: cf, KeyFile: kf, CAFile: ca.CAFile}
		rt.Auth = config.Auth{Tokens: tokens, NodeSecret: adminSecret}
		if i == 0 {
			rt.Bootstrap = true
		} else {
			rt.Join = []string{ds[0].APIURL()}
		}
		d, err := daemon.New(rt, daemon.Options{Logger: log, Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := d.Start(ctx); err != nil {
			cancel()
			t.Fatalf("start %s: %v", id, err)
		}
		t.Cleanup(func() {
			sctx, c := context.WithTimeout(context.Background(), 15*time.Second)
			defer c()
			if err := d.Shutdown(sctx); err != nil {
				t.Errorf("shutdown %s: %v", id, err)
			}
			cancel()
		})
		if !strings.HasPrefix(d.APIURL(), "https://") {
			t.Fatalf("%s advertises %s, want https", id, d.APIURL())
		}
		c, err := api.NewClient(d.APIURL(), hc)
		if err != nil {
			t.Fatal(err)
		}
		ds, clients = append(ds, d), append(clients, c.WithToken(adminSecret))
		if i == 0 {
			testutil.WaitFor(t, 10*time.Second, func() bool { return d.Node().IsLeader() }, "node1 leads")
		}
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		for _, c := range clients {
			if ms, err := c.Members(t.Context()); err != nil || len(ms) != 3 {
				return false
			}
		}
		return true
	}, "three members joined over HTTPS and Raft over mutual TLS")

	// A plain-HTTP client cannot talk to the API; no token is 401.
	plain, _ := api.NewClient(strings.Replace(ds[0].APIURL(), "https://", "http://", 1), nil)
	if _, err := plain.WithToken(adminSecret).Status(t.Context()); err == nil {
		t.Error("plain HTTP to the HTTPS API answered")
	}
	anon, _ := api.NewClient(ds[1].APIURL(), hc)
	if _, err := anon.Status(t.Context()); !api.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("no token: %v", err)
	}

	var follower int
	for i, d := range ds {
		if !d.Node().IsLeader() {
			follower = i
		}
	}
	if _, err := clients[follower].ApplySpec(t.Context(), exampleSpec(t), false); err != nil {
		t.Fatalf("apply through follower %d: %v", follower+1, err)
	}
	// Every node's probe views reach the leader (sent with the node token
	// over HTTPS by the followers).
	testutil.WaitFor(t, 20*time.Second, func() bool {
		h := ds[0].Node().State().EndpointHealth("www.example.test.", "us-east-1")
		return len(h.Views) == 3
	}, "views of all three nodes committed")

	res, err := clients[follower].WithToken(operateSecret).Failover(t.Context(), "www.example.test", api.FailoverBody{To: "eu-west-1"})
	if err != nil || res.Override == nil || res.Override.Actor != "oncall" {
		t.Fatalf("failover through follower: %+v, %v", res, err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool {
		for _, d := range ds {
			if ovs := d.Node().State().Overrides(); len(ovs) != 1 || ovs[0].Kind != policy.OverridePin {
				return false
			}
		}
		return true
	}, "the pin on every node")
}
