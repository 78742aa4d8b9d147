package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func loadYAML(t *testing.T, body string) (Runtime, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(p, []byte("node_id: n1\ndata_dir: /tmp/d\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p, File{})
}

func TestLoad_Route53(t *testing.T) {
	t.Run("absent: disabled", func(t *testing.T) {
		rt, err := loadYAML(t, "")
		if err != nil {
			t.Fatal(err)
		}
		if rt.Route53 != (Route53{}) {
			t.Errorf("Route53 = %+v, want zero", rt.Route53)
		}
	})
	t.Run("enabled with defaults", func(t *testing.T) {
		rt, err := loadYAML(t, "route53:\n  enabled: true\n")
		if err != nil {
			t.Fatal(err)
		}
		want := Route53{Enabled: true, Region: "us-east-1", Rate: 5, Burst: 1, MaxAttempts: 5,
			ResyncInterval: 60 * time.Second, PollInterval: 10 * time.Second}
		if d := cmp.Diff(want, rt.Route53); d != "" {
			t.Errorf("Route53 (-want +got):\n%s", d)
		}
	})
	t.Run("every field set", func(t *testing.T) {
		rt, err := loadYAML(t, `route53:
  enabled: true
  endpoint: http://127.0.0.1:8060/
  region: eu-west-1
  rate: 2.5
  burst: 3
  max_attempts: 2
  resync_interval: 5s
  poll_interval: 200ms
`)
		if err != nil {
			t.Fatal(err)
		}
		want := Route53{Enabled: true, Endpoint: "http://127.0.0.1:8060", Region: "eu-west-1", Rate: 2.5, Burst: 3,
			MaxAttempts: 2, ResyncInterval: 5 * time.Second, PollInterval: 200 * time.Millisecond}
		if d := cmp.Diff(want, rt.Route53); d != "" {
			t.Errorf("Route53 (-want +got):\n%s", d)
		}
	})
	t.Run("disabled section is still checked", func(t *testing.T) {
		_, err := loadYAML(t, "route53:\n  rate: -1\n")
		if err == nil || !strings.Contains(err.Error(), "route53.rate") {
			t.Errorf("err = %v, want a route53.rate problem", err)
		}
	})
	t.Run("every bad field is reported with its path", func(t *testing.T) {
		_, err := loadYAML(t, `route53:
  enabled: true
  endpoint: "ftp://x"
  region: ""
  rate: 0
  burst: 0
  max_attempts: 0
  resync_interval: 10ms
  poll_interval: 1ms
`)
		if err == nil {
			t.Fatal("no error")
		}
		for _, w := range []string{"route53.endpoint", "route53.region", "route53.rate", "route53.burst",
			"route53.max_attempts", "route53.resync_interval", "route53.poll_interval"} {
			if !strings.Contains(err.Error(), w+":") {
				t.Errorf("error misses %s:\n%v", w, err)
			}
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		_, err := loadYAML(t, "route53:\n  enable: true\n")
		if err == nil || !strings.Contains(err.Error(), "enable") {
			t.Errorf("err = %v, want the unknown field named", err)
		}
	})
	t.Run("flags overlay the file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "node.yaml")
		if err := os.WriteFile(p, []byte("node_id: n1\ndata_dir: /d\nroute53:\n  enabled: true\n  rate: 3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ep := "http://127.0.0.1:9"
		rt, err := Load(p, File{Route53: &Route53File{Endpoint: &ep}})
		if err != nil {
			t.Fatal(err)
		}
		if !rt.Route53.Enabled || rt.Route53.Rate != 3 || rt.Route53.Endpoint != ep {
			t.Errorf("Route53 = %+v", rt.Route53)
		}
	})
}
