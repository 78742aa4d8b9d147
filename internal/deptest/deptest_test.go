package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/detour-dns/detour"

// allow lists, for each package of ours (relative to the module; a
// trailing "/..." matches sub-packages), the packages of ours its non-test
// files may import. "*" allows every package except cmd/ and
// internal/testutil. Tests may also import internal/testutil/... and the
// package they test.
var allow = map[string][]string{
	"policy":                {},
	"internal/logging":      {},
	"probe":                 {"policy"},
	"cluster":               {"policy", "internal/logging"},
	"dnsserver":             {"policy"},
	"route53":               {"policy"},
	"route53/route53test":   {"policy", "route53"},
	"api":                   {"policy"},
	"config":                {"policy"},
	"internal/daemon":       {"policy", "probe", "cluster", "dnsserver", "route53", "api", "config", "internal/logging", "internal/metrics"},
	"internal/metrics":      {"policy"},
	"internal/demo":         {"internal/daemon", "api", "config", "policy", "route53/route53test"},
	"cmd/detour":            {"internal/daemon", "internal/demo", "api", "config", "policy", "route53/route53test"},
	"bench/...":             {"*"},
	"e2e":                   {"*"},
	"e2e/faults":            {"*"},
	"internal/deptest":      {},
	"internal/docstest":     {"policy", "config"},
	"internal/testutil":     {"*", "internal/testutil/..."},
	"internal/testutil/...": {"*", "internal/testutil", "internal/testutil/..."},
}

// testAllow lists packages of ours that the tests of a package may import
// beyond allow: the Route 53 reconciler's tests and the daemon's drive
// the real SDK client against the stand-in.
var testAllow = map[string][]string{
	"route53":         {"route53/route53test"},
	"internal/daemon": {"route53/route53test"},
}

type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	Doc          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

// listPackages runs go list -json over the module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// ours returns p relative to the module, or "" when it is not ours.
func ours(p string) string {
	if p == module {
		return "."
	}
	if rest, ok := strings.CutPrefix(p, module+"/"); ok {
		return rest
	}
	return ""
}

// match reports whether the rule pattern covers rel.
func match(pattern, rel string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return strings.HasPrefix(rel, base+"/")
	}
	return pattern == rel
}

// rule returns the allow-list entry for rel.
func rule(rel string) ([]string, bool) {
	if r, ok := allow[rel]; ok {
		return r, true
	}
	for pat, r := range allow {
		if match(pat, rel) {
			return r, true
		}
	}
	return nil, false
}

// allowed reports whether from may import to under the rules in may.
func allowed(may []string, to string) bool {
	for _, m := range may {
		if m == "*" && !strings.HasPrefix(to, "cmd/") && !match("internal/testutil/...", to) && to != "internal/testutil" {
			return true
		}
		if match(m, to) {
			return true
		}
	}
	return false
}

func TestImportGraph(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := ours(p.ImportPath)
		if rel == "" {
			continue
		}
		if p.Error != nil {
			t.Logf("go list reports for %s: %s", rel, p.Error.Err)
		}
		may, ok := rule(rel)
		if !ok {
			t.Errorf("package %s is not in the allow-list of internal/deptest: add it with the packages it may import (see DESIGN.md)", rel)
			continue
		}
		for _, imp := range p.Imports {
			to := ours(imp)
			if to == "" {
				continue
			}
			if strings.HasPrefix(to, "cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd/", rel, to)
			} else if (match("internal/testutil/...", to) || to == "internal/testutil") &&
				rel != "internal/testutil" && !match("internal/testutil/...", rel) {
				t.Errorf("%s imports %s from a non-test file: test harnesses are for tests only", rel, to)
			} else if !allowed(may, to) {
				t.Errorf("%s imports %s: not allowed (it may import %v); siblings talk through interfaces wired by internal/daemon", rel, to, may)
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			to := ours(imp)
			if to == "" || to == rel || to == "internal/testutil" || match("internal/testutil/...", to) {
				continue
			}
			if strings.HasPrefix(to, "cmd/") {
				t.Errorf("tests of %s import %s: nothing imports cmd/", rel, to)
			} else if !allowed(may, to) && !slices.Contains(testAllow[rel], to) {
				t.Errorf("tests of %s import %s: not allowed (it may import %v)", rel, to, may)
			}
		}
	}
}

func TestEveryPackageHasDocGo(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := ours(p.ImportPath)
		if rel == "" || len(p.GoFiles) == 0 {
			continue
		}
		// A command may document itself in main.go; a library package
		// keeps its doc comment in doc.go.
		if _, err := os.Stat(filepath.Join(p.Dir, "doc.go")); err != nil && p.Name != "main" {
			t.Errorf("package %s has no doc.go", rel)
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", rel)
		}
	}
}

func TestRules(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		{"dnsserver", "policy", true},
		{"dnsserver", "cluster", false},
		{"api", "cluster", false},
		{"policy", "api", false},
		{"internal/daemon", "cluster", true},
		{"internal/daemon", "internal/testutil", false},
		{"cmd/detour", "cluster", false},
		{"bench/dnsserve", "dnsserver", true},
		{"bench/dnsserve", "cmd/detour", false},
		{"internal/testutil/daemontest", "internal/daemon", true},
	}
	for _, tc := range cases {
		may, ok := rule(tc.from)
		if !ok {
			t.Fatalf("no rule for %s", tc.from)
		}
		if got := allowed(may, tc.to); got != tc.want {
			t.Errorf("%s -> %s allowed = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}
