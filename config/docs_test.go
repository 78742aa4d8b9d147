package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// writeSecret writes secret to a file in a temporary directory.
func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDocsExamples parses every YAML block of docs/config.md strictly, so
// that the documented examples keep matching the file format.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in docs/config.md, want at least 2", len(blocks))
	}
	for i, m := range blocks {
		f, err := Parse(m[1])
		if err != nil {
			t.Errorf("block %d does not parse: %v\n%s", i, err, m[1])
			continue
		}
		def := Default()
		def.Overlay(f)
		if def.DNS != nil {
			def.DNS.TSIGKeys = nil // the secret files exist only on a real node
		}
		if def.Auth != nil {
			// Token secrets exist only on a real node: stand in for them.
			for k := range def.Auth.Tokens {
				def.Auth.Tokens[k].SecretFile = writeSecret(t, "0123456789abcdef-"+def.Auth.Tokens[k].Name)
			}
		}
		def.API, def.RaftTLS = nil, nil // so do the certificate files
		if _, err := def.Runtime(); err != nil {
			t.Errorf("block %d does not validate: %v\n%s", i, err, m[1])
		}
	}
}
