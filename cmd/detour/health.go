package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

func newHealthCmd() *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   "health [POOL]",
		Short: "Show the health of every pool's endpoints (or of one pool)",
		Long: `Show, per endpoint, the effective health that DNS answers follow, each
node's committed view (up or down, and since when), and the latest result of
the probes of the node that --api names. "*" marks the endpoints the pool
answers with now.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return runCall(cmd, &f, func(client *api.Client, ctx context.Context) (api.PoolStatus, error) {
					return client.Pool(ctx, args[0])
				}, func(w io.Writer, p api.PoolStatus) {
					printHealth(w, []api.PoolStatus{p}, p.Node, time.Now())
				})
			}
			return runCall(cmd, &f, (*api.Client).Pools, func(w io.Writer, l api.PoolList) {
				printHealth(w, l.Pools, l.Node, time.Now())
			})
		},
	}
	f.add(c)
	return c
}

// printHealth writes one row per endpoint.
func printHealth(w io.Writer, pools []api.PoolStatus, node string, now time.Time) {
	if len(pools) == 0 {
		fmt.Fprintln(w, "no pools (no spec applied yet?)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	last := "LAST RESULT"
	if node != "" {
		last += " (" + node + ")"
	}
	fmt.Fprintf(tw, "POOL\tENDPOINT\tEFFECTIVE\tVIEWS\t%s\n", last)
	for _, p := range pools {
		for _, ep := range p.Endpoints {
			eff := "down"
			if ep.Healthy {
				eff = "up"
			}
			if slices.Contains(p.Answer.Endpoints, ep.Name) {
				eff += " *"
			}
			if p.Answer.AllDown {
				eff += " (all down)"
			}
			if ep.Forced != "" {
				eff += " (forced " + ep.Forced + ")"
			}
			if ep.Drained {
				eff += " (drained)"
			}
			if ep.Pinned {
				eff += " (pinned)"
			}
			if p.Answer.Held && slices.Contains(p.Answer.Endpoints, ep.Name) {
				eff += " (failback held)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, ep.Name, eff, viewsText(ep.Views, now), lastResult(ep.Local))
		}
	}
	tw.Flush()
	var ovs []policy.Override
	var warns []string
	for _, p := range pools {
		ovs = append(ovs, p.Overrides...)
		warns = append(warns, p.Answer.Warnings...)
	}
	if len(ovs) > 0 {
		fmt.Fprintln(w)
		printOverrides(w, ovs, now)
	}
	for _, warn := range warns {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// viewsText formats every node's view: "node1=up(2m) node2=down(4s)".
func viewsText(vs []policy.NodeViewOf, now time.Time) string {
	if len(vs) == 0 {
		return "(no views yet)"
	}
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		s := v.Node + "=down"
		if v.Healthy {
			s = v.Node + "=up"
		}
		var notes []string
		if !v.Since.IsZero() {
			notes = append(notes, ago(now.Sub(v.Since)))
		}
		if v.Degraded {
			notes = append(notes, "degraded")
		} else if !v.Counts {
			notes = append(notes, "not counted")
		}
		if len(notes) > 0 {
			s += "(" + strings.Join(notes, ",") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// lastResult formats the latest local result: class, status or rcode,
// latency.
func lastResult(rs []policy.ProbeResult) string {
	if len(rs) == 0 {
		return "-"
	}
	r := rs[len(rs)-1]
	parts := []string{r.Class}
	if r.Class == "" {
		parts[0] = "ok"
		if !r.OK {
			parts[0] = "failed"
		}
	}
	if r.Status != 0 {
		parts = append(parts, fmt.Sprint(r.Status))
	}
	if r.Rcode != "" {
		parts = append(parts, r.Rcode)
	}
	parts = append(parts, r.Duration.D().Round(100*time.Microsecond).String())
	if !r.OK && r.Error != "" {
		e := r.Error
		if len(e) > 60 {
			e = e[:57] + "..."
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, " ")
}

// ago formats a duration as a short age: 3s, 5m, 2h, 4d.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func newEventsCmd() *cobra.Command {
	var (
		f      callFlags
		after  uint64
		limit  int
		follow bool
	)
	c := &cobra.Command{
		Use:   "events",
		Short: "List health changes and other cluster events, oldest first",
		Long: `List the events recorded in the replicated state (health changes with the
probe evidence behind them, degraded nodes, specs applied, members), oldest
first. --after N lists those after index N: pass the last index shown to
see only what is new. --follow streams new events until interrupted,
reconnecting (and resuming after the last event shown) when the node
restarts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// -o before --limit: runCall checks it again, too late for
			// that order and for --follow.
			if err := checkOutput(f.output); err != nil {
				return err
			}
			if limit < 1 || limit > api.MaxEventLimit {
				return fmt.Errorf("%w: --limit %d: want 1 to %d", errUsage, limit, api.MaxEventLimit)
			}
			if follow {
				client, ctx, cancel, err := f.streamClient(cmd.Context())
				if err != nil {
					return err
				}
				defer cancel()
				return followEvents(ctx, client, cmd.OutOrStdout(), cmd.ErrOrStderr(), after, f.output == "json")
			}
			return runCall(cmd, &f, func(client *api.Client, ctx context.Context) (api.EventList, error) {
				return client.Events(ctx, after, limit)
			}, printEvents)
		},
	}
	f.add(c)
	c.Flags().Uint64Var(&after, "after", 0, "list the events after this index")
	c.Flags().IntVar(&limit, "limit", api.DefaultEventLimit, "list at most this many events")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they happen (one per line; -o json: one JSON object per line)")
	return c
}

// printEvents writes one row per event, then the evidence of endpoint
// events indented below it.
func printEvents(w io.Writer, l api.EventList) {
	if l.Dropped {
		fmt.Fprintln(w, "(older events were dropped: only the last ones are kept)")
	}
	if len(l.Events) == 0 {
		fmt.Fprintf(w, "no events after index %d\n", l.Last)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tTIME\tKIND\tSUBJECT\tREASON")
	for _, e := range l.Events {
		subject := e.Pool
		if e.Endpoint != "" {
			subject += "/" + e.Endpoint
		}
		if e.Node != "" {
			if subject != "" {
				subject += " "
			}
			subject += "node " + e.Node
		}
		if subject == "" {
			subject = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Index, e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Kind, subject, e.Reason)
		if e.Details != nil {
			for _, node := range slices.Sorted(maps.Keys(e.Details.Views)) {
				v := e.Details.Views[node]
				state := "down"
				if v.Healthy {
					state = "up"
				}
				fmt.Fprintf(tw, "\t\t\t  %s: %s\t%s\n", node, state, lastResult(v.Evidence))
			}
		}
	}
	tw.Flush()
}
