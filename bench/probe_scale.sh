#!/bin/sh
# Probe scale benchmark: 10,000 endpoints probed every second from one
# process against local listeners (127.0.0.2 and up, in a child process).
# Prints the prober's CPU (cores), peak RSS, probes/s, skipped runs and
# overlapping probes. Extra flags go to the program (see -h), e.g.
#   bench/probe_scale.sh -type tcp -duration 60s
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/probescale
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./bench/probescale
"$bin" -endpoints 10000 -interval 1s -duration 30s "$@"
