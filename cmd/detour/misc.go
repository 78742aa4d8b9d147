package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "detour %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// newHealthcheckCmd is the container HEALTHCHECK: exit 0 when /healthz
// answers 200 (or /readyz with --ready), 1 otherwise. It prints nothing on
// success so that it can run often.
func newHealthcheckCmd() *cobra.Command {
	var (
		cf    clientFlags
		ready bool
	)
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the node's API answers /healthz (or /readyz with --ready)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, ctx, cancel, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			if ready {
				return client.Ready(ctx)
			}
			return client.Health(ctx)
		},
	}
	cf.add(c)
	c.Flags().BoolVar(&ready, "ready", false, "check /readyz instead of /healthz")
	return c
}
