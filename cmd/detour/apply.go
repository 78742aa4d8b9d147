package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

func newApplyCmd() *cobra.Command {
	var (
		f      callFlags
		file   string
		dryRun bool
	)
	c := &cobra.Command{
		Use:   "apply -f SPEC",
		Short: "Validate a spec and apply it to the cluster",
		Long: `Send a spec (YAML or JSON; "-" reads stdin) to the cluster. Any node
accepts it and forwards it to the leader. With --dry-run the node validates
it and prints the changes without applying anything. A spec that fails
validation is refused with every problem and its path.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("%w: -f SPEC is required", errUsage)
			}
			// -o before reading the file: runCall checks it again, too
			// late for that order.
			if err := checkOutput(f.output); err != nil {
				return err
			}
			var body []byte
			var err error
			if file == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(file)
			}
			if err != nil {
				return fmt.Errorf("read spec: %w", err)
			}
			return runCall(cmd, &f, func(client *api.Client, ctx context.Context) (api.ApplyResult, error) {
				return client.ApplySpec(ctx, body, dryRun)
			}, printApply)
		},
	}
	f.add(c)
	c.Flags().StringVarP(&file, "file", "f", "", `spec file ("-" for stdin)`)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes, apply nothing")
	return c
}

// printApply writes an apply result for people.
func printApply(w io.Writer, res api.ApplyResult) {
	switch {
	case res.DryRun && len(res.Changes) == 0:
		fmt.Fprintf(w, "dry run: no changes to spec version %d\n", res.Version)
	case res.DryRun:
		fmt.Fprintf(w, "dry run: %d change(s) to spec version %d (nothing applied):\n", len(res.Changes), res.Version)
	default:
		fmt.Fprintf(w, "applied spec version %d (%d change(s))\n", res.Version, len(res.Changes))
	}
	for _, ch := range res.Changes {
		fmt.Fprintln(w, "  "+formatChange(ch))
	}
}

// formatChange renders one change: "+ pool www.example.test.",
// "~ endpoint www.example.test./us-east-1: weight 70 -> 50".
func formatChange(ch policy.Change) string {
	sign := map[string]string{"add": "+", "remove": "-", "change": "~"}[ch.Op]
	if sign == "" {
		sign = ch.Op
	}
	s := fmt.Sprintf("%s %s %s", sign, ch.Kind, ch.Name)
	if ch.Detail != "" {
		s += ": " + ch.Detail
	}
	return s
}
