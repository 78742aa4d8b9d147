package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

// buildVersion returns the version of this binary.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// defaultAPI is the API URL client commands use without --api.
const defaultAPI = "http://127.0.0.1:8053"

// run executes the command line args, writing to stdout and stderr, and
// returns the process exit code: 0 on success, 1 on failure, 2 on a
// usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "detour:", err)
	if _, ok := errors.AsType[*api.Error](err); ok {
		return 1
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage")

// newRoot builds the command tree. Nothing here is global: every run gets
// its own commands and flags.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "detour",
		Short: "detour: multi-region DNS failover controller",
		Long: `detour serves DNS for your zones from a three-node Raft cluster and answers
pool names with the healthy endpoints of each region.

Run a node with "detour server"; manage the cluster with the other commands,
which talk to a node's admin API (--api, default $DETOUR_API or ` + defaultAPI + `).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (see %s --help)", errUsage, err, c.CommandPath())
	})
	root.AddCommand(
		newServerCmd(),
		newApplyCmd(),
		newSpecCmd(),
		newStatusCmd(),
		newMembersCmd(),
		newHealthCmd(),
		newEventsCmd(),
		newFailoverCmd(),
		newFailbackCmd(),
		newDrainCmd(),
		newUndrainCmd(),
		newForceCmd(),
		newOverridesCmd(),
		newHealthcheckCmd(),
		newVersionCmd(),
		newRoute53Cmd(),
		newRoute53StandinCmd(),
		newDemoCmd(),
	)
	return root
}

// clientFlags holds the flags shared by every client command.
type clientFlags struct {
	api     string
	timeout time.Duration
	token   string
	caFile  string
}

// add registers --api and --timeout on c.
func (f *clientFlags) add(c *cobra.Command) {
	def := os.Getenv("DETOUR_API")
	if def == "" {
		def = defaultAPI
	}
	c.Flags().StringVar(&f.api, "api", def, "admin API URL of any cluster node ($DETOUR_API)")
	c.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
	c.Flags().StringVar(&f.token, "token", "", "API token sent as a bearer token (default $DETOUR_TOKEN)")
	c.Flags().StringVar(&f.caFile, "ca-file", os.Getenv("DETOUR_CA_FILE"), "PEM CA file to trust for an https API ($DETOUR_CA_FILE)")
}

// client returns an API client and a context bounded by --timeout.
func (f *clientFlags) client(ctx context.Context) (*api.Client, context.Context, context.CancelFunc, error) {
	hc, err := api.HTTPClient(f.caFile, f.timeout)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: --ca-file: %v", errUsage, err)
	}
	c, err := api.NewClient(f.api, hc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: --api: %v", errUsage, err)
	}
	token := f.token
	if token == "" {
		// Read here rather than as the flag's default, so that --help
		// never prints a secret.
		token = os.Getenv("DETOUR_TOKEN")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return c.WithToken(token), ctx, cancel, nil
}

// streamClient is client without --timeout: for streams that run until
// interrupted.
func (f *clientFlags) streamClient(ctx context.Context) (*api.Client, context.Context, context.CancelFunc, error) {
	g := *f
	g.timeout = 0
	c, _, _, err := g.client(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	return c, ctx, cancel, nil
}

// callFlags are the flags of a client command that prints one answer:
// the clientFlags and -o table|json.
type callFlags struct {
	clientFlags
	output string
}

// add registers the clientFlags and -o on c.
func (f *callFlags) add(c *cobra.Command) {
	f.clientFlags.add(c)
	c.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// runCall is the body of a client command that prints one answer: it
// checks -o, makes one API call with fetch (a method expression such as
// (*api.Client).Status, or a closure over the command's arguments) within
// --timeout, and prints the answer as indented JSON with -o json, else
// with table.
func runCall[T any](cmd *cobra.Command, f *callFlags, fetch func(*api.Client, context.Context) (T, error),
	table func(io.Writer, T)) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	client, ctx, cancel, err := f.client(cmd.Context())
	if err != nil {
		return err
	}
	defer cancel()
	v, err := fetch(client, ctx)
	if err != nil {
		return err
	}
	if f.output == "json" {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	table(cmd.OutOrStdout(), v)
	return nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkOutput validates -o.
func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("%w: -o %q: want table or json", errUsage, o)
	}
	return nil
}
