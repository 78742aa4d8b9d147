package config

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoad_File(t *testing.T) {
	rt, err := Load("testdata/node.yaml", File{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Runtime{
		NodeID:        "node1",
		Region:        "us-east-1",
		DataDir:       "/var/lib/detour",
		DNSAddr:       ":53",
		APIAddr:       "0.0.0.0:8053",
		APIAdvertise:  "http://10.0.1.10:8053",
		RaftAddr:      "0.0.0.0:8054",
		RaftAdvertise: "10.0.1.10:8054",
		Join:          []string{"http://10.0.2.10:8053", "http://10.0.3.10:8053"},
		Raft: Raft{
			HeartbeatTimeout:   500 * time.Millisecond,
			ElectionTimeout:    500 * time.Millisecond,
			LeaderLeaseTimeout: 250 * time.Millisecond,
			ApplyTimeout:       5 * time.Second,
		},
		LogLevel:  slog.LevelDebug,
		LogFormat: "json",
		TSIGKeys:  map[string]string{"transfer.example.test.": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="},
		Probe: Probe{Concurrency: 256, History: 30, SourceAddress: netip.MustParseAddr("10.0.1.10"),
			Canaries: []string{"10.0.2.10:8054", "10.0.3.10:8054"}},
		Auth: Auth{Tokens: []Token{{Name: "oncall", Role: "operate", Secret: "operate-secret-0123456789"},
			{Name: "cluster", Role: "admin", Secret: "admin-secret-0123456789"}}, NodeSecret: "admin-secret-0123456789"},
	}
	if d := cmp.Diff(want, rt, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", d)
	}
}

func TestLoad_DefaultsAndFlags(t *testing.T) {
	rt, err := Load("", File{NodeID: ptr("n1"), DataDir: ptr("/tmp/x"), Bootstrap: ptr(true)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if rt.DNSAddr != ":53" || rt.APIAddr != "127.0.0.1:8053" || rt.RaftAddr != "127.0.0.1:8054" {
		t.Errorf("default addresses = %q %q %q", rt.DNSAddr, rt.APIAddr, rt.RaftAddr)
	}
	if !rt.Bootstrap || rt.LogLevel != slog.LevelInfo || rt.LogFormat != "text" {
		t.Errorf("bootstrap=%v level=%v format=%q", rt.Bootstrap, rt.LogLevel, rt.LogFormat)
	}

	// Flags win over the file.
	rt, err = Load("testdata/node.yaml", File{NodeID: ptr("node9"), Join: []string{"http://127.0.0.1:9999"},
		Log: &LogFile{Level: ptr("warn")}})
	if err != nil {
		t.Fatalf("Load with flags: %v", err)
	}
	if rt.NodeID != "node9" || len(rt.Join) != 1 || rt.LogLevel != slog.LevelWarn || rt.LogFormat != "json" {
		t.Errorf("overlay: id=%q join=%v level=%v format=%q", rt.NodeID, rt.Join, rt.LogLevel, rt.LogFormat)
	}
}

func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name  string
		file  string
		flags File
		want  []string // every one must appear in the error
	}{
		{"unknown field names its line", "node_id: a\ndata_dir: /x\nregoin: x\n", File{},
			[]string{"line 3", "regoin"}},
		{"not yaml", "node_id: [\n", File{}, []string{"line"}},
		{"missing required fields", "region: x\n", File{},
			[]string{"node_id: is required", "data_dir: is required"}},
		{"every problem at once", `node_id: "bad id"
data_dir: /x
dns_addr: "nope"
api_advertise: "ftp://x"
raft_addr: "0.0.0.0:8054"
join: ["not a url"]
log: {level: loud, format: xml}
raft: {heartbeat_timeout: 1s, election_timeout: 500ms}
`, File{}, []string{
			`node_id: "bad id"`, `dns_addr: "nope" is not a host:port`, `api_advertise: "ftp://x"`,
			"raft_advertise: is required when raft_addr", `join[0]: "not a url"`, `log.level: "loud"`,
			`log.format: "xml"`, "raft.election_timeout: (500ms) must not be below",
		}},
		{"bootstrap with join", "node_id: a\ndata_dir: /x\nbootstrap: true\njoin: [http://127.0.0.1:1]\n", File{},
			[]string{"bootstrap: cannot be combined with join"}},
		{"bad duration", "node_id: a\ndata_dir: /x\nraft: {apply_timeout: soon}\n", File{},
			[]string{"line 3", `"soon" is not a duration`}},
		{"tsig secret file missing", "node_id: a\ndata_dir: /x\ndns: {tsig_keys: [{name: k, secret_file: /nonexistent/k}]}\n", File{},
			[]string{"dns.tsig_keys[0].secret_file:"}},
		{"bad probe section", "node_id: a\ndata_dir: /x\nprobe: {concurrency: -1, history: -2, source_address: nope, canaries: [\"x\", \"h:0\", \"h:1\", \"h:1\"]}\n", File{},
			[]string{"probe.concurrency: must not be negative", "probe.history: must not be negative",
				`probe.source_address: "nope" is not an IP address`, `probe.canaries[0]: "x" is not a host:port`,
				`probe.canaries[1]: "h:0" must name a host and a port`, `probe.canaries[3]: "h:1" is listed twice`}},
		{"port out of range from flags", "node_id: a\ndata_dir: /x\n", File{APIAddr: ptr("127.0.0.1:70000")},
			[]string{`api_addr: "127.0.0.1:70000": port`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_")+".yaml", tc.file)
			_, err := Load(p, tc.flags)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file %s:\n%v", p, err)
			}
		})
	}
}

func TestParse_Empty(t *testing.T) {
	f, err := Parse(nil)
	if err != nil || f.NodeID != nil {
		t.Fatalf("Parse(empty) = %+v, %v", f, err)
	}
}
