package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_Auth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "a-secret-of-enough-length\n")
	short := write("short", "tiny\n")
	base := "node_id: n1\ndata_dir: /tmp/x\n"
	cases := []struct {
		name, body string
		flags      File
		want       []string // substrings of the error; none: valid
	}{
		{"loopback without tokens", base, File{}, nil},
		{"localhost without tokens", base + "api_addr: localhost:8053\n", File{}, nil},
		{"every interface without tokens", base + "api_addr: \"0.0.0.0:8053\"\napi_advertise: http://10.0.0.1:8053\n", File{},
			[]string{"api_addr: \"0.0.0.0:8053\" listens beyond loopback", "--insecure-no-auth"}},
		{"a LAN address without tokens", base + "api_addr: 10.0.0.1:8053\n", File{}, []string{"api_addr"}},
		{"every interface with --insecure-no-auth", base + "api_addr: 10.0.0.1:8053\n",
			File{Auth: &AuthFile{InsecureNoAuth: ptr(true)}}, nil},
		{"every interface with tokens", base + "api_addr: 10.0.0.1:8053\nauth:\n  tokens:\n    - {name: a, role: admin, secret_file: " + good + "}\n  node_token: a\n", File{}, nil},
		{"bad tokens", base + "auth:\n  tokens:\n" +
			"    - {name: a, role: root, secret_file: " + good + "}\n" +
			"    - {name: a, role: read, secret_file: " + good + "}\n" +
			"    - {name: b, role: read, secret_file: " + short + "}\n" +
			"    - {name: c, role: read, secret_file: " + filepath.Join(dir, "missing") + "}\n" +
			"    - {role: read, secret_file: " + good + "}\n" +
			"  node_token: b\n", File{},
			[]string{"auth.tokens[0].role: \"root\"", "auth.tokens[1].name: \"a\" is also auth.tokens[0]",
				"auth.tokens[2].secret_file", "shorter than 16", "auth.tokens[3].secret_file", "auth.tokens[4].name: is required",
				"auth.node_token: token \"b\" has role read"}},
		{"tokens without node_token", base + "auth:\n  tokens:\n    - {name: a, role: admin, secret_file: " + good + "}\n", File{},
			[]string{"auth.node_token: is required"}},
		{"half the api tls pair", base + "api:\n  tls_cert_file: " + good + "\n", File{}, []string{"api.tls_cert_file"}},
		{"part of raft tls", base + "raft_tls:\n  cert_file: " + good + "\n", File{}, []string{"raft_tls.key_file: is required", "raft_tls.ca_file: is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := Load(write("node.yaml", tc.body), tc.flags)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if strings.Contains(tc.body, "tokens:") && (len(rt.Auth.Tokens) != 1 || rt.Auth.NodeSecret != "a-secret-of-enough-length") {
					t.Errorf("auth = %+v", rt.Auth)
				}
				return
			}
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error misses %q:\n%v", w, err)
				}
			}
		})
	}
}
