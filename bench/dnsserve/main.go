// Command dnsserve serves a spec file with detour's DNS server and a
// static state (every endpoint healthy), for bench/dns.sh. It adds -extra
// A records (r0 ... rN-1 in the first zone) and allows zone transfers from
// 127.0.0.0/8 so the benchmark can hand NSD the same zone.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/detour-dns/detour/dnsserver"
	"github.com/detour-dns/detour/policy"
)

// staticSource serves one State forever.
type staticSource struct{ st *policy.State }

func (s staticSource) Watch() (*policy.State, <-chan struct{}) { return s.st, nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dnsserve:", err)
		os.Exit(1)
	}
}

func run() error {
	specFile := flag.String("spec", "policy/testdata/example.yaml", "spec file (YAML)")
	addr := flag.String("addr", "127.0.0.1:5391", "UDP and TCP address")
	extra := flag.Int("extra", 10000, "extra A records added to the first zone")
	nodeID := flag.String("node-id", "bench", "node ID answered in NSID")
	workers := flag.Int("udp-workers", 0, "UDP reader goroutines (0: GOMAXPROCS)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	data, err := os.ReadFile(*specFile)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	spec, err := policy.LoadSpec(data)
	if err != nil {
		return fmt.Errorf("load spec %s: %w", *specFile, err)
	}
	if len(spec.Zones) == 0 {
		return fmt.Errorf("spec %s has no zones", *specFile)
	}
	z := &spec.Zones[0]
	for i := range *extra {
		z.Records = append(z.Records, policy.Record{
			Name:   "r" + strconv.Itoa(i) + "." + z.Name,
			Type:   "A",
			Values: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)},
		})
	}
	for i := range spec.Zones {
		if spec.Zones[i].Transfer == nil {
			spec.Zones[i].Transfer = &policy.Transfer{Allow: []string{"127.0.0.0/8"}}
		}
	}
	st := &policy.State{Index: 1, Spec: spec, SpecVersion: 1, SpecIndex: 1}
	policy.UpdateSerials(nil, st, 1)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := dnsserver.New(dnsserver.Config{Addr: *addr, NodeID: *nodeID, Logger: log, UDPWorkers: *workers}, staticSource{st})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "dnsserve: serving %s (udp %s, tcp %s)\n", *specFile, srv.UDPAddr(), srv.TCPAddr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
