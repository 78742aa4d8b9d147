package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/route53/route53test"
)

// newRoute53Cmd is "detour route53": Route 53 mode's client commands.
func newRoute53Cmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "route53",
		Short: "Inspect Route 53 mode (the leader's publisher)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%w: missing subcommand (see %s --help)", errUsage, cmd.CommandPath())
		},
	}
	c.AddCommand(newRoute53StatusCmd())
	return c
}

func newRoute53StatusCmd() *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the sync state of every name the leader publishes to Route 53",
		Long: `Show the sync state of every name the leader publishes to Route 53: in_sync,
pending (change id, since when), error or refused (with Route 53's messages),
unknown (not reconciled yet). Any node answers: a follower asks the leader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCall(cmd, &f, (*api.Client).Route53, func(w io.Writer, st api.Route53Status) {
				printRoute53(w, st, time.Now())
			})
		},
	}
	f.add(c)
	return c
}

// printRoute53 prints the publisher status as a table, one line per name,
// with Route 53's messages indented below a name in error.
func printRoute53(w io.Writer, st api.Route53Status, now time.Time) {
	if !st.Enabled {
		fmt.Fprintf(w, "Route 53 mode is off on the leader (%s): set route53.enabled in its node config.\n", st.NodeID)
		return
	}
	if len(st.Records) == 0 {
		fmt.Fprintf(w, "the leader (%s) publishes no names: no pool of the spec has a route53 block, or its first pass has not started.\n", st.NodeID)
		return
	}
	fmt.Fprintf(w, "published by the leader, %s\n", st.NodeID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tPOOL\tZONE\tSTATE\tSINCE\tDETAIL")
	for _, r := range st.Records {
		since := "-"
		if !r.Since.IsZero() {
			since = now.Sub(r.Since).Round(time.Second).String() + " ago"
		}
		var detail []string
		if r.ChangeID != "" {
			detail = append(detail, "change "+r.ChangeID)
		}
		switch {
		case r.Changes == 1:
			detail = append(detail, "1 change")
		case r.Changes > 1:
			detail = append(detail, fmt.Sprintf("%d changes", r.Changes))
		}
		if r.FailOpen {
			detail = append(detail, "fail open (every endpoint published)")
		}
		if r.Message != "" {
			detail = append(detail, r.Message)
		}
		zone := r.ZoneID
		if zone == "" {
			zone = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Pool, zone, r.State, since, strings.Join(detail, "; "))
		for _, m := range r.Messages {
			fmt.Fprintf(tw, "\t\t\t\t\t\t  route53: %s\n", m)
		}
	}
	tw.Flush()
}

// newRoute53StandinCmd is "detour route53-standin": the Route 53 stand-in
// as a small server, for the demo and for trying Route 53 mode without
// AWS.
func newRoute53StandinCmd() *cobra.Command {
	var (
		addr        string
		zones       []string
		insyncDelay time.Duration
		verbose     bool
	)
	c := &cobra.Command{
		Use:   "route53-standin",
		Short: "Run a stand-in for the Route 53 API on a local address (no AWS needed)",
		Long: `Run a stand-in for the Amazon Route 53 API: it speaks Route 53's wire protocol
to the AWS SDK, keeps hosted zones and record sets in memory, and answers
GetChange with INSYNC after --insync-delay. Point nodes at it with

  route53:
    enabled: true
    endpoint: http://ADDR

in their node config, and give them any credentials (the stand-in does not
check signatures, but the SDK signs every request):

  export AWS_ACCESS_KEY_ID=standin AWS_SECRET_ACCESS_KEY=standin

It stops on Ctrl-C; everything it holds is lost then.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			s, err := route53test.New(route53test.Options{
				Addr:        addr,
				Zones:       zones,
				InsyncDelay: insyncDelay,
				Logger:      slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
			})
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			if err := s.Start(); err != nil {
				return err
			}
			fmt.Fprintf(out, "Route 53 stand-in listening on %s\n", s.URL())
			for _, z := range s.Zones() {
				fmt.Fprintf(out, "  hosted zone %s  id %s\n", z.Name, z.ID)
			}
			fmt.Fprintf(out, "node config:\n  route53:\n    enabled: true\n    endpoint: %s\n", s.URL())
			<-cmd.Context().Done()
			if err := s.Close(); err != nil {
				return fmt.Errorf("stop the stand-in: %w", err)
			}
			fmt.Fprintln(out, "stand-in stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8060", "listen address (port 0 picks a free one)")
	f.StringArrayVar(&zones, "zone", []string{"example.com."}, "hosted zone to create at start (repeatable)")
	f.DurationVar(&insyncDelay, "insync-delay", 2*time.Second, "how long a change stays PENDING")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every request")
	return c
}
