package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
)

func newMembersCmd() *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCall(cmd, &f, (*api.Client).Members, printMembers)
		},
	}
	f.add(c)

	var rcf clientFlags
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := rcf.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			if err := client.RemoveMember(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	rcf.add(remove)
	c.AddCommand(remove)
	return c
}

func printMembers(w io.Writer, ms []api.Member) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREGION\tROLE\tRAFT\tAPI")
	for _, m := range ms {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case !m.Voter:
			role = "nonvoter"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, dash(m.Region), role, m.RaftAddr, dash(m.APIAddr))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
