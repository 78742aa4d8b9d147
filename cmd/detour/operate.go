package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/policy"
)

// overrideCmd builds a command that sends one override call and prints
// its result: a sentence by default, the JSON result with -o json.
func overrideCmd(use, short, long string, args cobra.PositionalArgs, add func(*cobra.Command),
	call func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error)) *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			var done string
			return runCall(cmd, &f, func(client *api.Client, ctx context.Context) (policy.OverrideResult, error) {
				var res policy.OverrideResult
				var err error
				done, res, err = call(ctx, client, args)
				return res, err
			}, func(w io.Writer, res policy.OverrideResult) {
				printResult(w, done, res)
			})
		},
	}
	f.add(c)
	if add != nil {
		add(c)
	}
	return c
}

// printResult prints what was done, the override in force and warnings.
func printResult(w io.Writer, done string, res policy.OverrideResult) {
	fmt.Fprintf(w, "%s (raft index %d)\n", done, res.Index)
	if o := res.Override; o != nil {
		fmt.Fprintf(w, "  %s\n", overrideText(*o, time.Now()))
	}
	if o := res.Replaced; o != nil {
		fmt.Fprintf(w, "  replaced: %s\n", overrideText(*o, time.Now()))
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// overrideText formats an override on one line.
func overrideText(o policy.Override, now time.Time) string {
	what := o.Kind + " " + o.Endpoint
	if o.Kind == policy.OverrideForce {
		what += " " + o.State
	}
	s := fmt.Sprintf("%s %s by %s", o.Pool, what, o.Actor)
	if o.Reason != "" {
		s += fmt.Sprintf(" (%q)", o.Reason)
	}
	if o.Expires != nil {
		s += ", expires in " + o.Expires.Sub(now).Round(time.Second).String()
	}
	if o.Forced {
		s += ", forced past a safety refusal"
	}
	return s
}

func newFailoverCmd() *cobra.Command {
	var (
		to, reason              string
		expires                 time.Duration
		requireHealthy, release bool
	)
	return overrideCmd("failover POOL (--to ENDPOINT | --release)",
		"Pin a pool to one endpoint on every node (manual failover), or release the pin",
		`Pin POOL to ENDPOINT: every node answers the pool with that endpoint, even
when probes call it unhealthy (the answer warns), until the pin is released
(--release) or expires (--for). --require-healthy refuses instead of pinning
an unhealthy endpoint. Needs a token with the operate role.`,
		cobra.ExactArgs(1),
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&to, "to", "", "the endpoint to fail over to")
			f.StringVar(&reason, "reason", "", "why (recorded with the override and in events)")
			f.DurationVar(&expires, "for", 0, "release the pin after this long (default: never)")
			f.BoolVar(&requireHealthy, "require-healthy", false, "refuse when the endpoint is not healthy")
			f.BoolVar(&release, "release", false, "release the pool's pin")
		},
		func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error) {
			pool := args[0]
			if release {
				if to != "" || expires != 0 || requireHealthy {
					return "", policy.OverrideResult{}, fmt.Errorf("%w: --release takes no --to, --for or --require-healthy", errUsage)
				}
				res, err := c.ReleaseFailover(ctx, pool, reason)
				return "released the pin of " + pool, res, err
			}
			if to == "" {
				return "", policy.OverrideResult{}, fmt.Errorf("%w: failover needs --to ENDPOINT (or --release)", errUsage)
			}
			if expires < 0 {
				return "", policy.OverrideResult{}, fmt.Errorf("%w: --for must not be negative", errUsage)
			}
			res, err := c.Failover(ctx, pool, api.FailoverBody{To: to, Reason: reason, ExpiresIn: durText(expires), RequireHealthy: requireHealthy})
			return fmt.Sprintf("pinned %s to %s", pool, to), res, err
		})
}

// durText formats a flag duration for the API ("" for 0).
func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func newFailbackCmd() *cobra.Command {
	var reason string
	return overrideCmd("failback POOL",
		"Return a held failover pool to its best healthy tier now",
		`After a health-driven failover, a pool with a gated failback (failback: manual
or a hold time) stays on the worse tier. This returns it to the best healthy
tier now. Needs a token with the operate role.`,
		cobra.ExactArgs(1),
		func(c *cobra.Command) {
			c.Flags().StringVar(&reason, "reason", "", "why (recorded in events)")
		},
		func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error) {
			res, err := c.Failback(ctx, args[0], reason)
			return "failed " + args[0] + " back", res, err
		})
}

func newDrainCmd() *cobra.Command {
	var (
		reason  string
		expires time.Duration
		force   bool
	)
	return overrideCmd("drain POOL ENDPOINT",
		"Take an endpoint out of a pool's rotation",
		`Take ENDPOINT out of POOL's answers on every node. A drain that would leave
the pool with no healthy endpoint in its answer is refused with the reason,
unless --force (recorded). Needs a token with the operate role.`,
		cobra.ExactArgs(2),
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&reason, "reason", "", "why (recorded with the override and in events)")
			f.DurationVar(&expires, "for", 0, "undrain after this long (default: never)")
			f.BoolVar(&force, "force", false, "drain even if the pool is left without a healthy answer")
		},
		func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error) {
			if expires < 0 {
				return "", policy.OverrideResult{}, fmt.Errorf("%w: --for must not be negative", errUsage)
			}
			res, err := c.Drain(ctx, args[0], args[1], api.DrainBody{Reason: reason, ExpiresIn: durText(expires), Force: force})
			return fmt.Sprintf("drained %s of %s", args[1], args[0]), res, err
		})
}

