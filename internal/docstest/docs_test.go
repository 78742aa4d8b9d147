package docstest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/policy"
)

// fence finds ```yaml blocks, indented or not (blocks inside list items).
var fence = regexp.MustCompile("(?ms)^([ \t]*)```yaml[ \t]*\n(.*?)^[ \t]*```")

// yamlBlocks returns the YAML examples of a Markdown file, dedented.
func yamlBlocks(md string) []string {
	var out []string
	for _, m := range fence.FindAllStringSubmatch(md, -1) {
		indent, body := m[1], m[2]
		var b strings.Builder
		for _, line := range strings.SplitAfter(body, "\n") {
			b.WriteString(strings.TrimPrefix(line, indent))
		}
		out = append(out, b.String())
	}
	return out
}

// TestDocsYAMLExamples checks every YAML example of README.md and docs/:
// a whole spec (it has zones) must load and validate; a whole node config
// (it has node_id) must parse strictly (config's own docs test validates
// docs/config.md's examples whole); any other example is
// a fragment of one of the two and must parse strictly as that (so a
// misspelt or removed field in the docs fails here).
func TestDocsYAMLExamples(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(string(b)) {
			total++
			name := filepath.Base(f)
			var top map[string]any
			if err := yaml.Unmarshal([]byte(block), &top); err != nil {
				t.Errorf("%s, yaml example %d: not YAML: %v", name, i+1, err)
				continue
			}
			switch {
			case top["zones"] != nil:
				if _, err := policy.LoadSpec([]byte(block)); err != nil {
					t.Errorf("%s, yaml example %d (a spec): %v", name, i+1, err)
				}
			case top["node_id"] != nil:
				// Strict parsing only: examples name files (keys,
				// certificates) of a real server, which the config
				// package's own docs test stands in for.
				if _, err := config.Parse([]byte(block)); err != nil {
					t.Errorf("%s, yaml example %d (a node config): %v", name, i+1, err)
				}
			default:
				_, specErr := policy.ParseSpec([]byte(block))
				_, cfgErr := config.Parse([]byte(block))
				if specErr != nil && cfgErr != nil {
					t.Errorf("%s, yaml example %d is neither part of a spec (%v) nor of a node config (%v)", name, i+1, specErr, cfgErr)
				}
			}
		}
	}
	if total < 5 {
		t.Fatalf("found %d yaml examples in README.md and docs/, want at least 5: is the fence pattern broken?", total)
	}
	t.Logf("checked %d yaml examples", total)
}
