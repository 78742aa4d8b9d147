package dnsserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/detour-dns/detour/policy"
)

// freePort returns a port that is free for both UDP and TCP on 127.0.0.1
// at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startNSD runs NSD as a secondary of zone example.test. pulling from
// primary with TSIG, on a free port of 127.0.0.1. It returns its address.
func startNSD(t *testing.T, primary string) string {
	t.Helper()
	bin, err := exec.LookPath("nsd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nsd", "/usr/local/sbin/nsd"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nsd is not installed (apt-get install nsd); CI must run the interop test")
		}
		t.Skip("nsd is not installed (apt-get install nsd): skipping the secondary interop test")
	}
	dir := t.TempDir()
	port := freePort(t)
	phost, pport, _ := net.SplitHostPort(primary)
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "%[2]s"
	database: ""
	zonelistfile: "%[2]s/zone.list"
	xfrdfile: "%[2]s/xfrd.state"
	xfrdir: "%[2]s"
	pidfile: "%[2]s/nsd.pid"
	logfile: "%[2]s/nsd.log"
	server-count: 1
	verbosity: 2
	rrl-ratelimit: 0
	xfrd-reload-timeout: 0
remote-control:
	control-enable: no
key:
	name: %[3]s
	algorithm: hmac-sha256
	secret: %[4]q
zone:
	name: example.test.
	zonefile: example.test.zone
	request-xfr: %[5]s@%[6]s %[3]s
	allow-notify: %[5]s %[3]s
`, port, dir, xfrKey, xfrSecret, phost, pport)
	cf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(bin), "nsd-checkconf"), cf).CombinedOutput(); err != nil {
		t.Fatalf("nsd-checkconf: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-d", "-c", cf)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start nsd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
			t.Logf("nsd output:\n%s\nnsd.log:\n%s", stderr.String(), log)
		}
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// ask sends one query over UDP to addr; nil on timeout.
func ask(addr, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil
	}
	return r
}

func TestNSDSecondary(t *testing.T) {
	spec := exampleSpec()
	src := newTestSource(exampleState(spec, 7))
	// NOTIFY goes to a port chosen below; start the server first so that
	// NSD has a primary to pull from.
	s := startServer(t, src, Config{TSIGKeys: map[string]string{xfrKey: xfrSecret}, NotifyTimeout: 500 * time.Millisecond})
	nsd := startNSD(t, s.TCPAddr().String())

	waitFor(t, 20*time.Second, "NSD to load the zone from detour", func() bool {
		r := ask(nsd, "example.test.", dns.TypeSOA)
		return r != nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 && r.Answer[0].(*dns.SOA).Serial == 7
	})

	same := []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", dns.TypeA},
		{"all.example.test.", dns.TypeA},
		{"lb.example.test.", dns.TypeA},
		{"mail.example.test.", dns.TypeA},
		{"mail.example.test.", dns.TypeAAAA},
		{"nope.example.test.", dns.TypeA},
		{"b.deep.example.test.", dns.TypeA},
		{"x.dev.example.test.", dns.TypeA},
		{"x.wc.example.test.", dns.TypeA},
		{"docs.example.test.", dns.TypeA},
		{"ext.example.test.", dns.TypeA},
		{"www.sub.example.test.", dns.TypeA},
		{"example.test.", dns.TypeNS},
		{"example.test.", dns.TypeMX},
		{"example.test.", dns.TypeTXT},
		{"v6.example.test.", dns.TypeAAAA},
	}
	for _, q := range same {
		want := ask(nsd, q.name, q.qtype)
		got := ask(s.UDPAddr().String(), q.name, q.qtype)
		if want == nil || got == nil {
			t.Errorf("%s %s: no reply (nsd %v, detour %v)", q.name, dns.TypeToString[q.qtype], want != nil, got != nil)
			continue
		}
		label := q.name + " " + dns.TypeToString[q.qtype]
		if want.Rcode != got.Rcode || want.Authoritative != got.Authoritative {
			t.Errorf("%s: detour rcode %s AA %v, NSD rcode %s AA %v", label, dns.RcodeToString[got.Rcode], got.Authoritative, dns.RcodeToString[want.Rcode], want.Authoritative)
		}
		if diff := cmp.Diff(rrLines(want.Answer), rrLines(got.Answer)); diff != "" {
			t.Errorf("%s: answer differs (-nsd +detour):\n%s", label, diff)
		}
		// NSD adds the apex NS to the authority section of positive
		// answers; detour answers minimally (both are correct), so the
		// authority section is compared for negative answers and referrals.
		if len(want.Answer) > 0 {
			continue
		}
		if diff := cmp.Diff(rrLines(want.Ns), rrLines(got.Ns)); diff != "" {
			t.Errorf("%s: authority differs (-nsd +detour):\n%s", label, diff)
		}
	}

	// A changed pool answer bumps the serial; NOTIFY makes NSD refresh
	// long before its refresh timer (3600 s).
	spec2 := exampleSpec()
	spec2.Pools[0].Endpoints[0].Addresses = []string{"127.0.0.21"}
	spec2.Zones[0].Transfer.Notify = []string{nsd}
	src.publish(&policy.State{Index: 12, Spec: spec2})
	waitFor(t, 20*time.Second, "NSD to serve the new answer after NOTIFY", func() bool {
		r := ask(nsd, "www.example.test.", dns.TypeA)
		return r != nil && slices.Equal(rrLines(r.Answer), []string{"www.example.test. 20 IN A 127.0.0.21"})
	})
	r := ask(nsd, "example.test.", dns.TypeSOA)
	if r == nil || len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 12 {
		t.Errorf("NSD SOA after refresh: %v, want serial 12", r)
	}
}
