package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/internal/demo"
)

// newDemoCmd is "detour demo": three nodes, three breakable backends and
// the example spec in this process, until Ctrl-C.
func newDemoCmd() *cobra.Command {
	var (
		keep, route53, verbose bool
		control                string
		backendPort            int
	)
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-node cluster with demo backends on this machine, until Ctrl-C",
		Long: `Run the one-command demo: three detour nodes on 127.0.0.1 (free ports, data in a
temporary directory), demo backends for us-east-1, eu-west-1 and ap-south-1 on
127.0.0.11, .12 and .13 port 18080, and the example spec. It prints the dig
commands to try and streams the cluster's events. "detour demo break REGION"
and "detour demo heal REGION", from another terminal, stop and restart a
region's backend. Ctrl-C stops everything and removes the temporary data
(unless --keep).

With --route53 the demo also runs the Route 53 stand-in and the leader
publishes the failover pool to it ("detour route53 status" shows the result).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var logger *slog.Logger
			if verbose {
				logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			err := demo.Run(cmd.Context(), demo.Options{
				Keep:        keep,
				Route53:     route53,
				Out:         cmd.OutOrStdout(),
				BackendPort: backendPort,
				ControlAddr: control,
				Logger:      logger,
			})
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w\n(is another demo running? stop it, or pass --backend-port and --control)", err)
			}
			return err
		},
	}
	f := c.Flags()
	f.BoolVar(&keep, "keep", false, "keep the temporary data directory at the end")
	f.BoolVar(&route53, "route53", false, "also run the Route 53 stand-in and publish to it")
	f.BoolVarP(&verbose, "verbose", "v", false, "print the nodes' logs (info level) to stderr")
	f.StringVar(&control, "control", demo.DefaultControlAddr, "address of the break/heal control endpoint")
	f.IntVar(&backendPort, "backend-port", demo.DefaultBackendPort, "port of the demo backends on 127.0.0.11-13")
	c.AddCommand(newDemoActionCmd("break", "Stop a region's demo backend, so that its probes fail", demo.Break),
		newDemoActionCmd("heal", "Start a region's demo backend again", demo.Heal))
	return c
}

// newDemoActionCmd is "detour demo break|heal REGION", sent to the running
// demo's control endpoint.
func newDemoActionCmd(name, short string, action func(ctx context.Context, controlURL, region string) (string, error)) *cobra.Command {
	var control string
	c := &cobra.Command{
		Use:   name + " REGION",
		Short: short,
		Long: short + ` (REGION: ` + fmt.Sprint(demo.Regions) + `).
It talks to the running demo's control endpoint (--control).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: %s takes one REGION, one of %v", errUsage, cmd.CommandPath(), demo.Regions)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			msg, err := action(ctx, control, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	def := os.Getenv("DETOUR_DEMO_CONTROL")
	if def == "" {
		def = "http://" + demo.DefaultControlAddr
	}
	c.Flags().StringVar(&control, "control", def, "URL of the running demo's control endpoint ($DETOUR_DEMO_CONTROL)")
	return c
}
