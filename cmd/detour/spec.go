package main

import (
	"github.com/spf13/cobra"
)

func newSpecCmd() *cobra.Command {
	var (
		cf     clientFlags
		output string
	)
	c := &cobra.Command{
		Use:   "spec",
		Short: "Print the spec in force (YAML, or JSON with -o json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return errUsageOutput(output, "yaml or json")
			}
			client, ctx, cancel, err := cf.client(cmd.Context())
			if err != nil {
				return err
			}
			defer cancel()
			if output == "json" {
				doc, err := client.Spec(ctx)
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), doc)
			}
			b, _, err := client.SpecYAML(ctx)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cf.add(c)
	c.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return c
}
