package main

import (
	"github.com/spf13/cobra"

	"github.com/detour-dns/detour/config"
	"github.com/detour-dns/detour/internal/daemon"
)

func newServerCmd() *cobra.Command {
	var (
		path string
		s    struct {
			nodeID, region, dataDir, dnsAddr, apiAddr, apiAdvertise, raftAddr, raftAdvertise string
			logLevel, logFormat                                                              string
			bootstrap, insecureNoAuth                                                        bool
			join                                                                             []string
		}
	)
	c := &cobra.Command{
		Use:   "server",
		Short: "Run a detour node",
		Long: `Run a detour node: Raft member, authoritative DNS server and admin API.

Settings come from --config (YAML, see docs/config.md), overridden by flags.
The first node of a new cluster starts with --bootstrap; the others with
--join URL of any member's API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var flags config.File
			fl := cmd.Flags()
			str := func(name string, v string) *string {
				if fl.Changed(name) {
					return &v
				}
				return nil
			}
			flags.NodeID = str("node-id", s.nodeID)
			flags.Region = str("region", s.region)
			flags.DataDir = str("data-dir", s.dataDir)
			flags.DNSAddr = str("dns-addr", s.dnsAddr)
			flags.APIAddr = str("api-addr", s.apiAddr)
			flags.APIAdvertise = str("api-advertise", s.apiAdvertise)
			flags.RaftAddr = str("raft-addr", s.raftAddr)
			flags.RaftAdvertise = str("raft-advertise", s.raftAdvertise)
			if fl.Changed("bootstrap") {
				flags.Bootstrap = &s.bootstrap
			}
			if fl.Changed("join") {
				flags.Join = s.join
			}
			if fl.Changed("insecure-no-auth") {
				flags.Auth = &config.AuthFile{InsecureNoAuth: &s.insecureNoAuth}
			}
			if fl.Changed("log-level") || fl.Changed("log-format") {
				flags.Log = &config.LogFile{Level: str("log-level", s.logLevel), Format: str("log-format", s.logFormat)}
			}
			rt, err := config.Load(path, flags)
			if err != nil {
				return err
			}
			log := daemon.NewLogger(cmd.ErrOrStderr(), rt)
			return daemon.Run(cmd.Context(), rt, daemon.Options{Logger: log, Version: buildVersion()})
		},
	}
	f := c.Flags()
	f.StringVar(&path, "config", "", "node config file (YAML)")
	f.StringVar(&s.nodeID, "node-id", "", "this node's ID (required)")
	f.StringVar(&s.region, "region", "", "the region this node runs in")
	f.StringVar(&s.dataDir, "data-dir", "", "directory for the Raft log and snapshots (required)")
	f.StringVar(&s.dnsAddr, "dns-addr", config.DefaultDNSAddr, "DNS listen address (UDP and TCP)")
	f.StringVar(&s.apiAddr, "api-addr", config.DefaultAPIAddr, "admin API listen address")
	f.StringVar(&s.apiAdvertise, "api-advertise", "", "API base URL other nodes use (default http://<api-addr>)")
	f.StringVar(&s.raftAddr, "raft-addr", config.DefaultRaftAddr, "Raft listen address")
	f.StringVar(&s.raftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default: the bound address)")
	f.BoolVar(&s.bootstrap, "bootstrap", false, "form a new cluster if the data dir is empty")
	f.StringArrayVar(&s.join, "join", nil, "API URL of a member to join through (repeatable)")
	f.BoolVar(&s.insecureNoAuth, "insecure-no-auth", false, "let the API listen beyond loopback without auth.tokens")
	f.StringVar(&s.logLevel, "log-level", config.DefaultLogLevel, "debug, info, warn or error")
	f.StringVar(&s.logFormat, "log-format", config.DefaultLogFormat, "text or json")
	return c
}
