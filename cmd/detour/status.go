package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
)

func newStatusCmd() *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the status of the node that --api names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCall(cmd, &f, (*api.Client).Status, printStatus)
		},
	}
	f.add(c)
	return c
}

func printStatus(w io.Writer, st api.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	leader := "(none known)"
	if st.LeaderID != "" {
		leader = st.LeaderID
		if st.LeaderAPIAddr != "" {
			leader += " (" + st.LeaderAPIAddr + ")"
		}
	}
	rows := [][2]string{
		{"node", st.NodeID},
		{"region", st.Region},
		{"role", st.Role},
		{"leader", leader},
		{"term", fmt.Sprint(st.Term)},
		{"applied index", fmt.Sprint(st.AppliedIndex)},
		{"commit index", fmt.Sprint(st.CommitIndex)},
		{"spec version", fmt.Sprint(st.SpecVersion)},
		{"cluster id", st.ClusterID},
		{"version", st.Version},
		{"degraded", degradedText(st)},
		{"pools", fmt.Sprintf("%d (%d answering by when_all_down)", st.Pools, st.PoolsAllDown)},
		{"endpoints", fmt.Sprintf("%d (%d down)", st.Endpoints, st.EndpointsDown)},
		{"overrides", overridesText(st)},
	}
	if !st.LastContact.IsZero() && st.Role != "leader" {
		rows = append(rows, [2]string{"last contact", time.Since(st.LastContact).Round(time.Millisecond).String() + " ago"})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

// overridesText counts the overrides and the pools held by a gated
// failback.
func overridesText(st api.Status) string {
	s := fmt.Sprint(st.Overrides)
	if st.Overrides > 0 {
		s += " (detour overrides lists them)"
	}
	if st.PoolsHeld > 0 {
		s += fmt.Sprintf("; %d pool(s) held on a worse tier until failback", st.PoolsHeld)
	}
	return s
}

// degradedText says whether this node is degraded, and which nodes are.
func degradedText(st api.Status) string {
	s := "no"
	if st.Degraded {
		s = "yes (every probe canary fails: this node's views do not count)"
	}
	if len(st.DegradedNodes) > 0 {
		s += fmt.Sprintf("; degraded nodes: %s", strings.Join(st.DegradedNodes, ", "))
	}
	return s
}

func errUsageOutput(o, want string) error {
	return fmt.Errorf("%w: -o %q: want %s", errUsage, o, want)
}
