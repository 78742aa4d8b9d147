package demo

import (
	"fmt"
	"io"
	"net"
)

// printGuide prints what to try while the demo runs. defaultControl says
// whether the control endpoint is at DefaultControlAddr, so that the
// break/heal commands need no flag.
func printGuide(w io.Writer, info Info, defaultControl bool) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("detour demo: three nodes are running, with the example spec applied.")
	p("")
	p("Nodes (DNS over UDP and TCP, admin API):")
	for _, n := range info.Nodes {
		p("  %-6s %-11s dns %-21s api %s", n.ID, n.Region, n.DNSAddr, n.APIURL)
	}
	p("")
	p("Backends (port %d): us-east-1 127.0.0.11, eu-west-1 127.0.0.12, ap-south-1 127.0.0.13", info.BackendPort)
	p("")
	p("Ask any node (every node gives the same answer):")
	for _, n := range info.Nodes {
		host, port, _ := net.SplitHostPort(n.DNSAddr)
		p("  dig @%s -p %s www.example.test A +short    # failover: us-east-1 first", host, port)
	}
	host, port, _ := net.SplitHostPort(info.Nodes[0].DNSAddr)
	p("  dig @%s -p %s api.example.test A +short    # weighted 70/30", host, port)
	p("  dig @%s -p %s all.example.test A +short    # multivalue: every healthy one", host, port)
	p("")
	flag := ""
	if !defaultControl {
		flag = " --control " + info.ControlURL
	}
	p("Break a region and watch the answers move (within a few seconds):")
	p("  detour demo break us-east-1%s", flag)
	p("  detour demo heal us-east-1%s", flag)
	p("")
	api := info.Nodes[0].APIURL
	p("Look at the cluster:")
	p("  detour health --api %s", api)
	p("  detour events --follow --api %s", api)
	p("  detour status --api %s", api)
	p("  curl -s %s/metrics | grep ^detour_", api)
	p("")
	if info.Route53URL != "" {
		p("Route 53 (a local stand-in at %s, hosted zone %s %s):", info.Route53URL, Route53Zone, info.Route53ZoneID)
		p("the leader publishes www.example.test. as %s; see what it did with", Route53Name)
		p("  detour route53 status --api %s", api)
		p("")
	}
	p("Fail over by hand (a pin: every node answers eu-west-1 until released):")
	p("  detour failover www.example.test. --to eu-west-1 --reason \"demo\" --api %s", api)
	p("  detour overrides --api %s", api)
	p("  detour failover www.example.test. --release --api %s", api)
	p("")
	p("Events follow below. Press Ctrl-C to stop and clean up.")
	p("")
}