func newUndrainCmd() *cobra.Command {
	var reason string
	return overrideCmd("undrain POOL ENDPOINT",
		"Put a drained endpoint back into rotation",
		"Clear the drain of ENDPOINT in POOL. Needs a token with the operate role.",
		cobra.ExactArgs(2),
		func(c *cobra.Command) {
			c.Flags().StringVar(&reason, "reason", "", "why (recorded in events)")
		},
		func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error) {
			res, err := c.Undrain(ctx, args[0], args[1], reason)
			return fmt.Sprintf("undrained %s of %s", args[1], args[0]), res, err
		})
}

func newForceCmd() *cobra.Command {
	var (
		reason       string
		expires      time.Duration
		force, clear bool
	)
	return overrideCmd("force POOL ENDPOINT (up|down | --clear)",
		"Force an endpoint's health up or down, or clear the force",
		`Replace the effective health of ENDPOINT in POOL with up or down on every
node, whatever the probes say, until cleared (--clear) or expired (--for). A
force down that would leave the pool with no healthy endpoint in its answer is
refused unless --force. Needs a token with the operate role.`,
		cobra.RangeArgs(2, 3),
		func(c *cobra.Command) {
			f := c.Flags()
			f.StringVar(&reason, "reason", "", "why (recorded with the override and in events)")
			f.DurationVar(&expires, "for", 0, "clear after this long (default: never)")
			f.BoolVar(&force, "force", false, "force down even if the pool is left without a healthy answer")
			f.BoolVar(&clear, "clear", false, "clear the endpoint's force")
		},
		func(ctx context.Context, c *api.Client, args []string) (string, policy.OverrideResult, error) {
			if clear {
				if len(args) != 2 {
					return "", policy.OverrideResult{}, fmt.Errorf("%w: force --clear takes POOL ENDPOINT only", errUsage)
				}
				res, err := c.ClearForce(ctx, args[0], args[1], reason)
				return fmt.Sprintf("cleared the force of %s of %s", args[1], args[0]), res, err
			}
			if len(args) != 3 || (args[2] != policy.ForceUp && args[2] != policy.ForceDown) {
				return "", policy.OverrideResult{}, fmt.Errorf("%w: force needs POOL ENDPOINT up|down (or --clear)", errUsage)
			}
			if expires < 0 {
				return "", policy.OverrideResult{}, fmt.Errorf("%w: --for must not be negative", errUsage)
			}
			res, err := c.Force(ctx, args[0], args[1], api.ForceBody{State: args[2], Reason: reason, ExpiresIn: durText(expires), Force: force})
			return fmt.Sprintf("forced %s of %s %s", args[1], args[0], args[2]), res, err
		})
}

func newOverridesCmd() *cobra.Command {
	var f callFlags
	c := &cobra.Command{
		Use:   "overrides",
		Short: "List the operator overrides in force (pins, drains, forces)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCall(cmd, &f, (*api.Client).Overrides, func(w io.Writer, l api.OverrideList) {
				printOverrides(w, l.Overrides, time.Now())
			})
		},
	}
	f.add(c)
	return c
}

// printOverrides writes one row per override.
func printOverrides(w io.Writer, os []policy.Override, now time.Time) {
	if len(os) == 0 {
		fmt.Fprintln(w, "no overrides")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tKIND\tENDPOINT\tACTOR\tSET\tEXPIRES\tREASON")
	for _, o := range os {
		kind := o.Kind
		if o.State != "" {
			kind += " " + o.State
		}
		if o.Forced {
			kind += " (forced)"
		}
		exp := "never"
		if o.Expires != nil {
			exp = "in " + o.Expires.Sub(now).Round(time.Second).String()
		}
		reason := o.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\t%s\n", o.Pool, kind, o.Endpoint, o.Actor, ago(now.Sub(o.Created)), exp, reason)
	}
	tw.Flush()
}

// followEvents prints events from the stream as they come until ctx
// ends. When the stream breaks (the node restarts or shuts down) it
// reconnects with backoff and resumes after the last event printed.
func followEvents(ctx context.Context, c *api.Client, w, errw io.Writer, after uint64, asJSON bool) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.StreamEvents(ctx, after, func(e policy.Event) error {
			after = e.Index
			backoff = 100 * time.Millisecond
			if asJSON {
				return json.NewEncoder(w).Encode(e)
			}
			_, err := fmt.Fprintln(w, eventLine(e))
			return err
		}, func(from, next uint64) {
			if !asJSON {
				fmt.Fprintf(w, "(events %d to %d were dropped: only the last ones are kept)\n", from+1, next-1)
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		var ae *api.Error
		if errors.As(err, &ae) {
			return err // refused (a bad token, a bad index): retrying will not help
		}
		fmt.Fprintf(errw, "detour: event stream interrupted (%v); reconnecting after index %d\n", err, after)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// eventLine formats one event on one line.
func eventLine(e policy.Event) string {
	subject := e.Pool
	if e.Endpoint != "" {
		subject += "/" + e.Endpoint
	}
	if subject == "" {
		subject = "-"
	}
	actor := ""
	if e.Actor != "" {
		actor = " by " + e.Actor
	}
	return fmt.Sprintf("%d  %s  %s  %s%s: %s", e.Index, e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Kind, subject, actor, e.Reason)
}
